package hyparview

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// testPeer returns the Peer the tests use for id.
func testPeer(id peer.ID) Peer { return Peer{ID: id, Addr: addrOf(id)} }

// linkNonce is the nonce tests give a link to id set up by hand.
func linkNonce(id peer.ID) uint64 { return 0xA000 + uint64(id) }

// newState returns node id with cfg, seeded with seed.
func newState(t testing.TB, id peer.ID, cfg Config, seed uint64) *State {
	t.Helper()
	s, err := New(testPeer(id), cfg, rand.New(rand.NewPCG(seed, uint64(id))))
	require.NoError(t, err)
	return s
}

// withActive puts ids in the active view directly, each link named by
// linkNonce, as if earlier handshakes had completed.
func withActive(s *State, ids ...peer.ID) *State {
	for _, id := range ids {
		s.active = append(s.active, link{peer: testPeer(id), nonce: linkNonce(id)})
	}
	return s
}

// withPassive puts ids in the passive view directly.
func withPassive(s *State, ids ...peer.ID) *State {
	for _, id := range ids {
		s.passive = append(s.passive, testPeer(id))
	}
	return s
}

// started marks the node as joined long ago, so its shuffle timer is live
// and it is past the refresh boost of a young node.
func started(s *State) *State {
	s.started = true
	s.ticks, s.periods = youngTicks, youngTicks
	return s
}

// step hands one input to s and checks its invariants afterwards.
func step(t testing.TB, s *State, in Input) []Output {
	t.Helper()
	out := s.Step(in, nil)
	require.NoError(t, s.Invariants())
	return out
}

func recv(from peer.ID, m Message) Input {
	return Input{Kind: InputReceive, From: from, Msg: m}
}

func timerInput(t Timer) Input { return Input{Kind: InputTimer, Timer: t} }

func failed(id peer.ID) Input { return Input{Kind: InputConnectionFailed, From: id} }

func ids(ps []Peer) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func activeIDs(s *State) []peer.ID  { return ids(s.Active()) }
func passiveIDs(s *State) []peer.ID { return ids(s.Passive()) }

func sendOut(to peer.ID, m Message) Output {
	return Output{Kind: OutputSend, Peer: testPeer(to), Msg: m}
}
func closeOut(id peer.ID) Output { return Output{Kind: OutputClose, Peer: testPeer(id)} }
func upOut(id peer.ID) Output    { return Output{Kind: OutputNeighborUp, Peer: testPeer(id)} }
func downOut(id peer.ID, r DownReason) Output {
	return Output{Kind: OutputNeighborDown, Peer: testPeer(id), Reason: r}
}
func timerOut(kind TimerKind, id peer.ID, nonce uint64, after time.Duration) Output {
	return Output{Kind: OutputSetTimer, Timer: Timer{Kind: kind, Peer: id, Nonce: nonce}, After: after}
}

// requestOut is the pair of outputs of a Neighbor request with nonce.
func requestOut(to peer.ID, prio Priority, nonce uint64, self peer.ID) []Output {
	return []Output{
		sendOut(to, &Neighbor{Priority: prio, Addr: addrOf(self), Nonce: nonce}),
		timerOut(TimerNeighborRequest, to, nonce, DefaultConfig().NeighborRequestTimeout),
	}
}

// sentNonce returns the nonce of the i-th output, a Join or Neighbor send.
func sentNonce(t testing.TB, out []Output, i int) uint64 {
	t.Helper()
	require.Greater(t, len(out), i)
	switch m := out[i].Msg.(type) {
	case *Join:
		return m.Nonce
	case *Neighbor:
		return m.Nonce
	}
	t.Fatalf("output %d is %v, not a Join or Neighbor", i, out[i])
	return 0
}

// sends returns the messages of type T sent in out, keyed by destination.
func sends[T Message](out []Output) map[peer.ID]T {
	m := map[peer.ID]T{}
	for _, o := range out {
		if o.Kind == OutputSend {
			if msg, ok := o.Msg.(T); ok {
				m[o.Peer.ID] = msg
			}
		}
	}
	return m
}
