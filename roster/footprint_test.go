package roster

import (
	"fmt"
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

// mapBodies shares Bodies through a map, as a simulator does.
type mapBodies map[Body]*Body

func (m mapBodies) Share(b Body) *Body {
	if p, ok := m[b]; ok {
		return p
	}
	p := &b
	m[b] = p
	return p
}

// Rosters that share the Bodies of their records (Config.Bodies), as a
// simulator's nodes do, hold 16 bytes and an index slot per record each
// (with the slack of the slice and the index: about 31 bytes a record and
// roster), where rosters that hold their own copies pay about 93, their
// Body and the address they decoded (docs/benchmarks.md, "Member list
// memory, shared records"). Each roster receives its own copy of the records, addresses
// included, as a node decodes them from the wire.
func TestSharedRecordsCostUnder34BytesPerRoster(t *testing.T) {
	const members, rosters = 2_000, 100
	bodies := mapBodies{}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rs := make([]*Roster, rosters)
	for k := range rs {
		rs[k] = newRoster(t, peer.ID(1_000_000+k), 1, Config{Bodies: bodies})
		recs := make([]Record, 0, members)
		for i := range members {
			id := peer.ID(2 + (i*7919)%members)
			addr := fmt.Sprintf("10.0.%d.%d:7946", id/256, id%256) // decoded: a string of its own
			recs = append(recs, Record{ID: id, Addr: addr, Incarnation: 1, State: StateAlive})
		}
		step(t, rs[k], t0, receive(recs...))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for _, r := range rs {
		require.Equal(t, members+1, r.Len())
		require.NoError(t, r.Invariants())
	}
	require.Len(t, bodies, members+rosters, "one Body per record, and each roster's own")
	perRecord := float64(after.HeapAlloc-before.HeapAlloc) / (members * rosters)
	t.Logf("%.1f bytes per record and roster", perRecord)
	require.Less(t, perRecord, 34.0, "about 93 when every roster holds its own copy")
	runtime.KeepAlive(rs)
}
