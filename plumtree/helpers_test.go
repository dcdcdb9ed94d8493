package plumtree

import (
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// tb is what the helpers need of a *testing.T, *testing.B or *rapid.T.
type tb interface {
	require.TestingT
	Helper()
}

// t0 is the time of every test's first step.
var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

// immediate is the paper's simulation policy: one IHAVE at once per message.
func immediate() Config { return Config{LazyPushDelay: -1} }

// newNode returns node self with the given neighbours, all eager.
func newNode(t tb, self peer.ID, cfg Config, neighbours ...peer.ID) *State {
	t.Helper()
	s, err := New(self, cfg)
	require.NoError(t, err)
	for _, p := range neighbours {
		step(t, s, at(0), Input{Kind: InputNeighborUp, Peer: p})
	}
	return s
}

// step runs one input, requires no error and intact invariants, and
// returns the outputs.
func step(t tb, s *State, now time.Time, in Input) []Output {
	t.Helper()
	out, err := s.Step(now, in, nil)
	require.NoError(t, err)
	require.NoError(t, s.Invariants())
	return out
}

// makeLazy makes each peer lazy at s by a PRUNE from it.
func makeLazy(t tb, s *State, peers ...peer.ID) {
	t.Helper()
	for _, p := range peers {
		require.Empty(t, step(t, s, at(0), recv(p, &Prune{})))
	}
}

func recv(from peer.ID, m Message) Input { return Input{Kind: InputReceive, Peer: from, Msg: m} }

func fire(kind TimerKind, id MessageID) Input {
	return Input{Kind: InputTimer, Timer: Timer{Kind: kind, ID: id}}
}

func sendTo(to peer.ID, m Message) Output { return Output{Kind: OutputSend, Peer: to, Msg: m} }

func delivered(id MessageID, payload []byte, hops uint32, from peer.ID) Output {
	return Output{Kind: OutputDeliver, Peer: from, Delivery: Delivery{ID: id, Payload: payload, Hops: hops, From: from}}
}

func timerOut(kind TimerKind, id MessageID, after time.Duration) Output {
	return Output{Kind: OutputSetTimer, Timer: Timer{Kind: kind, ID: id}, After: after}
}

func ihave(entries ...Announcement) *IHave { return &IHave{Entries: entries} }

// mid is the ID of origin 9's seq-th broadcast, the messages tests receive.
func mid(seq uint64) MessageID { return OriginSequenceID(9, seq) }
