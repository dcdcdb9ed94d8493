package server

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// agent is one node with its API served in process over bufconn.
type agent struct {
	node   *membership.Node
	srv    *Server
	client gossipdv1.GossipServiceClient
	health healthpb.HealthClient
}

// newAgent starts node name on mn with an API server; cfg tunes the
// server (its Node and Transport are filled in).
func newAgent(t *testing.T, mn *transport.MemNetwork, name string, cfg Config) *agent {
	t.Helper()
	return newAgentWith(t, mn, name, cfg, nil)
}

// newAgentWith is newAgent with the node's configuration adjusted by
// configure, when set.
func newAgentWith(t *testing.T, mn *transport.MemNetwork, name string, cfg Config, configure func(*membership.Config)) *agent {
	t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := mn.Listen(name, id, transport.MemConfig{})
	require.NoError(t, err)
	mc := membership.Config{Transport: tr, RejoinInterval: time.Second}
	mc.Roster.SuspicionTimeout = time.Second
	if configure != nil {
		configure(&mc)
	}
	node, err := membership.New(mc)
	require.NoError(t, err)
	cfg.Node, cfg.Transport, cfg.BindAddr = node, tr, name
	srv, err := New(cfg)
	require.NoError(t, err)
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+name,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Shutdown()
		g.Stop()
		_ = node.Close()
	})
	return &agent{node: node, srv: srv, client: gossipdv1.NewGossipServiceClient(conn), health: healthpb.NewHealthClient(conn)}
}

// cluster starts n agents and joins them through the first one.
func cluster(t *testing.T, n int, cfg Config) []*agent {
	t.Helper()
	mn := transport.NewMemNetwork(1)
	var out []*agent
	for i := range n {
		out = append(out, newAgent(t, mn, fmt.Sprintf("node%d", i), cfg))
	}
	ctx := ctxT(t)
	_, err := out[0].client.Join(ctx, &gossipdv1.JoinRequest{})
	require.NoError(t, err)
	for _, a := range out[1:] {
		_, err := a.client.Join(ctx, &gossipdv1.JoinRequest{Seeds: []string{out[0].node.Addr()}})
		require.NoError(t, err)
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// alive returns how many members a reports alive.
func alive(t *testing.T, a *agent) int {
	resp, err := a.client.Members(ctxT(t), &gossipdv1.MembersRequest{States: []gossipdv1.MemberState{gossipdv1.MemberState_MEMBER_STATE_ALIVE}})
	require.NoError(t, err)
	return len(resp.GetMembers())
}

// msg returns a message on topic, for the hub alone.
func msg(topic string) membership.Message {
	return membership.Message{Topic: topic, Payload: []byte("x")}
}
