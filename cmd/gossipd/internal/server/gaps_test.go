package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// A gap notice is numbered like a delivery, reaches a stream of any
// topics, and is replayed on resume_from whatever the topics.
func TestHubGapNoticeReachesEveryStream(t *testing.T) {
	h := newHub(1, 16, DefaultRetainBytes, 4)
	defer h.close()
	sub, _, _, _ := h.subscribe([]string{"a"}, 0, 0)
	defer sub.Close()
	h.publish(msg("b"))
	gap := membership.Message{Gap: membership.Gap{Origin: 7, First: 3, Last: 4, Count: 2}}
	h.publish(gap)
	it, err := sub.Recv(ctxT(t))
	require.NoError(t, err)
	require.True(t, proto.Equal(&gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Gap{Gap: &gossipdv1.GapNotice{
		Sequence: 2, Origin: "0000000000000007", First: 3, Last: 4, Count: 2,
	}}}, messagePB(it.Value, 1)), "got %v", messagePB(it.Value, 1))

	resumed, replay, gone, _ := h.subscribe([]string{"a"}, 1, 1)
	defer resumed.Close()
	require.Zero(t, gone)
	require.Len(t, replay, 1, "the gap notice is replayed to a stream of another topic")
	require.Equal(t, gap, replay[0].msg)
}

// End to end: a node cut off for longer than the payload retention
// misses broadcasts for good; after the partition heals its Subscribe
// stream (of one topic) carries a gap notice naming exactly them, and its
// Status counts them.
func TestSubscribeStreamCarriesGapNotice(t *testing.T) {
	const retention = time.Second
	mn := transport.NewMemNetwork(1)
	var as []*agent
	for i := range 3 {
		as = append(as, newAgentWith(t, mn, fmt.Sprintf("node%d", i), Config{}, func(c *membership.Config) {
			c.Protocol.Plumtree.PayloadRetention = retention
			c.Protocol.Gaps = &gossip.GapsConfig{Grace: retention + time.Second}
		}))
	}
	ctx := ctxT(t)
	_, err := as[0].client.Join(ctx, &gossipdv1.JoinRequest{})
	require.NoError(t, err)
	for _, a := range as[1:] {
		_, err := a.client.Join(ctx, &gossipdv1.JoinRequest{Seeds: []string{as[0].node.Addr()}})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return alive(t, as[2]) == 3 && alive(t, as[0]) == 3 }, 20*time.Second, 20*time.Millisecond)
	cut := as[2]
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a generous bound for a loaded machine
	defer cancel()
	stream, err := cut.client.Subscribe(sctx, &gossipdv1.SubscribeRequest{Topics: []string{"t"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, _, subs, _, _ := cut.srv.hub.stats(); return subs == 1 }, 10*time.Second, 10*time.Millisecond)

	bcast := func(p string) uint64 {
		resp, err := as[0].client.Broadcast(ctxT(t), &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte(p)})
		require.NoError(t, err)
		var origin, seq uint64
		_, err = fmt.Sscanf(resp.GetMessageId(), "%x-%x", &origin, &seq)
		require.NoError(t, err)
		return seq
	}
	bcast("base")
	got, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, "base", string(got.GetMessage().GetPayload()))

	mn.Partition([]string{"node0", "node1"}, []string{"node2"})
	first, last := bcast("lost-1"), bcast("lost-2")
	time.Sleep(3 * retention) // every copy of the lost ones expires: the scenario, not an assertion
	mn.Heal()
	require.Eventually(t, func() bool { return alive(t, cut) == 3 && alive(t, as[0]) == 3 }, 30*time.Second, 20*time.Millisecond)
	bcast("after")

	var gap *gossipdv1.GapNotice
	var payloads []string
	for gap == nil || len(payloads) == 0 {
		got, err := stream.Recv()
		require.NoError(t, err)
		if g := got.GetGap(); g != nil {
			require.Nil(t, gap, "one gap notice")
			gap = g
			continue
		}
		payloads = append(payloads, string(got.GetMessage().GetPayload()))
	}
	require.Equal(t, []string{"after"}, payloads)
	require.Equal(t, idString(as[0].node.ID()), gap.GetOrigin())
	require.Equal(t, first, gap.GetFirst())
	require.Equal(t, last, gap.GetLast())
	require.Equal(t, uint64(2), gap.GetCount())
	st, err := cut.client.Status(ctxT(t), &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(1), st.GetCounters()["gaps_reported"])
	require.Equal(t, int64(2), st.GetCounters()["messages_reported_missed"])
}
