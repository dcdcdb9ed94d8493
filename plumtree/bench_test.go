package plumtree

import (
	"encoding/binary"
	"testing"
	"time"
)

// benchNode is node 1 with eager peers 2–6 and lazy peers 7–8.
func benchNode(b *testing.B, cfg Config) *State {
	s := newNode(b, 1, cfg, 2, 3, 4, 5, 6, 7, 8)
	makeLazy(b, s, 7, 8)
	return s
}

func benchID(i int) MessageID {
	var id MessageID
	binary.BigEndian.PutUint64(id[:8], 9)
	binary.BigEndian.PutUint64(id[8:], uint64(i)+1)
	return id
}

// A first receipt from eager peer 2, relayed to the 4 other eager peers and
// announced to the 2 lazy peers, in steady state: IDs are evicted from the
// caches (at their caps) as fast as new ones arrive. "small-caches" keeps
// them small enough to stay in the CPU caches.
func BenchmarkReceiveGossipFirst(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"batched", Config{}},
		{"immediate", immediate()},
		{"small-caches", Config{MaxSeenIDs: 1000, MaxCachedPayloads: 1000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchNode(b, bc.cfg)
			payload := make([]byte, 256)
			g := &Gossip{Round: 3, Payload: payload}
			in := recv(2, g)
			var out []Output
			var err error
			// Fill the caches so that the loop measures steady state.
			n := s.Config().MaxSeenIDs + 1000
			for i := 0; i < n; i++ {
				g.ID = benchID(-n + i - 1)
				out, err = s.Step(at(time.Duration(i)*time.Microsecond), in, out[:0])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.ID = benchID(i)
				out, err = s.Step(at(time.Duration(n+i)*time.Microsecond), in, out[:0])
			}
			b.StopTimer()
			if err != nil || len(out) < 4 {
				b.Fatalf("err %v, %d outputs", err, len(out))
			}
		})
	}
}

// A duplicate payload: counted, PRUNE sent.
func BenchmarkReceiveGossipDuplicate(b *testing.B) {
	s := benchNode(b, Config{})
	g := &Gossip{ID: benchID(0), Payload: make([]byte, 256)}
	step(b, s, at(0), recv(2, g))
	repeatStep(b, s, recv(3, g), 1)
}

// repeatStep steps the same input b.N times and checks that the last step
// produced want outputs.
func repeatStep(b *testing.B, s *State, in Input, want int) {
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _ = s.Step(at(time.Millisecond), in, out[:0])
	}
	b.StopTimer()
	if len(out) != want {
		b.Fatalf("%d outputs, want %d", len(out), want)
	}
}

// An IHAVE announcing one new message: a missing entry and a timer, in
// steady state (the missing set full, its oldest entry evicted each time).
func BenchmarkReceiveIHave(b *testing.B) {
	s := benchNode(b, Config{})
	m := &IHave{Entries: []Announcement{{Round: 2}}}
	in := recv(7, m)
	var out []Output
	n := s.Config().MaxMissing + 1000
	for i := 0; i < n; i++ {
		m.Entries[0].ID = benchID(-n + i - 1)
		out, _ = s.Step(at(0), in, out[:0])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Entries[0].ID = benchID(i)
		out, _ = s.Step(at(0), in, out[:0])
	}
	b.StopTimer()
	if len(out) != 1 {
		b.Fatalf("%d outputs", len(out))
	}
}

// A GRAFT for a held payload: the payload is sent back.
func BenchmarkReceiveGraft(b *testing.B) {
	s := benchNode(b, Config{})
	step(b, s, at(0), recv(2, &Gossip{ID: benchID(0), Payload: make([]byte, 256)}))
	repeatStep(b, s, recv(7, &Graft{ID: benchID(0), HasID: true, Round: 2}), 1)
}

// A local broadcast to 5 eager and 2 lazy peers.
func BenchmarkBroadcast(b *testing.B) {
	s := benchNode(b, Config{})
	payload := make([]byte, 256)
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, out, _ = s.Broadcast(at(time.Duration(i)*time.Microsecond), payload, out[:0])
	}
}
