package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// TestEndToEnd starts five agents as processes on loopback and drives
// them with the CLI and a gRPC client.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	metricsAddr := ml.Addr().String()
	require.NoError(t, ml.Close())
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	healthAddr := hl.Addr().String()
	require.NoError(t, hl.Close())
	ps := []*proc{startAgent(t, dir, "a0", "-metadata", "first", "-metrics-addr", metricsAddr, "-health-addr", healthAddr)}
	// One agent configured by a YAML file, one by a JSON file, one by the
	// environment: the same names everywhere.
	yamlCfg := filepath.Join(dir, "a1.yaml")
	require.NoError(t, os.WriteFile(yamlCfg, []byte("seeds:\n  - "+ps[0].addr()+"\nmetadata: from-yaml\n"), 0o600))
	jsonCfg := filepath.Join(dir, "a2.json")
	require.NoError(t, os.WriteFile(jsonCfg, []byte(`{"seeds": "`+ps[0].addr()+`", "metadata": "from-json"}`), 0o600))
	ps = append(ps, startAgent(t, dir, "a1", "-config", yamlCfg))
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	grpcAddr := gl.Addr().String()
	require.NoError(t, gl.Close())
	ps = append(ps, startAgent(t, dir, "a2", "-config", jsonCfg, "-grpc-addr", grpcAddr))
	seedsEnv := []string{"GOSSIPD_SEEDS=" + ps[0].addr()}
	ps = append(ps, startAgentEnv(t, dir, "a3", freePort(t), seedsEnv), startAgentEnv(t, dir, "a4", freePort(t), seedsEnv))

	waitFor(t, 20*time.Second, "5 alive members everywhere", func() bool { return allListAlive(t, ps, 5) })
	hc := healthpb.NewHealthClient(ps[0].conn(t))
	hr, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "plumview.gossipd.v1.GossipService"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.GetStatus())
	// The probes' port serves the health service alone, over TCP.
	probe, err := grpc.NewClient(healthAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer probe.Close()
	hr, err = healthpb.NewHealthClient(probe).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.GetStatus())
	_, err = gossipdv1.NewGossipServiceClient(probe).Status(context.Background(), &gossipdv1.StatusRequest{})
	require.Equal(t, codes.Unimplemented, status.Code(err), "the probes' port must not serve the API")
	for path, want := range map[string]string{"/metrics": "plumview_messages_delivered_total", "/debug/": "Active view", "/healthz": "ok"} {
		resp, err := http.Get("http://" + metricsAddr + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.Contains(t, string(body), want, path)
	}
	out, _, err := cli(t, "members", "-socket", ps[0].socket)
	require.NoError(t, err)
	require.Contains(t, out, "from-yaml")
	require.Contains(t, out, "from-json")

	// A gRPC subscriber on a4 and a CLI subscriber on a3.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c4 := ps[4].client(t)
	sctx, scancel := context.WithCancel(ctx)
	stream, err := c4.Subscribe(sctx, &gossipdv1.SubscribeRequest{Topics: []string{"news"}})
	require.NoError(t, err)
	sub := exec.CommandContext(ctx, binary(t), "subscribe", "-socket", ps[3].socket, "-topics", "news", "-count", "3")
	var subOut strings.Builder
	sub.Stdout = &subOut
	require.NoError(t, sub.Start())
	time.Sleep(300 * time.Millisecond) // both subscriptions registered
	for i := range 3 {
		out, stderr, err := cli(t, "broadcast", "-socket", ps[1].socket, "-topic", "news", fmt.Sprintf("msg-%d", i))
		require.NoError(t, err, stderr)
		require.NotEmpty(t, strings.TrimSpace(out))
	}
	// Broadcasts carry no order between them, even from one origin: a
	// later one may take a shorter path while the tree is young.
	var last uint64
	got := map[string]bool{}
	for range 3 {
		ev, err := stream.Recv()
		require.NoError(t, err)
		got[string(ev.GetMessage().GetPayload())] = true
		last = max(last, ev.GetMessage().GetSequence())
	}
	require.Equal(t, map[string]bool{"msg-0": true, "msg-1": true, "msg-2": true}, got)
	require.NoError(t, sub.Wait())
	require.Contains(t, subOut.String(), `"msg-2"`)
	scancel()

	// While the gRPC subscriber is away, two more; resume_from replays them.
	for i := 3; i < 5; i++ {
		_, err := ps[2].client(t).Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "news", Payload: fmt.Appendf(nil, "msg-%d", i)})
		require.NoError(t, err)
	}
	waitFor(t, 10*time.Second, "a4 delivered the two", func() bool {
		st, err := c4.Status(ctx, &gossipdv1.StatusRequest{})
		return err == nil && st.GetLastSequence() >= last+2
	})
	stream, err = c4.Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{"news"}, ResumeFrom: last})
	require.NoError(t, err)
	// Broadcasts carry no order between them: the two may have arrived
	// either way round.
	replayed := map[string]bool{}
	for i := 3; i < 5; i++ {
		ev, err := stream.Recv()
		require.NoError(t, err)
		require.Nil(t, ev.GetLagged(), "nothing retained is missed")
		replayed[string(ev.GetMessage().GetPayload())] = true
	}
	require.Equal(t, map[string]bool{"msg-3": true, "msg-4": true}, replayed)

	// Over the payload limit: a clear error and a non-zero exit.
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 600<<10), 0o600))
	_, stderr, err := cli(t, "broadcast", "-socket", ps[0].socket, "-topic", "news", "-file", big)
	require.Error(t, err)
	require.Contains(t, stderr, "exceeds the agent's limit of 512 KiB")

	// A second agent on a live agent's socket is refused.
	_, stderr, err = cli(t, "agent", "-bind", "127.0.0.1:0", "-key-file", filepath.Join(dir, "x.key"), "-grpc-socket", ps[0].socket)
	require.Error(t, err)
	require.Contains(t, stderr, "in use by a running agent")

	// SIGKILL a3: reported failed. SIGTERM a4: reported left, exit 0.
	require.Error(t, ps[3].stop(t, syscall.SIGKILL))
	require.NoError(t, ps[4].stop(t, syscall.SIGTERM))
	waitFor(t, 30*time.Second, "a3 failed and a4 left, seen by a0", func() bool {
		m := ps[0].members(t)
		return m[ps[3].addr()] == "failed" && m[ps[4].addr()] == "left"
	})
	_, err = os.Stat(ps[4].socket)
	require.True(t, os.IsNotExist(err), "a stopped agent removes its socket")

	// The leave command, over the loopback TCP listener: a2 leaves, is
	// reported left, and its process ends by itself.
	_, stderr, err = cli(t, "leave", "-addr", grpcAddr)
	require.NoError(t, err, stderr)
	select {
	case err := <-ps[2].done:
		ps[2].done <- err
		require.NoError(t, err, "an agent that left on request exits 0")
	case <-time.After(15 * time.Second):
		t.Fatal("a2 did not exit after leave")
	}
	waitFor(t, 30*time.Second, "a2 left, seen by a0", func() bool { return ps[0].members(t)[ps[2].addr()] == "left" })

	// The CLI says clearly when no agent answers.
	_, stderr, err = cli(t, "status", "-socket", ps[4].socket)
	require.Error(t, err)
	require.Contains(t, stderr, "no agent running at "+ps[4].socket)
}
