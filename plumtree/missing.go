package plumtree

import (
	"fmt"
	"math"
	"time"

	"github.com/plumview/plumview/peer"
)

// missingSet is the paper's missing set (S2 Algorithm 2): for each message
// announced by IHAVE but not yet received, the announcements (node, round) in
// arrival order, and the deadline of the one timer armed for the ID.
//
// It is bounded: cost, the number of announcements held with an ID whose
// announcements are used up counting as one, never exceeds max; the oldest ID
// is forgotten first. Entries live in a slab linked in creation order (the
// FIFO for eviction and age expiry) and are found through index, so steady
// traffic allocates nothing. Once a quarter full, the slab and the index
// are rebuilt at the size of what is held (shrink): a burst of
// announcements, such as the IHAVEs for every recent broadcast that a
// newcomer to a large cluster gets from each new neighbour, leaves no
// memory held behind it (a Go map never shrinks on its own).
type missingSet struct {
	head, tail int32 // oldest and newest entry; -1 when empty (first: every payload checks it)
	index      map[MessageID]int32
	slab       []missingEntry
	free       []int32
	cost       int
	max        int

	evicted, expired, refused uint64
}

type missingEntry struct {
	id      MessageID
	anns    []ann // announcements not yet used, in arrival order
	created time.Duration
	due     time.Duration // when the timer armed for this ID is due
	// graftedTo is the peer of the first GRAFT (deviation 15 tells its
	// answer from the eager copy) and grafts how many were sent, up to 255.
	graftedTo peer.ID
	grafts    uint8
	grafted   bool // at least one GRAFT was sent for this ID
	live      bool
	prev      int32
	next      int32
}

// ann is one announcement (mID, node, round) of the paper, less the ID.
type ann struct {
	peer  peer.ID
	round uint32
}

// keepAnnsCap is the largest announcement buffer a freed slot keeps for reuse.
const keepAnnsCap = 8

func newMissingSet(max int) missingSet {
	return missingSet{index: make(map[MessageID]int32), head: -1, tail: -1, max: max}
}

func entryCost(e *missingEntry) int { return max(1, len(e.anns)) }

// lookup returns the slot of id, or -1.
func (m *missingSet) lookup(id MessageID) int32 {
	if m.head < 0 {
		return -1 // empty: spare the map a probe
	}
	if i, ok := m.index[id]; ok {
		return i
	}
	return -1
}

func (m *missingSet) entry(i int32) *missingEntry { return &m.slab[i] }

// add records the announcement (id, peer, round). It reports whether it
// created the entry (the caller then arms its timer, due at due) and whether
// the announcement was kept: a second announcement of id by the same peer
// is not (the first one is the one a GRAFT would use), nor one that does not
// fit even after evicting every other entry.
func (m *missingSet) add(id MessageID, peer peer.ID, round uint32, now, due time.Duration) (created, kept bool) {
	i := m.lookup(id)
	if i >= 0 {
		for _, a := range m.slab[i].anns {
			if a.peer == peer {
				return false, false
			}
		}
		if len(m.slab[i].anns) > 0 && !m.makeRoom(i) {
			m.refused++
			return false, false
		}
		e := &m.slab[i]
		if len(e.anns) > 0 {
			m.cost++
		}
		e.anns = append(e.anns, ann{peer: peer, round: round})
		return false, true
	}
	if !m.makeRoom(-1) {
		m.refused++
		return false, false
	}
	i = m.alloc()
	e := &m.slab[i]
	e.id, e.created, e.due, e.live = id, now, due, true
	e.anns = append(e.anns[:0], ann{peer: peer, round: round})
	m.link(i)
	m.index[id] = i
	m.cost++
	return true, true
}

// makeRoom evicts the oldest entries other than keep until one more
// announcement fits.
func (m *missingSet) makeRoom(keep int32) bool {
	for m.cost+1 > m.max {
		v := m.head
		if v == keep {
			v = m.slab[v].next
		}
		if v < 0 {
			return false
		}
		m.removeAt(v)
		m.evicted++
	}
	return true
}

func (m *missingSet) alloc() int32 {
	if n := len(m.free); n > 0 {
		i := m.free[n-1]
		m.free = m.free[:n-1]
		return i
	}
	m.slab = append(m.slab, missingEntry{})
	return int32(len(m.slab) - 1)
}

func (m *missingSet) link(i int32) {
	e := &m.slab[i]
	e.prev, e.next = m.tail, -1
	if m.tail >= 0 {
		m.slab[m.tail].next = i
	} else {
		m.head = i
	}
	m.tail = i
}

// remove forgets id, if held.
func (m *missingSet) remove(id MessageID) {
	if i := m.lookup(id); i >= 0 {
		m.removeAt(i)
		m.shrink()
	}
}

// missingMinShrink is the slab size under which the set keeps its memory.
const missingMinShrink = 64

// shrink rebuilds the slab and the index at the size of what is held once
// the set is a quarter full. It renumbers the slots: callers holding one
// must not call it.
func (m *missingSet) shrink() {
	n := len(m.index)
	if len(m.slab) <= missingMinShrink || 4*n > len(m.slab) {
		return
	}
	slab := make([]missingEntry, 0, max(2*n, missingMinShrink/2))
	index := make(map[MessageID]int32, n)
	for i := m.head; i >= 0; i = m.slab[i].next {
		e := m.slab[i]
		k := int32(len(slab))
		e.prev, e.next = k-1, k+1
		slab = append(slab, e)
		index[e.id] = k
	}
	m.head, m.tail = -1, -1
	if n > 0 {
		m.head, m.tail = 0, int32(n-1)
		slab[n-1].next = -1
	}
	m.slab, m.index, m.free = slab, index, nil
}

