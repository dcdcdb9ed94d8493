package plumtree

import (
	"strings"
	"testing"
	"time"

	"github.com/plumview/plumview/peer"
)

// byteReader hands out the fuzzer's bytes, zeros once they run out.
type byteReader struct{ b []byte }

func (r *byteReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *byteReader) id() MessageID { return mid(uint64(r.next() % 8)) }

// FuzzStep drives one core with random inputs built from bytes: neighbours
// (self included) coming and going, messages of every type from anyone,
// timers firing at any time, local broadcasts. No input may panic, the
// invariants must hold after every step, errors must be local misuse with the
// package prefix, and outputs must be well formed.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 3, 3, 2, 1, 1, 5, 2, 4, 6, 1, 3, 0, 2, 7, 4})
	f.Add([]byte{1, 0, 2, 0, 3, 3, 3, 2, 1, 1, 2, 0, 6, 0, 100, 6, 1, 200, 7, 3, 2, 3, 0, 0, 9, 4, 3, 0, 1, 1})
	f.Add([]byte{2, 0, 2, 0, 4, 7, 5, 2, 2, 1, 0, 3, 3, 4, 1, 2, 2, 1, 3, 9, 6, 0, 90, 6, 0, 50, 1, 2, 4, 2, 1, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteReader{b: data}
		mode := r.next()
		cfg := Config{
			LazyPushDelay:         []time.Duration{-1, 0, 3 * time.Millisecond}[mode%3],
			MaxIHaveEntries:       1 + int(mode>>2)%4,
			OptimizationThreshold: 1 + int(mode>>4)%4,
			DisableOptimization:   mode&0x80 != 0,
			MaxMissing:            1 + int(r.next())%8,
			MaxCachedPayloads:     1 + int(r.next())%4,
			MaxCachedBytes:        16,
			MaxPayloadBytes:       8,
			MaxSeenIDs:            8,
			MinGraftTimeout:       []time.Duration{0, 20 * time.Millisecond}[(mode>>1)&1],
			CalmPayloadRetention:  []time.Duration{0, 2 * time.Second}[(mode>>3)&1],
		}
		s, err := New(1, cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Duration(0)
		deliveredAt := map[MessageID]bool{}
		var out []Output
		for steps := 0; len(r.b) > 0 && steps < 2000; steps++ {
			in := fuzzInput(r, &now)
			before := s.Counters()
			out, err = s.Step(t0.Add(now), in, out[:0])
			if err != nil {
				if !strings.HasPrefix(err.Error(), "plumtree: ") {
					t.Fatalf("error without prefix: %v", err)
				}
				if len(out) != 0 {
					t.Fatalf("outputs with an error: %v", out)
				}
			}
			if err := s.Invariants(); err != nil {
				t.Fatalf("step %d (%v): %v", steps, in.Kind, err)
			}
			after := s.Counters()
			forgot := after.SeenEvicted+after.SeenExpired > before.SeenEvicted+before.SeenExpired
			if forgot {
				clear(deliveredAt)
			}
			for _, o := range out {
				checkOutput(t, s, o)
				if o.Kind == OutputDeliver {
					if deliveredAt[o.Delivery.ID] {
						t.Fatalf("%v delivered twice", o.Delivery.ID)
					}
					deliveredAt[o.Delivery.ID] = true
				}
			}
		}
	})
}

func fuzzInput(r *byteReader, now *time.Duration) Input {
	op := r.next()
	peer := peer.ID(r.next() % 6) // 1 is self
	switch op % 10 {
	case 0:
		return Input{Kind: InputNeighborUp, Peer: peer}
	case 1:
		return Input{Kind: InputNeighborDown, Peer: peer}
	case 2:
		return recv(peer, &Gossip{ID: r.id(), Round: uint32(r.next()) * 0x1010101, Payload: make([]byte, r.next()%12)})
	case 3:
		entries := make([]Announcement, r.next()%6)
		for i := range entries {
			entries[i] = Announcement{ID: r.id(), Round: uint32(r.next())}
		}
		return recv(peer, &IHave{Entries: entries})
	case 4:
		return recv(peer, &Graft{ID: r.id(), HasID: r.next()%2 == 0, Round: uint32(r.next())})
	case 5:
		return recv(peer, &Prune{})
	case 6:
		*now += time.Duration(r.next()) * time.Millisecond
		if op&0x10 != 0 {
			return Input{Kind: InputTimer, Timer: Timer{Kind: TimerDispatch}}
		}
		return Input{Kind: InputTimer, Timer: Timer{Kind: TimerGraft, ID: r.id()}}
	case 7:
		return Input{Kind: InputBroadcast, Payload: make([]byte, r.next()%12)}
	case 8:
		return recv(peer, nil)
	default:
		*now += time.Duration(r.next()) * time.Second
		return Input{Kind: InputKind(op % 7), Peer: peer}
	}
}

func checkOutput(t *testing.T, s *State, o Output) {
	cfg := s.Config()
	switch o.Kind {
	case OutputSend:
		if o.Peer == s.Self() || o.Msg == nil || !isNeighbour(s, o.Peer) {
			t.Fatalf("bad send %+v", o)
		}
		switch m := o.Msg.(type) {
		case *Gossip:
			if len(m.Payload) > cfg.MaxPayloadBytes {
				t.Fatalf("oversized payload sent")
			}
		case *IHave:
			if len(m.Entries) == 0 || len(m.Entries) > cfg.MaxIHaveEntries {
				t.Fatalf("IHave with %d entries", len(m.Entries))
			}
		}
	case OutputDeliver:
	case OutputSetTimer:
		if o.After <= 0 {
			t.Fatalf("timer with After %v", o.After)
		}
	default:
		t.Fatalf("unknown output %+v", o)
	}
}

// isNeighbour reports whether p is in either push set of s.
func isNeighbour(s *State, p peer.ID) bool {
	return s.peers.get(p) != nil
}
