package hyparview

import (
	"testing"

	"github.com/plumview/plumview/peer"
)

// benchState is a node in steady state at the paper's sizes (S1 §5.1): a
// full active view of 5 and a full passive view of 30.
func benchState(b *testing.B) *State {
	s := started(newState(b, 1, Config{}, 1))
	withActive(s, 2, 3, 4, 5, 6)
	for id := peer.ID(100); id < 130; id++ {
		withPassive(s, id)
	}
	return s
}

// benchStep steps in repeatedly, reusing the output slice as a driver
// would.
func benchStep(b *testing.B, s *State, in func(i int) Input) {
	out := make([]Output, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		out = s.Step(in(i), out[:0])
	}
	if err := s.Invariants(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStepShuffleAccept: a Shuffle whose walk ends here: a reply of 8
// peers and a merge into a full passive view.
func BenchmarkStepShuffleAccept(b *testing.B) {
	s := benchState(b)
	shuffles := make([]Input, 64)
	for i := range shuffles {
		peers := make([]Peer, 8)
		for j := range peers {
			peers[j] = testPeer(peer.ID(200 + (i*8+j)%300))
		}
		shuffles[i] = recv(2, &Shuffle{Origin: peers[0], TTL: 1, Peers: peers})
	}
	benchStep(b, s, func(i int) Input { return shuffles[i%len(shuffles)] })
}

// BenchmarkStepShuffleForward: a Shuffle passed on to a random neighbour.
func BenchmarkStepShuffleForward(b *testing.B) {
	s := benchState(b)
	in := recv(2, &Shuffle{Origin: testPeer(300), TTL: 5, Peers: []Peer{testPeer(300), testPeer(301), testPeer(302)}})
	benchStep(b, s, func(int) Input { return in })
}

// BenchmarkStepForwardJoin: a ForwardJoin passed on along the walk.
func BenchmarkStepForwardJoin(b *testing.B) {
	s := benchState(b)
	in := recv(2, &ForwardJoin{NewNode: testPeer(300), TTL: 5})
	benchStep(b, s, func(int) Input { return in })
}

// BenchmarkStepNeighborRefused: a low-priority Neighbor refused by a full
// node.
func BenchmarkStepNeighborRefused(b *testing.B) {
	s := benchState(b)
	in := recv(100, &Neighbor{Priority: PriorityLow, Addr: addrOf(100), Nonce: 1})
	benchStep(b, s, func(int) Input { return in })
}

// BenchmarkStepNeighborRenew: a Neighbor from a current neighbour, accepted
// without changing the views.
func BenchmarkStepNeighborRenew(b *testing.B) {
	s := benchState(b)
	in := recv(2, &Neighbor{Priority: PriorityHigh, Addr: addrOf(2), Nonce: 1})
	benchStep(b, s, func(int) Input { return in })
}

// BenchmarkStepStaleDisconnect: a Disconnect for an old link, ignored.
func BenchmarkStepStaleDisconnect(b *testing.B) {
	s := benchState(b)
	in := recv(2, &Disconnect{Alive: true, Nonce: 1})
	benchStep(b, s, func(int) Input { return in })
}

// BenchmarkStepShuffleTimer: the periodic shuffle: re-arm the timer and
// send a Shuffle of 8 peers.
func BenchmarkStepShuffleTimer(b *testing.B) {
	s := benchState(b)
	benchStep(b, s, func(int) Input { return timerInput(Timer{Kind: TimerShuffle, Nonce: s.shuffleNonce}) })
}
