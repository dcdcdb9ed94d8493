package plumtree

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// historyHeap returns the heap bytes the history holds beyond the empty
// one, measured after a collection.
func historyHeap(t *testing.T, build func() *history) (*history, float64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return h, float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
}

// Every node of a large cluster remembers every broadcast of the last
// SeenRetention: the join of each member, so the seen IDs grow with the
// square of a simulated cluster (docs/benchmarks.md, "Member list
// memory"). An ID whose payload was released costs its 24-byte item and
// its 4-byte index slot at most three quarters full, not a payload slot; and once the burst has expired the
// history gives its capacity back.
func TestHistoryFootprintOfABurst(t *testing.T) {
	const ids = 10_000
	payload := []byte("x") // shared: only the history's own bytes count
	var hc histCounts
	h, total := historyHeap(t, func() *history {
		h := newHistory(Config{}.withDefaults())
		for i := range ids {
			h.add(mid(uint64(i+1)), payload, time.Duration(i)*time.Millisecond, &hc)
		}
		// Every payload expires 30 s after its delivery; the IDs stay.
		h.expire(time.Duration(ids)*time.Millisecond+DefaultPayloadRetention, &hc)
		return &h
	})
	require.Equal(t, ids, h.items.len())
	require.Zero(t, h.held)
	perID := total / ids
	t.Logf("%.1f bytes per remembered ID once its payload is released", perID)
	require.Less(t, perID, 36.0, "about 38 with 8-byte index slots, 51 with the index at most half full, 92 when each item kept a payload slot")

	h.expire(time.Duration(ids)*time.Millisecond+DefaultSeenRetention, &hc)
	require.Zero(t, h.items.len())
	require.LessOrEqual(t, len(h.items.buf), ringMinShrink, "the ring gives its capacity back")
	require.LessOrEqual(t, len(h.payloads.buf), ringMinShrink)
	require.LessOrEqual(t, len(h.index.slots), 16, "the index gives its capacity back")
	require.NoError(t, h.check())
}

// A ring halves once a quarter full, and keeps its order doing so.
func TestRingShrinksOnceAQuarterFull(t *testing.T) {
	r := newRing[int](1 << 20)
	for i := range 4096 {
		r.push(i)
	}
	size := len(r.buf)
	for i := range 4096 - size/4 {
		require.Equal(t, i, r.pop())
	}
	require.Equal(t, size/2, len(r.buf), "halved at a quarter full")
	for i := 4096 - size/4; r.len() > 0; i++ {
		require.Equal(t, i, r.pop())
	}
	require.Equal(t, ringMinShrink, len(r.buf))
}

// A newcomer to a large cluster gets an IHAVE for every recent broadcast
// from each new neighbour: thousands of missing IDs, all delivered or
// grafted within a second. Once they are gone the set holds memory for
// what is left only, in the same order.
func TestMissingSetShrinksAfterABurst(t *testing.T) {
	const burst = 5000
	m := newMissingSet(10_000)
	for i := range burst {
		created, kept := m.add(mid(uint64(i+1)), 2, 1, time.Duration(i), time.Second)
		require.True(t, created && kept)
	}
	for i := range burst - 10 {
		m.remove(mid(uint64(i + 1)))
	}
	require.LessOrEqual(t, len(m.slab), missingMinShrink, "the slab shrank with the set")
	require.Len(t, m.index, 10)
	k := burst - 10
	for i := m.head; i >= 0; i = m.slab[i].next {
		k++
		require.Equal(t, mid(uint64(k)), m.slab[i].id, "creation order kept")
	}
	require.Equal(t, burst, k)
	isPeer := func(p peer.ID) bool { return p == 2 }
	require.NoError(t, m.check(isPeer, func(MessageID) bool { return false }))
	m.expire(time.Hour, time.Minute)
	require.Zero(t, m.cost)
	require.NoError(t, m.check(isPeer, func(MessageID) bool { return false }))
}
