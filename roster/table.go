package roster

import (
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/plumview/plumview/peer"
)

// Body is the part of a held record that every node holding the record
// holds alike: the member's ID, address, metadata, incarnation and state.
// A roster never changes a Body it stored: a new record is a new Body. So
// the rosters of one process can share them (Bodies): the n member lists
// of a simulation of n nodes then hold one Body per record, where each
// held its own copy. Its fields are the roster's; it is comparable.
type Body struct {
	id      peer.ID
	am      string // addr, then meta
	inc     uint64
	addrLen uint16
	state   State
}

// Bodies shares the Bodies of records between the rosters of one process
// (Config.Bodies): Share returns a Body equal to b that the caller may
// keep and never changes, the same one for every equal b while it holds
// it. A simulator hands one to all its nodes; the runtime, one roster a
// process, needs none. Rosters call it from whatever goroutines step
// them: an implementation shared by rosters stepped concurrently must be
// safe for it.
type Bodies interface {
	Share(b Body) *Body
}

// member is one record held: its Body and when this node's entry took its
// current state, this node's own. 16 bytes, where the whole record took
// 48 (docs/benchmarks.md, "Member list memory, shared records").
type member struct {
	b     *Body
	since int64
}

// id returns the member's ID.
func (m *member) id() peer.ID { return m.b.id }

// state returns the member's state.
func (m *member) state() State { return m.b.state }

// entry returns the member's record as an entry.
func (m *member) entry() entry {
	return entry{am: m.b.am, inc: m.b.inc, since: m.since, addrLen: m.b.addrLen, state: m.b.state}
}

// table holds the records, one member each, in a dense slice, found
// through an open-addressing index of their positions. Every node holds a
// record of every member, so a simulation of n nodes holds n² of them:
// 16 bytes each in the slice (the record's body is shared, above) and a
// 4-byte slot at most three quarters full in the index, where a Go map of
// entries took about 100 bytes per record with the sorted list of IDs
// beside it (docs/benchmarks.md, "Member list memory"). The slice is the
// ID list too: sorted when the roster says so.
//
// The index is seeded per table, like a Go map, against IDs crafted to
// collide; the seed changes where positions sit in the index, never the
// order of the records nor anything the roster does.
type table struct {
	recs   []member
	slots  []int32 // 0 is empty; otherwise the position of a record, plus one
	seed   uint64
	bodies Bodies // nil: each record's Body is the table's own
}

func newTable(bodies Bodies) table {
	return table{seed: maphash.String(maphash.MakeSeed(), "roster"), bodies: bodies}
}

// member returns the member that holds e for id, its Body shared if the
// table shares them.
func (t *table) member(id peer.ID, e entry) member {
	b := Body{id: id, am: e.am, inc: e.inc, addrLen: e.addrLen, state: e.state}
	if t.bodies != nil {
		return member{b: t.bodies.Share(b), since: e.since}
	}
	return member{b: &b, since: e.since}
}

func (t *table) len() int { return len(t.recs) }

// home returns the slot where id's search starts.
func (t *table) home(id peer.ID) int {
	// The finaliser of splitmix64 over the seeded ID: every bit of the ID
	// reaches the low bits the mask keeps.
	h := uint64(id) + t.seed
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	h ^= h >> 31
	return int(h & uint64(len(t.slots)-1))
}

// find returns the position of id's record, or -1.
func (t *table) find(id peer.ID) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		p := t.slots[i]
		if p == 0 {
			return -1
		}
		if t.recs[p-1].id() == id {
			return int(p - 1)
		}
	}
}

// set replaces the record at position p, whose ID is id, by e.
func (t *table) set(p int, id peer.ID, e entry) { t.recs[p] = t.member(id, e) }

// get returns a copy of id's entry, if held.
func (t *table) get(id peer.ID) (entry, bool) {
	if p := t.find(id); p >= 0 {
		return t.recs[p].entry(), true
	}
	return entry{}, false
}

// add appends the record of id, which must not be held.
func (t *table) add(id peer.ID, e entry) {
	if len(t.recs) == cap(t.recs) {
		// Grow by an eighth, not by append's quarter or more: every node
		// of a simulation holds a slice as long as the cluster, whose
		// slack is paid n² times (docs/benchmarks.md, "Member list
		// memory, shared records").
		grown := make([]member, len(t.recs), len(t.recs)+max(16, len(t.recs)/8))
		copy(grown, t.recs)
		t.recs = grown
	}
	t.recs = append(t.recs, t.member(id, e))
	if 4*len(t.recs) > 3*len(t.slots) {
		t.reindex()
	} else {
		t.place(id, len(t.recs)-1)
	}
}

// place indexes the record at position p, whose ID is id.
func (t *table) place(id peer.ID, p int) {
	mask := len(t.slots) - 1
	i := t.home(id)
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = int32(p + 1)
}

// reindex rebuilds the index for the records as they lie, with the
// smallest power-of-two size that keeps it at most half full (at least 16
// slots), or at its current size if that is smaller and holds the records
// at most three quarters full: a sort or a filter of a table that grew
// by adding does not double its index (at 20,000 members, 32,768 slots
// where it took 65,536: 6.5 bytes a record, paid by every node of a
// simulation).
func (t *table) reindex() {
	size := 16
	for size < 2*len(t.recs) {
		size *= 2
	}
	if cur := len(t.slots); cur >= 16 && cur < size && 4*len(t.recs) <= 3*cur {
		size = cur
	}
	if len(t.slots) == size {
		clear(t.slots)
	} else {
		t.slots = make([]int32, size)
	}
	for p := range t.recs {
		t.place(t.recs[p].id(), p)
	}
}

// filter keeps the records keep returns true for, in their order, and
// reindexes them if any was dropped. keep must not change the table.
func (t *table) filter(keep func(*member) bool) {
	kept := t.recs[:0]
	for i := range t.recs {
		if keep(&t.recs[i]) {
			kept = append(kept, t.recs[i])
		}
	}
	if len(kept) == len(t.recs) {
		return
	}
	clear(t.recs[len(kept):])
	t.recs = kept
	t.reindex()
}

// sortByID sorts the records by ID and reindexes them.
func (t *table) sortByID() {
	slices.SortFunc(t.recs, func(a, b member) int { return cmp.Compare(a.id(), b.id()) })
	t.reindex()
}

// search returns the position of the first record with an ID >= id, and
// whether it is id; the records must be sorted.
func (t *table) search(id peer.ID) (int, bool) {
	return slices.BinarySearchFunc(t.recs, id, func(m member, id peer.ID) int { return cmp.Compare(m.id(), id) })
}

// indexed counts the occupied slots of the index (for Invariants).
func (t *table) indexed() int {
	n := 0
	for _, p := range t.slots {
		if p != 0 {
			n++
		}
	}
	return n
}

// clone returns an independent copy.
func (t *table) clone() table {
	c := *t
	c.recs = slices.Clone(t.recs)
	c.slots = slices.Clone(t.slots)
	return c
}
