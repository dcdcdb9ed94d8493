package gossip

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

// markedNode is node 1 with ProductionConfig (probing off), joined alone.
func markedNode(t *testing.T) *Engine {
	t.Helper()
	cfg := ProductionConfig(nil)
	cfg.Members.ProbeInterval = -1
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	return e
}

// receiveBroadcast hands e origin's application broadcast seq of run, from
// peer 3, and returns how many deliveries it made.
func receiveBroadcast(t *testing.T, e *Engine, origin peer.ID, run, seq uint64) int {
	t.Helper()
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte{byte(seq)}, Run: run})
	require.NoError(t, err)
	out := do(t, e, func(out *Ready) {
		e.Receive(t0, 3, &plumtree.Gossip{ID: plumtree.OriginSequenceID(origin, seq), Payload: b}, out)
	})
	return len(out.Deliveries)
}

// deliverForgotten hands e, an hour later, origin's broadcast seq of run
// as Plumtree delivers a message whose ID it no longer remembers, and
// returns how many deliveries e made.
func deliverForgotten(t *testing.T, e *Engine, origin peer.ID, run, seq uint64) int {
	t.Helper()
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte{byte(seq)}, Run: run})
	require.NoError(t, err)
	d := Delivery{ID: plumtree.OriginSequenceID(origin, seq), Payload: b, From: 3}
	out := &Ready{}
	e.deliver(t0.Add(time.Hour), d, out)
	return len(out.Deliveries)
}

// A node that restarts with the delivery marks its earlier run saved does
// not deliver again what that run delivered, when neighbours announce it
// anew, but delivers what it missed: the broadcasts in a hole, and the
// later ones. Without the marks, every one of them is delivered again (the
// fault lab's rolling restart saw each agent deliver about 30 s of
// broadcasts twice).
func TestDeliveryMarksSurviveARestart(t *testing.T) {
	const origin, run = peer.ID(9), uint64(100)
	newNode := func() *Engine { return markedNode(t) }
	receive := func(e *Engine, seq uint64) int { return receiveBroadcast(t, e, origin, run, seq) }

	before := newNode()
	for _, seq := range []uint64{100, 101, 103} { // 102 is late
		require.Equal(t, 1, receive(before, seq))
	}
	marks := before.DeliveryMarks()
	require.Equal(t, []DeliveryMark{{Origin: origin, Run: run, Next: 104, Holes: [][2]uint64{{102, 102}}}}, marks)

	after := newNode()
	after.RestoreDeliveryMarks(t0, marks)
	for _, seq := range []uint64{100, 101, 103} {
		require.Zero(t, receive(after, seq), "sequence %d was delivered before the restart", seq)
	}
	require.Equal(t, 1, receive(after, 102), "the one missed before the restart")
	require.Equal(t, 1, receive(after, 104), "a new one")
	require.Equal(t, uint64(3), after.Counters().Engine.RedeliveriesSuppressed)

	fresh := newNode()
	for _, seq := range []uint64{100, 101, 103} {
		require.Equal(t, 1, receive(fresh, seq), "without marks, delivered again")
	}

	damaged := newNode()
	damaged.RestoreDeliveryMarks(t0, []DeliveryMark{
		{Origin: 1, Run: 1, Next: 50}, // this node itself
		{Origin: origin, Run: run, Next: 104, Holes: [][2]uint64{{200, 300}, {5, 1}}}, // holes not below the mark, reversed
	})
	require.Equal(t, []DeliveryMark{{Origin: origin, Run: run, Next: 104}}, damaged.DeliveryMarks())
}

// A node's own broadcast of an earlier run, announced back by a neighbour
// after a restart, is not delivered: the earlier run delivered it when it
// broadcast it. Before, every restarted agent delivered its own recent
// broadcasts a second time.
func TestOwnBroadcastOfAnEarlierRunIsNotDelivered(t *testing.T) {
	cfg := ProductionConfig(nil)
	cfg.Members.ProbeInterval = -1
	cfg.Plumtree.FirstSequence = 1000 // this run
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("old"), Run: 10})
	require.NoError(t, err)
	out := do(t, e, func(out *Ready) {
		e.Receive(t0, 3, &plumtree.Gossip{ID: plumtree.OriginSequenceID(1, 12), Payload: b}, out)
	})
	require.Empty(t, out.Deliveries)
	require.Equal(t, uint64(1), e.Counters().Engine.RedeliveriesSuppressed)
	out = do(t, e, func(out *Ready) {
		_, err := e.Broadcast(t0, "t", []byte("new"), out)
		require.NoError(t, err)
	})
	require.Len(t, out.Deliveries, 1, "this run's own broadcast is delivered here")
}

