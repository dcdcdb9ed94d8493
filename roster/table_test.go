package roster

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// The table holds what a map would, through adds, updates, filters and
// sorts, and keeps every record found at its position.
func TestTableAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := newTable(nil)
	model := map[peer.ID]uint64{}
	var order []peer.ID // the model's order of the records
	check := func() {
		t.Helper()
		require.Equal(t, len(model), tb.len())
		require.Equal(t, len(model), tb.indexed())
		require.LessOrEqual(t, 4*tb.len(), 3*max(len(tb.slots), 16), "at most three quarters full")
		for k, id := range order {
			require.Equal(t, id, tb.recs[k].id())
			require.Equal(t, k, tb.find(id))
			e, ok := tb.get(id)
			require.True(t, ok)
			require.Equal(t, model[id], e.inc)
		}
		require.Equal(t, -1, tb.find(peer.ID(1<<40)))
	}
	for round := range 2000 {
		id := peer.ID(1 + rng.IntN(500))
		switch op := rng.IntN(10); {
		case op < 6:
			if p := tb.find(id); p >= 0 {
				tb.set(p, id, entry{inc: uint64(round)})
			} else {
				tb.add(id, entry{inc: uint64(round)})
				order = append(order, id)
			}
			model[id] = uint64(round)
		case op < 8:
			drop := func(id peer.ID) bool { return id%7 == peer.ID(round%7) }
			tb.filter(func(m *member) bool { return !drop(m.id()) })
			order = slices.DeleteFunc(order, drop)
			for id := range model {
				if drop(id) {
					delete(model, id)
				}
			}
		default:
			tb.sortByID()
			slices.Sort(order)
			if len(order) > 0 {
				p, found := tb.search(order[len(order)/2])
				require.True(t, found)
				require.Equal(t, len(order)/2, p)
			}
		}
		check()
	}
	c := tb.clone()
	e := c.recs[0].entry()
	e.inc++
	c.set(0, c.recs[0].id(), e)
	require.NotEqual(t, c.recs[0].entry().inc, tb.recs[0].entry().inc, "a clone is independent")
}

// All yields what Members returns, in the same order, and stops when asked.
func TestAllYieldsTheMembersInOrder(t *testing.T) {
	r := newRoster(t, 5, 1, Config{})
	step(t, r, t0, receive(
		Record{ID: 9, Addr: "a", Incarnation: 1, State: StateAlive, Meta: []byte("m")},
		Record{ID: 3, Addr: "b", Incarnation: 2, State: StateSuspect},
		Record{ID: 7, Addr: "c", Incarnation: 1, State: StateFailed},
	))
	var all []Record
	for rec := range r.All() {
		all = append(all, rec)
	}
	require.Equal(t, r.Members(), all)
	require.Len(t, all, 4)
	n := 0
	for range r.All() {
		n++
		break
	}
	require.Equal(t, 1, n)
}

// A sort keeps the index at the size adding gave it while the records fill
// it at most three quarters: 3,001 records sit in 4,096 slots before and
// after, where a sort took 8,192; a filter that drops most of them shrinks
// it.
func TestSortKeepsTheIndexSize(t *testing.T) {
	tb := newTable(nil)
	for id := peer.ID(3001); id >= 1; id-- {
		tb.add(id, entry{inc: uint64(id)})
	}
	require.Equal(t, 4096, len(tb.slots))
	tb.sortByID()
	require.Equal(t, 4096, len(tb.slots), "the sort keeps the index's size")
	for id := peer.ID(1); id <= 3001; id++ {
		require.Equal(t, int(id-1), tb.find(id))
	}
	tb.filter(func(m *member) bool { return m.id() <= 100 })
	require.Equal(t, 256, len(tb.slots), "a filter to 100 records shrinks it")
	require.Equal(t, 100, tb.indexed())
	for id := peer.ID(1); id <= 100; id++ {
		require.Equal(t, int(id-1), tb.find(id))
	}
	require.Equal(t, -1, tb.find(101))
}
