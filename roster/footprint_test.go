package roster

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// The member list is what every node holds of every member, so its bytes
// per record bound how large a cluster a node, or a simulation of every
// node, can hold (docs/benchmarks.md, "Member list memory"). A record
// without metadata costs its entry in the index and its ID in the sorted
// list; storing it copies nothing (its address is the received string).
// Records lie in a dense slice, which is the ID list too, found through an
// index of 4-byte positions (table).
func TestRecordsWithoutMetaCostUnder70Bytes(t *testing.T) {
	const members = 10_000
	addr := "10.0.0.1:7946"
	recs := make([]Record, 0, members)
	for i := range members {
		id := peer.ID(2 + (i*7919)%members)
		recs = append(recs, Record{ID: id, Addr: addr, Incarnation: 1, State: StateAlive})
	}
	r := newRoster(t, 1, 1, Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	step(t, r, t0, receive(recs...))
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Equal(t, members+1, r.Len())
	perRecord := float64(after.HeapAlloc-before.HeapAlloc) / members
	t.Logf("%.0f bytes per record", perRecord)
	require.Less(t, perRecord, 70.0, "98 in a Go map beside a list of IDs, 124 before that when addr and meta were two strings")
	runtime.KeepAlive(recs)
	runtime.KeepAlive(r)
}
