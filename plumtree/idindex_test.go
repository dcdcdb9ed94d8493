package plumtree

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// The history answers has and payload as a plain list of its remembered
// IDs would, whatever the order of adds, evictions and expiries, and its
// index stays consistent (check) and at most three quarters full.
func TestHistoryIndexMatchesAModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxSeen := rapid.IntRange(1, 200).Draw(t, "maxSeen")
		maxHeld := rapid.IntRange(1, maxSeen).Draw(t, "maxHeld")
		h := testHistory(maxSeen, maxHeld, 1<<20)
		var hc histCounts
		var model []MessageID // remembered IDs, oldest first
		now := time.Duration(0)
		// IDs come from a small space so that lookups of known and
		// unknown IDs, and re-adds after eviction, all happen.
		idOf := func(n uint64) MessageID {
			var id MessageID
			binary.BigEndian.PutUint64(id[8:], n)
			return id
		}
		steps := rapid.IntRange(1, 600).Draw(t, "steps")
		for range steps {
			id := idOf(rapid.Uint64Range(0, 300).Draw(t, "id"))
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0:
				now += time.Duration(rapid.IntRange(0, 40).Draw(t, "advance")) * time.Second
				h.expire(now, &hc)
				for len(model) > h.items.len() {
					model = model[1:]
				}
			default:
				if h.has(id) {
					continue
				}
				h.add(id, []byte{1}, now, &hc)
				model = append(model, id)
				if len(model) > maxSeen {
					model = model[len(model)-maxSeen:]
				}
			}
			require.NoError(t, h.check())
			require.Equal(t, len(model), h.items.len())
			require.LessOrEqual(t, maxLoadDen*h.index.len(), maxLoadNum*len(h.index.slots))
			probe := idOf(rapid.Uint64Range(0, 300).Draw(t, "probe"))
			require.Equal(t, slices.Contains(model, probe), h.has(probe), "has(%v)", probe)
		}
	})
}

// IDs that all hash to one slot still index correctly: a table whose
// probes wrap around its end, with removals from the middle of a cluster.
func TestIDIndexClusterWrapsAndShiftsBack(t *testing.T) {
	h := testHistory(64, 64, 1<<20)
	var hc histCounts
	var ids []MessageID
	for n := uint64(0); len(ids) < 6; n++ {
		var id MessageID
		binary.BigEndian.PutUint64(id[:8], n)
		// Keep the IDs whose home is one of the last two slots of the
		// 16-slot table, so that their cluster wraps to the start.
		if home(h.index.hash(id), 16) >= 14 {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		h.add(id, nil, 0, &hc)
	}
	require.Len(t, h.index.slots, 16)
	require.NoError(t, h.check())
	for len(ids) > 0 {
		h.forgetOldest()
		ids = ids[1:]
		require.NoError(t, h.check())
		for _, id := range ids {
			require.True(t, h.has(id))
		}
	}
	require.Zero(t, h.index.len())
	require.Equal(t, make([]uint32, 16), h.index.slots)
}
