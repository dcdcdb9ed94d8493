package gossip

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// The broadcast core starts on the engine's second cache line, as the
// engine's layout comment says (and the simulator's prefetch assumes).
func TestEngineLayoutPutsPlumtreeOnTheSecondLine(t *testing.T) {
	var e Engine
	require.Equal(t, uintptr(64), unsafe.Offsetof(e.pt))
}

// asEngineOutputs turns the broadcast core's outputs into the Engine's,
// as StepPlumtree's documentation says Step does.
func asEngineOutputs(pt []plumtree.Output) []Output {
	var out []Output
	for _, o := range pt {
		switch o.Kind {
		case plumtree.OutputSend:
			out = append(out, Output{Kind: OutputSend, Peer: hyparview.Peer{ID: o.Peer}, Msg: o.Msg})
		case plumtree.OutputDeliver:
			out = append(out, Output{Kind: OutputDeliver, Delivery: o.Delivery})
		case plumtree.OutputSetTimer:
			out = append(out, Output{Kind: OutputSetTimer, After: o.After, Timer: Timer{Layer: LayerPlumtree, Plumtree: o.Timer}})
		}
	}
	return out
}

// withNeighbours returns an engine with neighbours 2, 3 and 4 in its
// active view (so eager peers of its broadcast core).
func withNeighbours(t require.TestingT, seed uint64) *Engine {
	e, err := NewEngine(hyparview.Peer{ID: 1, Addr: "a"}, EngineConfig{}, rand.New(rand.NewPCG(seed, 1)))
	require.NoError(t, err)
	_, err = e.Step(t0, Input{Kind: InputJoin}, nil)
	require.NoError(t, err)
	for id := peer.ID(2); id <= 4; id++ {
		_, err = e.Step(t0, Input{Kind: InputReceive, From: id, Msg: &hyparview.Join{Addr: "n", Nonce: uint64(id)}}, nil)
		require.NoError(t, err)
	}
	require.Len(t, e.Plumtree().EagerPeers(), 3)
	return e
}

// StepPlumtree does what Step does with the same input: the same outputs
// once translated, the same state after. Two engines built alike take the
// same random sequence of Plumtree messages and timers, one through each.
func TestStepPlumtreeMatchesStep(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		viaStep, alone := withNeighbours(rt, seed), withNeighbours(rt, seed)
		ids := []plumtree.MessageID{{1}, {2}, {3}, {4}}
		var timers []plumtree.Timer
		now := t0
		for i, n := 0, rapid.IntRange(1, 60).Draw(rt, "steps"); i < n; i++ {
			now = now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(rt, "ms")) * time.Millisecond)
			from := peer.ID(rapid.SampledFrom([]uint64{2, 3, 4, 9}).Draw(rt, "from"))
			id := rapid.SampledFrom(ids).Draw(rt, "id")
			round := uint32(rapid.IntRange(0, 4).Draw(rt, "round"))
			in := plumtree.Input{Kind: plumtree.InputReceive, Peer: from}
			switch rapid.IntRange(0, 4).Draw(rt, "kind") {
			case 0:
				in.Msg = &plumtree.Gossip{ID: id, Round: round, Payload: []byte{id[0]}}
			case 1:
				in.Msg = &plumtree.IHave{Entries: []plumtree.Announcement{{ID: id, Round: round}}}
			case 2:
				in.Msg = &plumtree.Graft{ID: id, HasID: true, Round: round}
			case 3:
				in.Msg = &plumtree.Prune{}
			case 4:
				if len(timers) == 0 {
					continue
				}
				k := rapid.IntRange(0, len(timers)-1).Draw(rt, "timer")
				in = plumtree.Input{Kind: plumtree.InputTimer, Timer: timers[k]}
				timers = append(timers[:k], timers[k+1:]...)
			}
			engIn := Input{Kind: InputReceive, From: from, Msg: in.Msg}
			if in.Kind == plumtree.InputTimer {
				engIn = Input{Kind: InputTimer, Timer: Timer{Layer: LayerPlumtree, Plumtree: in.Timer}}
			}
			want, err := viaStep.Step(now, engIn, nil)
			require.NoError(rt, err)
			got, err := alone.StepPlumtree(now, in, nil)
			require.NoError(rt, err)
			require.Equal(rt, want, asEngineOutputs(got), "step %d: %+v", i, in)
			for _, o := range got {
				if o.Kind == plumtree.OutputSetTimer {
					timers = append(timers, o.Timer)
				}
			}
			require.NoError(rt, alone.Invariants())
		}
		require.Equal(rt, viaStep.Plumtree().Counters(), alone.Plumtree().Counters())
		require.Equal(rt, viaStep.Plumtree().EagerPeers(), alone.Plumtree().EagerPeers())
		require.Equal(rt, viaStep.Plumtree().LazyPeers(), alone.Plumtree().LazyPeers())
	})
}

// StepPlumtree refuses what only Step may do, and changes nothing then.
func TestStepPlumtreeRefusesWhatStepMustDo(t *testing.T) {
	e := withNeighbours(t, 1)
	before := e.Plumtree().Counters()
	for _, in := range []plumtree.Input{
		{Kind: plumtree.InputNeighborUp, Peer: 5},
		{Kind: plumtree.InputNeighborDown, Peer: 2},
		{Kind: plumtree.InputBroadcast, Payload: []byte("x")},
	} {
		out, err := e.StepPlumtree(t0, in, nil)
		require.ErrorIs(t, err, ErrNotForPlumtreeAlone, "input kind %d", in.Kind)
		require.Empty(t, out)
	}
	require.Len(t, e.Plumtree().EagerPeers(), 3)

	members, err := NewEngine(hyparview.Peer{ID: 1, Addr: "a"},
		EngineConfig{Members: &MembersConfig{Roster: roster.Config{}}}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	g := &plumtree.Gossip{ID: plumtree.MessageID{1}, Payload: []byte("x")}
	out, err := members.StepPlumtree(t0, plumtree.Input{Kind: plumtree.InputReceive, Peer: 2, Msg: g}, nil)
	require.ErrorIs(t, err, ErrNotForPlumtreeAlone, "with the member list on")
	require.Empty(t, out)
	require.Equal(t, before.Delivered, e.Plumtree().Counters().Delivered)
	require.Zero(t, members.Plumtree().Counters().PayloadReceived)
}