func (m *missingSet) removeAt(i int32) {
	e := &m.slab[i]
	if e.prev >= 0 {
		m.slab[e.prev].next = e.next
	} else {
		m.head = e.next
	}
	if e.next >= 0 {
		m.slab[e.next].prev = e.prev
	} else {
		m.tail = e.prev
	}
	m.cost -= entryCost(e)
	delete(m.index, e.id)
	anns := e.anns[:0]
	if cap(anns) > keepAnnsCap {
		anns = nil
	}
	*e = missingEntry{anns: anns, prev: -1, next: -1}
	m.free = append(m.free, i)
}

// popFirst removes and returns the oldest announcement of entry i
// (the paper's removeFirstAnnouncement); the entry must hold one.
func (m *missingSet) popFirst(i int32) ann {
	e := &m.slab[i]
	a := e.anns[0]
	if len(e.anns) > 1 {
		m.cost--
	}
	n := copy(e.anns, e.anns[1:])
	e.anns = e.anns[:n]
	return a
}

// best returns the announcement of entry i with the lowest round r such that
// r < round and round-r >= threshold, not made by except (S2 Algorithm 4).
func (m *missingSet) best(i int32, round uint32, threshold int, except peer.ID) (ann, bool) {
	var found ann
	ok := false
	for _, a := range m.slab[i].anns {
		if a.peer == except || a.round >= round || int64(round-a.round) < int64(threshold) {
			continue
		}
		if !ok || a.round < found.round {
			found, ok = a, true
		}
	}
	return found, ok
}

// removePeer forgets every announcement made by peer (S2 Algorithm 3,
// NeighborDown). An entry left with no announcement and no GRAFT in flight
// is forgotten too: its timer would have nothing to do.
func (m *missingSet) removePeer(peer peer.ID) {
	for i := m.head; i >= 0; {
		e := &m.slab[i]
		next := e.next
		before := entryCost(e)
		kept := e.anns[:0]
		for _, a := range e.anns {
			if a.peer != peer {
				kept = append(kept, a)
			}
		}
		e.anns = kept
		m.cost += entryCost(e) - before
		if len(e.anns) == 0 && !e.grafted {
			m.removeAt(i)
		}
		i = next
	}
	m.shrink()
}

// expire forgets entries created maxAge or more before now. Their timers
// normally end them long before; this only guards against lost timers.
func (m *missingSet) expire(now, maxAge time.Duration) {
	for m.head >= 0 && m.slab[m.head].created+maxAge <= now {
		m.removeAt(m.head)
		m.expired++
	}
	m.shrink()
}

// nextDue returns when expire(_, maxAge) next has work to do.
func (m *missingSet) nextDue(maxAge time.Duration) time.Duration {
	if m.head < 0 {
		return math.MaxInt64
	}
	return m.slab[m.head].created + maxAge
}

// check verifies the set's invariants; isPeer tells current neighbours,
// delivered tells remembered delivered IDs.
func (m *missingSet) check(isPeer func(peer.ID) bool, delivered func(MessageID) bool) error {
	if len(m.slab) > m.max {
		return fmt.Errorf("plumtree: missing has %d slots, max %d", len(m.slab), m.max)
	}
	cost, n := 0, 0
	prev := int32(-1)
	for i := m.head; i >= 0; i = m.slab[i].next {
		e := &m.slab[i]
		if !e.live || e.prev != prev {
			return fmt.Errorf("plumtree: missing list broken at slot %d", i)
		}
		if j, ok := m.index[e.id]; !ok || j != i {
			return fmt.Errorf("plumtree: missing entry %v not indexed", e.id)
		}
		if len(e.anns) == 0 && !e.grafted {
			return fmt.Errorf("plumtree: missing entry %v has no announcement and no GRAFT in flight", e.id)
		}
		if e.due <= e.created {
			return fmt.Errorf("plumtree: missing entry %v has no timer due after its creation", e.id)
		}
		if delivered(e.id) {
			return fmt.Errorf("plumtree: missing entry %v was delivered", e.id)
		}
		for k, a := range e.anns {
			if !isPeer(a.peer) {
				return fmt.Errorf("plumtree: missing entry %v holds an announcement from non-neighbour %d", e.id, a.peer)
			}
			for _, b := range e.anns[:k] {
				if b.peer == a.peer {
					return fmt.Errorf("plumtree: missing entry %v holds two announcements from %d", e.id, a.peer)
				}
			}
		}
		cost += entryCost(e)
		n++
		prev = i
	}
	if prev != m.tail {
		return fmt.Errorf("plumtree: missing list tail is %d, want %d", m.tail, prev)
	}
	if n != len(m.index) || n+len(m.free) != len(m.slab) {
		return fmt.Errorf("plumtree: missing holds %d entries, %d indexed, %d free of %d slots", n, len(m.index), len(m.free), len(m.slab))
	}
	if cost != m.cost || cost > m.max {
		return fmt.Errorf("plumtree: missing cost %d (counted %d), max %d", cost, m.cost, m.max)
	}
	return nil
}
