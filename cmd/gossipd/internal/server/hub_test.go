package server

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/membership"
)

// sized returns a message on topic "t" whose delivery counts n bytes in
// the ring.
func sized(n int) membership.Message {
	return membership.Message{Topic: "t", Payload: bytes.Repeat([]byte("x"), n-deliveryOverhead-1)}
}

func seqs(ds []*delivery) []uint64 {
	var out []uint64
	for _, d := range ds {
		out = append(out, d.seq)
	}
	return out
}

// The resume ring is bounded in bytes as well as in count: large
// deliveries push the oldest out, and a resume is told exactly how many
// left.
func TestRingBytesBoundEvictsOldest(t *testing.T) {
	h := newHub(7, 100, 3000, 1)
	for range 5 {
		h.publish(sized(1000))
	}
	h.mu.Lock()
	size, used := h.size, h.bytes
	h.mu.Unlock()
	require.Equal(t, 3, size, "three of 1000 bytes fit in 3000")
	require.Equal(t, 3000, used)
	last, oldest, _, _, _ := h.stats()
	require.Equal(t, []uint64{5, 3}, []uint64{last, oldest})

	sub, replay, gone, restarted := h.subscribe(nil, 1, 7)
	defer sub.Close()
	require.False(t, restarted)
	require.Equal(t, uint64(1), gone, "sequence 2 left the ring")
	require.Equal(t, []uint64{3, 4, 5}, seqs(replay))

	// One delivery larger than the bound empties the ring and is not kept.
	h.publish(sized(4000))
	_, oldest, _, _, _ = h.stats()
	require.Zero(t, oldest)
	sub2, replay, gone, _ := h.subscribe(nil, 5, 7)
	defer sub2.Close()
	require.Empty(t, replay)
	require.Equal(t, uint64(1), gone)
	h.publish(sized(500))
	h.mu.Lock()
	require.Equal(t, 500, h.bytes)
	h.mu.Unlock()
	h.close()
}

// Within the epoch a resume replays what is retained after resume_from,
// and a client that gives no epoch (older clients) is served the same.
func TestResumeWithinEpochUnchanged(t *testing.T) {
	h := newHub(42, 4, DefaultRetainBytes, 1)
	for range 6 {
		h.publish(msg("t"))
	}
	for _, epoch := range []uint64{42, 0} {
		sub, replay, gone, restarted := h.subscribe(nil, 3, epoch)
		require.False(t, restarted)
		require.Zero(t, gone)
		require.Equal(t, []uint64{4, 5, 6}, seqs(replay))
		sub.Close()
		sub, replay, gone, restarted = h.subscribe(nil, 6, epoch)
		require.False(t, restarted)
		require.Zero(t, gone)
		require.Empty(t, replay, "up to date")
		sub.Close()
	}
	// A number beyond the last, given with the current epoch, is a
	// client's mistake: served from now on, as before epochs.
	sub, replay, gone, restarted := h.subscribe(nil, 900, 42)
	require.False(t, restarted)
	require.Zero(t, gone)
	require.Empty(t, replay)
	sub.Close()
	h.close()
}

// A resume from another epoch (the agent restarted) is told so, and gets
// every delivery of the new epoch still retained; so is a client that
// gives no epoch but a sequence number the agent never reached.
func TestResumeAcrossEpochsGetsRestartNotice(t *testing.T) {
	h := newHub(42, 4, DefaultRetainBytes, 1)
	for range 6 {
		h.publish(msg("t"))
	}
	for _, c := range []struct{ from, epoch uint64 }{{3, 41}, {900, 41}, {900, 0}, {6, 41}} {
		sub, replay, gone, restarted := h.subscribe(nil, c.from, c.epoch)
		require.True(t, restarted, "%+v", c)
		require.Zero(t, gone, "%+v: the restart notice says the count is unknown", c)
		require.Equal(t, []uint64{3, 4, 5, 6}, seqs(replay), "%+v", c)
		sub.Close()
	}
	h.close()
}

// Over the API: a Subscribe resuming from another epoch begins with a
// Restarted notice naming both epochs, then the retained messages, which
// carry the current epoch.
func TestSubscribeRestartNotice(t *testing.T) {
	as := cluster(t, 1, Config{Epoch: 77})
	ctx := ctxT(t)
	for range 2 {
		_, err := as[0].client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("x")})
		require.NoError(t, err)
	}
	st, err := as[0].client.Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	require.Equal(t, uint64(77), st.GetEpoch())
	stream, err := as[0].client.Subscribe(ctx, &gossipdv1.SubscribeRequest{ResumeFrom: 10, ResumeEpoch: 5})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, uint64(5), first.GetRestarted().GetPreviousEpoch())
	require.Equal(t, uint64(77), first.GetRestarted().GetEpoch())
	require.Equal(t, uint64(1), first.GetRestarted().GetOldestRetainedSequence())
	for want := uint64(1); want <= 2; want++ {
		ev, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, want, ev.GetMessage().GetSequence())
		require.Equal(t, uint64(77), ev.GetMessage().GetEpoch())
	}
	st, err = as[0].client.Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(1), st.GetCounters()["subscriber_resumed_across_restart"])
}

// BeforeBroadcast refusing (the data directory cannot reserve the ID)
// refuses the broadcast: UNAVAILABLE, nothing sent; AfterBroadcast sees
// the ID of each broadcast sent.
func TestBroadcastHooks(t *testing.T) {
	var refuse bool
	var sent []membership.MessageID
	as := cluster(t, 1, Config{
		BeforeBroadcast: func() error {
			if refuse {
				return errors.New("data dir: disk full")
			}
			return nil
		},
		AfterBroadcast: func(id membership.MessageID) { sent = append(sent, id) },
	})
	ctx := ctxT(t)
	resp, err := as[0].client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("x")})
	require.NoError(t, err)
	require.Len(t, sent, 1)
	require.Equal(t, sent[0].String(), resp.GetMessageId())
	refuse = true
	_, err = as[0].client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("y")})
	require.Equal(t, codes.Unavailable, status.Code(err))
	require.ErrorContains(t, err, "disk full")
	require.Len(t, sent, 1)
	last, _, _, _, _ := as[0].srv.hub.stats()
	require.Equal(t, uint64(1), last, "nothing delivered")
}

// Draining waits for a broadcast already past its checks (here held in
// BeforeBroadcast) to reach the node, and refuses the ones after it: an
// agent that stops freezes its deliveries and leaves only once nothing
// can be accepted any more. Before, a broadcast accepted between the
// freeze and the leave reached neither the agent's own subscribers nor,
// with the connections closing, always the others (the fault lab's
// rolling restart at 32 agents lost one so).
func TestDrainingWaitsForBroadcastsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var sent atomic.Int32
	as := cluster(t, 1, Config{
		BeforeBroadcast: func() error {
			close(entered)
			<-release
			return nil
		},
		AfterBroadcast: func(membership.MessageID) { sent.Add(1) },
	})
	ctx := ctxT(t)
	inFlight := make(chan error, 1)
	go func() {
		_, err := as[0].client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("x")})
		inFlight <- err
	}()
	<-entered
	drained := make(chan struct{})
	go func() { as[0].srv.Draining(); close(drained) }()
	select {
	case <-drained:
		t.Fatal("Draining returned while a broadcast was being accepted")
	case <-time.After(50 * time.Millisecond): // a chance to run; the assertion cannot pass by luck
	}
	close(release)
	<-drained
	require.NoError(t, <-inFlight)
	require.Equal(t, int32(1), sent.Load(), "the broadcast in flight reached the node before Draining returned")
	_, err := as[0].client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("y")})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "refused once draining")
}
