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

var t0 = time.Unix(0, 0).UTC()

func newEngine(t *testing.T, id peer.ID) *Engine {
	t.Helper()
	e, err := NewEngine(hyparview.Peer{ID: id, Addr: "addr"}, EngineConfig{}, rand.New(rand.NewPCG(uint64(id), 1)))
	require.NoError(t, err)
	return e
}

func step(t *testing.T, e *Engine, in Input) []Output {
	t.Helper()
	out, err := e.Step(t0, in, nil)
	require.NoError(t, err)
	require.NoError(t, e.Invariants())
	return out
}

func kinds(out []Output) []OutputKind {
	var k []OutputKind
	for _, o := range out {
		k = append(k, o.Kind)
	}
	return k
}

// A neighbour that comes up in HyParView becomes an eager peer in Plumtree,
// and a broadcast then goes to it.
func TestNeighborUpFeedsPlumtree(t *testing.T) {
	contact := newEngine(t, 1)
	step(t, contact, Input{Kind: InputJoin})
	out := step(t, contact, Input{Kind: InputReceive, From: 2, Msg: &hyparview.Join{Addr: "b", Nonce: 7}})
	require.Contains(t, kinds(out), OutputNeighborUp)
	require.Equal(t, []peer.ID{2}, contact.Plumtree().EagerPeers())

	out = step(t, contact, Input{Kind: InputBroadcast, Payload: []byte("hello")})
	var sent, delivered bool
	for _, o := range out {
		if g, ok := o.Msg.(*plumtree.Gossip); ok && o.Kind == OutputSend && o.Peer.ID == 2 {
			sent = string(g.Payload) == "hello"
		}
		if o.Kind == OutputDeliver && o.Delivery.Hops == 0 {
			delivered = true
		}
	}
	require.True(t, sent, "the broadcast goes to the new neighbour")
	require.True(t, delivered, "the origin delivers its own broadcast")
}

// A neighbour whose connection fails leaves both of Plumtree's push sets.
func TestNeighborDownLeavesPlumtree(t *testing.T) {
	contact := newEngine(t, 1)
	step(t, contact, Input{Kind: InputJoin})
	step(t, contact, Input{Kind: InputReceive, From: 2, Msg: &hyparview.Join{Addr: "b", Nonce: 7}})
	out := step(t, contact, Input{Kind: InputConnectionFailed, From: 2})
	require.Contains(t, kinds(out), OutputNeighborDown)
	for _, o := range out {
		if o.Kind == OutputNeighborDown {
			require.Equal(t, hyparview.DownFailed, o.Reason)
		}
	}
	require.Empty(t, contact.Plumtree().EagerPeers())
	require.Empty(t, contact.Plumtree().LazyPeers())
}

// Timers come out tagged with their layer and go back to the right core.
func TestTimersCarryTheirLayer(t *testing.T) {
	e := newEngine(t, 1)
	out := step(t, e, Input{Kind: InputJoin})
	var shuffle *Timer
	for i := range out {
		if out[i].Kind == OutputSetTimer {
			shuffle = &out[i].Timer
		}
	}
	require.NotNil(t, shuffle)
	require.Equal(t, LayerHyParView, shuffle.Layer)
	require.Equal(t, hyparview.TimerShuffle, shuffle.HyParView.Kind)
	out = step(t, e, Input{Kind: InputTimer, Timer: *shuffle})
	require.Contains(t, kinds(out), OutputSetTimer, "the shuffle timer re-arms itself")
}

// Messages and timers of neither core are counted and dropped; an unknown
// input kind is an error.
func TestBadInputs(t *testing.T) {
	e := newEngine(t, 1)
	out := step(t, e, Input{Kind: InputReceive, From: 2, Msg: &strayMessage{}})
	require.Empty(t, out)
	out = step(t, e, Input{Kind: InputTimer, Timer: Timer{Layer: 9}})
	require.Empty(t, out)
	require.Equal(t, EngineCounters{UnknownMessages: 1, UnknownTimers: 1}, e.Counters())

	_, err := e.Step(t0, Input{Kind: 99}, nil)
	require.ErrorIs(t, err, ErrUnknownInput)

	_, err = e.Step(t0, Input{Kind: InputBroadcast, Payload: make([]byte, plumtree.DefaultMaxPayloadBytes+1)}, nil)
	require.Error(t, err, "a payload over the limit is refused")
}

// A bad configuration is an error at construction.
func TestNewEngineRejectsBadConfig(t *testing.T) {
	_, err := NewEngine(hyparview.Peer{ID: 1}, EngineConfig{HyParView: hyparview.Config{ActiveViewSize: -1}}, rand.New(rand.NewPCG(1, 1)))
	require.Error(t, err)
	_, err = NewEngine(hyparview.Peer{ID: 1}, EngineConfig{Plumtree: plumtree.Config{GraftTimeout1: -time.Second}}, rand.New(rand.NewPCG(1, 1)))
	require.Error(t, err)
	_, err = NewEngine(hyparview.Peer{ID: 1}, EngineConfig{}, nil)
	require.Error(t, err)
}

// strayMessage is a sealed message of no layer of the engine.
type strayMessage struct{ peer.Sealed }
