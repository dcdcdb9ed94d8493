package plumtree

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Invariants is the safety net of every other test: each corruption below
// must be reported.
func TestInvariantsCatchCorruption(t *testing.T) {
	t.Run("lag measure", func(t *testing.T) {
		s := newNode(t, 1, adaptive(), 2)
		require.NoError(t, s.Invariants())
		s.lag.live = 1
		require.ErrorContains(t, s.Invariants(), "counted live")
		s.lag.live, s.lag.next = 0, graftedRingSize
		require.ErrorContains(t, s.Invariants(), "out of range")
		s.lag.next, s.lag.longest = 0, time.Hour
		require.ErrorContains(t, s.Invariants(), "longest lag")
	})
	setup := func(t *testing.T) *State {
		s := newNode(t, 1, Config{}, 2, 3, 4)
		makeLazy(t, s, 4)
		step(t, s, at(0), recv(4, ihave(Announcement{ID: mid(1)})))
		step(t, s, at(0), recv(2, &Gossip{ID: mid(2), Payload: []byte("m")}))
		require.NoError(t, s.Invariants())
		return s
	}
	for name, corrupt := range map[string]func(s *State){
		"self is a neighbour": func(s *State) {
			p := s.peers.get(s.peers.eager[0])
			s.peers.ids[s.peers.index(p.id)] = 1
			p.id, s.peers.eager[0] = 1, 1
		},
		"eager and lazy":      func(s *State) { s.peers.lazy = append(s.peers.lazy, s.peers.eager[0]) },
		"listed twice":        func(s *State) { s.peers.eager = append(s.peers.eager, s.peers.eager[0]) },
		"wrong role":          func(s *State) { s.peers.get(s.peers.eager[0]).role = roleLazy },
		"queued, no timer":    func(s *State) { s.lazy.armed = false },
		"queued, not pending": func(s *State) { s.peers.get(s.peers.lazy[0]).pending = false; s.lazy.pending = nil },
		"queue count":         func(s *State) { s.lazy.queued++ },
		"history bytes":       func(s *State) { s.hist.bytes++ },
		"history index": func(s *State) {
			_, slot, _ := s.hist.index.find(mid(2), &s.hist.items, s.hist.headSeq)
			s.hist.index.removeSlot(slot, &s.hist.items, s.hist.headSeq)
		},
		"history over cap":  func(s *State) { s.hist.items.max = 0 },
		"released payload":  func(s *State) { s.hist.held = 0; s.hist.bytes = 0 },
		"missing delivered": func(s *State) { s.missing.add(mid(2), 4, 0, 0, 1) },
		"missing non-peer":  func(s *State) { s.missing.add(mid(7), 8, 0, 0, 1) },
		"missing cost":      func(s *State) { s.missing.cost++ },
		"missing no timer":  func(s *State) { s.missing.entry(s.missing.lookup(mid(1))).due = 0 },
		"missing used up":   func(s *State) { s.missing.entry(s.missing.lookup(mid(1))).anns = nil },
		"missing twice":     func(s *State) { e := s.missing.entry(s.missing.lookup(mid(1))); e.anns = append(e.anns, e.anns[0]) },
	} {
		t.Run(name, func(t *testing.T) {
			s := setup(t)
			corrupt(s)
			require.ErrorContains(t, s.Invariants(), "plumtree: ")
		})
	}
}
