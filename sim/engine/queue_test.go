package engine

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestQueueMatchesSortedOrder checks that the queue pops events in exact
// (at, seq) order whatever the mix of delays, fixed ones that fill the
// lanes and many others that overflow to the heap, as the clock advances
// with each pop.
func TestQueueMatchesSortedOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q queue
		var pending []key
		now, seq := time.Duration(0), uint64(0)
		delays := rapid.SliceOfN(rapid.Int64Range(0, 50), 1, 20).Draw(t, "delays")
		steps := rapid.IntRange(1, 400).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			if len(pending) > 0 && rapid.Bool().Draw(t, "pop") {
				slices.SortFunc(pending, func(a, b key) int {
					if less(&a, &b) {
						return -1
					}
					return 1
				})
				want := pending[0]
				pending = pending[1:]
				if got := q.peekAt(); got != want.at {
					t.Fatalf("peekAt %v, want %v", got, want.at)
				}
				e := q.pop()
				if e.at != want.at || e.seq != want.seq {
					t.Fatalf("popped %v/%d, want %v/%d", e.at, e.seq, want.at, want.seq)
				}
				now = e.at
				continue
			}
			seq++
			d := time.Duration(rapid.SampledFrom(delays).Draw(t, "delay"))
			q.push(event{at: now + d, seq: seq}, now)
			pending = append(pending, key{at: now + d, seq: seq})
			if q.len() != len(pending) {
				t.Fatalf("len %d, want %d", q.len(), len(pending))
			}
		}
	})
}
