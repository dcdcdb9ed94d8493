package plumtree

import (
	"hash/maphash"
	"math/bits"
)

// idIndex maps each ID the history remembers to the sequence number of its
// item. It is an open-addressing hash table with linear probing, at most
// three quarters full, whose 4-byte slots hold the low bits of the
// sequence number, enough to tell apart every item the ring can hold
// (seqBits: 17 for the default MaxSeenIDs), under a tag of the ID's hash in
// the bits left (15); a tag that matches is confirmed against the ID in
// the history's ring. So a lookup of an ID never seen, the common case of a
// payload arriving, reads one or two slots of a compact array, where a Go
// map would follow three pointers first.
//
// A slot does not hold enough of the hash to say where the ID's search
// starts, so growing, shrinking and deleting (which shifts back the slots
// after a hole) hash again the IDs of the slots they move, read from the
// ring. The hash is seeded per table like a Go map's, against crafted IDs
// that collide; the seed changes where IDs sit, never what the core does.
type idIndex struct {
	slots   []uint32 // 0 is empty; otherwise tag | seq&seqMask
	n       int
	seed    maphash.Seed
	seqMask uint32 // the sequence bits of a slot: 1<<seqBits - 1
}

// maxIndexSlots bounds the table; it caps MaxSeenIDs at half of it, so
// that a slot keeps a bit of tag above the sequence bits.
const maxIndexSlots = 1 << 31

// maxLoad is how full the table may get before it doubles: 3/4, where
// linear probing reads about 8 slots on a miss (one cache line or two);
// at 1/2, 2.5 slots, it cost twice the bytes per remembered ID, and the
// seen IDs of a simulated cluster grow with the square of its nodes
// (docs/benchmarks.md, "Member list memory, shared records"). The tags
// keep the misses from reading the ring.
const maxLoadNum, maxLoadDen = 3, 4

// tagBit is set in every tag, so that an occupied slot is never 0.
const tagBit = 1 << 31

// newIDIndex returns an index for a ring of at most maxSeen items.
func newIDIndex(maxSeen int) idIndex {
	seqBits := bits.Len(uint(maxSeen)) // 1<<seqBits > maxSeen
	return idIndex{seed: maphash.MakeSeed(), seqMask: uint32(1)<<seqBits - 1}
}

func (x *idIndex) len() int { return x.n }

func (x *idIndex) hash(id MessageID) uint64 { return maphash.Bytes(x.seed, id[:]) }

// tagOf returns the tag of a hash: its top bits above the sequence bits,
// with tagBit set.
func (x *idIndex) tagOf(h uint64) uint32 { return uint32(h>>32)&^x.seqMask | tagBit }

// home returns where the search for an ID of hash h starts in a table of
// size slots.
func home(h uint64, size int) int { return int(h & uint64(size-1)) }

// position returns the position in items of the item a slot value names.
func (x *idIndex) position(v uint32, headSeq uint64) int {
	return int((v - uint32(headSeq)) & x.seqMask)
}

// find returns the position in items of id's item, if indexed, and its
// slot. headSeq is the sequence number of items' oldest item.
func (x *idIndex) find(id MessageID, items *ring[histItem], headSeq uint64) (pos, slot int, ok bool) {
	if x.n == 0 {
		return 0, -1, false
	}
	h := x.hash(id)
	tag := x.tagOf(h)
	mask := len(x.slots) - 1
	for i := home(h, len(x.slots)); ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return 0, -1, false
		}
		if v&^x.seqMask == tag {
			pos := x.position(v, headSeq)
			if pos < items.len() && items.at(pos).id == id {
				return pos, i, true
			}
		}
	}
}

// insert indexes id, which must not be indexed yet, under seq; items and
// headSeq are the ring without it.
func (x *idIndex) insert(id MessageID, seq uint64, items *ring[histItem], headSeq uint64) {
	if maxLoadDen*(x.n+1) > maxLoadNum*len(x.slots) {
		x.resize(max(16, 2*len(x.slots)), items, headSeq)
	}
	h := x.hash(id)
	x.place(x.tagOf(h)|uint32(seq)&x.seqMask, home(h, len(x.slots)))
	x.n++
}

// place puts an occupied slot value at the first free slot from i.
func (x *idIndex) place(v uint32, i int) {
	mask := len(x.slots) - 1
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = v
}

// homeOf returns the home of the ID the slot value v names.
func (x *idIndex) homeOf(v uint32, items *ring[histItem], headSeq uint64) int {
	return home(x.hash(items.at(x.position(v, headSeq)).id), len(x.slots))
}

// shrink halves the table once it is at most 3/16 full (3/8 after), so
// that the slots a burst of IDs needed are given back once they are
// forgotten.
func (x *idIndex) shrink(items *ring[histItem], headSeq uint64) {
	if len(x.slots) > 16 && 16*x.n < 3*len(x.slots) {
		x.resize(len(x.slots)/2, items, headSeq)
	}
}

// resize moves every slot to a table of size slots, a power of two.
func (x *idIndex) resize(size int, items *ring[histItem], headSeq uint64) {
	old := x.slots
	x.slots = make([]uint32, size)
	for _, v := range old {
		if v != 0 {
			x.place(v, x.homeOf(v, items, headSeq))
		}
	}
}

// removeSlot empties slot i, found by find, and shifts back the slots after
// it that would no longer be reachable from their home (Knuth's algorithm R
// for linear probing), so that no tombstone is left behind. Every slot
// still names an item of items.
func (x *idIndex) removeSlot(i int, items *ring[histItem], headSeq uint64) {
	mask := len(x.slots) - 1
	hole := i
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		home := x.homeOf(x.slots[j], items, headSeq)
		// The slot at j may move to the hole if its home is not in the
		// cyclic range (hole, j].
		if (j-home)&mask >= (j-hole)&mask {
			x.slots[hole] = x.slots[j]
			hole = j
		}
	}
	x.slots[hole] = 0
	x.n--
}
