package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// gapStub is an agent whose Subscribe stream sends a gap notice, then a
// message.
type gapStub struct {
	gossipdv1.UnimplementedGossipServiceServer
}

func (gapStub) Subscribe(_ *gossipdv1.SubscribeRequest, s grpc.ServerStreamingServer[gossipdv1.SubscribeResponse]) error {
	if err := s.Send(&gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Gap{Gap: &gossipdv1.GapNotice{
		Sequence: 4, Origin: "00000000000000ab", First: 0x10, Last: 0x12, Count: 3,
	}}}); err != nil {
		return err
	}
	return s.Send(&gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Message{Message: &gossipdv1.Message{
		Sequence: 5, MessageId: "ab-13", Origin: "00000000000000ab", Topic: "t", Payload: []byte("x"),
	}}})
}

// `gossipd subscribe` prints a gap notice on a line of its own, which
// -count does not count as a message.
func TestSubscribePrintsGapNotice(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	lis, err := listenUnix(path)
	require.NoError(t, err)
	g := grpc.NewServer()
	gossipdv1.RegisterGossipServiceServer(g, gapStub{})
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	var out, errOut bytes.Buffer
	require.NoError(t, runSubscribe([]string{"-socket", path, "-count", "1"}, &out, &errOut), errOut.String())
	require.Equal(t, "4\tgap\t00000000000000ab\tmissed 3 messages for good, sequences 10 to 12\n5\tab-13\tt\t\"x\"\n", out.String())

	out.Reset()
	require.NoError(t, runSubscribe([]string{"-socket", path, "-count", "1", "-o", "json"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), `"gap"`)
	require.Contains(t, out.String(), `"count"`)
}