// In a rolling restart the origin restarts shortly before this node: its
// previous run's broadcasts, which this node delivered, are still being
// announced when this node comes back, and are not delivered again; nor
// are the new run's it delivered. Before the marks kept the previous run,
// the fault lab's rolling restart delivered hundreds twice.
func TestDeliveryMarksKeepTheOriginsPreviousRun(t *testing.T) {
	const origin = peer.ID(9)
	newNode := func() *Engine { return markedNode(t) }
	receive := func(e *Engine, run, seq uint64) int { return receiveBroadcast(t, e, origin, run, seq) }
	before := newNode()
	for _, seq := range []uint64{100, 101} {
		require.Equal(t, 1, receive(before, 100, seq))
	}
	for _, seq := range []uint64{5000, 5001} { // the origin restarted
		require.Equal(t, 1, receive(before, 5000, seq))
	}
	require.Equal(t, 1, receive(before, 100, 102), "the previous run's last, announced late")
	marks := before.DeliveryMarks()
	require.Equal(t, []DeliveryMark{{Origin: origin, Run: 5000, Next: 5002, PrevRun: 100, PrevNext: 103}}, marks)

	after := newNode()
	after.RestoreDeliveryMarks(t0, marks)
	require.Zero(t, receive(after, 100, 101), "the previous run's, delivered before")
	require.Zero(t, receive(after, 100, 102), "the previous run's, delivered late before")
	require.Zero(t, receive(after, 5000, 5000), "the current run's, delivered before")
	require.Equal(t, 1, receive(after, 100, 103), "the previous run's last, never delivered")
	require.Equal(t, 1, receive(after, 5000, 5002))

	late := newNode() // first hears of the origin's new run, then of the old one
	require.Equal(t, 1, receive(late, 5000, 5000))
	require.Equal(t, 1, receive(late, 100, 101))
	require.Equal(t, []DeliveryMark{{Origin: origin, Run: 5000, Next: 5001, PrevRun: 100, PrevNext: 102}}, late.DeliveryMarks())
}

// The origin restarts just before this node does: the marks name only its
// old run, and the first broadcast of its new run reaches the restarted
// node before the old run's are announced again. These are still not
// delivered twice. Before the floor moved with the run, the fault lab's
// rolling restart delivered the previous agent's broadcasts twice.
func TestDeliveryMarksFollowTheOriginIntoItsNextRun(t *testing.T) {
	const origin = peer.ID(9)
	e := markedNode(t)
	e.RestoreDeliveryMarks(t0, []DeliveryMark{{Origin: origin, Run: 100, Next: 110}})
	receive := func(run, seq uint64) int { return receiveBroadcast(t, e, origin, run, seq) }
	require.Equal(t, 1, receive(5000, 5000), "the new run's first")
	require.Zero(t, receive(100, 105), "the old run's, delivered before the restart")
	require.Equal(t, 1, receive(100, 110), "the old run's, never delivered")
}

// A broadcast delivered in this run of the node that comes back after
// Plumtree forgot its ID (SeenRetention) is not delivered again: a chain
// of restarts, each new process announcing what it just received to its
// new neighbours, kept the fault lab's broadcasts alive past 90 s at 32
// agents, and nodes delivered them twice. A sequence below the first one
// delivered from the origin (it may predate this node) is still delivered.
func TestCopyBeyondSeenRetentionIsNotDeliveredAgain(t *testing.T) {
	const origin, run = peer.ID(9), uint64(100)
	e := markedNode(t)
	for _, seq := range []uint64{101, 102} {
		require.Equal(t, 1, receiveBroadcast(t, e, origin, run, seq))
	}
	forgotten := func(seq uint64) int { return deliverForgotten(t, e, origin, run, seq) }
	require.Zero(t, forgotten(101), "delivered already")
	require.Equal(t, 1, forgotten(100), "below the first delivered: never seen here")
	require.Equal(t, 1, forgotten(103), "the next one")
}

// A broadcast of the origin's previous run, delivered in this run of the
// node before the origin restarted, is not delivered again when it comes
// back after Plumtree forgot its ID. Before, only a mark restored from an
// earlier run of this node covered the origin's previous run, and the
// fault lab's rolling restart at 32 agents delivered thousands of
// broadcasts twice, 90 to 100 s apart, within one process.
func TestCopyOfTheOriginsPreviousRunIsNotDeliveredAgain(t *testing.T) {
	const origin = peer.ID(9)
	e := markedNode(t)
	for _, seq := range []uint64{101, 102} {
		require.Equal(t, 1, receiveBroadcast(t, e, origin, 100, seq))
	}
	require.Equal(t, 1, receiveBroadcast(t, e, origin, 5000, 5000), "the origin restarted")
	forgotten := func(run, seq uint64) int { return deliverForgotten(t, e, origin, run, seq) }
	require.Zero(t, forgotten(100, 102), "delivered already, in the previous run")
	require.Equal(t, 1, forgotten(100, 100), "below the first delivered: never seen here")
	require.Equal(t, 1, forgotten(100, 103), "the previous run's, never delivered here")
	require.Zero(t, forgotten(5000, 5000), "the current run's, delivered")
}
