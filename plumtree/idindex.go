package plumtree

import "hash/maphash"

// idIndex maps each ID the history remembers to the sequence number of its
// item. It is an open-addressing hash table with linear probing, at most
// three quarters full, whose 8-byte slots hold a 32-bit tag of the ID's hash and the
// low 32 bits of the sequence number; a tag that matches is confirmed
// against the ID in the history's ring. So a lookup of an ID never seen,
// the common case of a payload arriving, reads one slot of a compact array,
// where a Go map would follow three pointers first.
//
// The tag's low bits are the slot the ID hashes to, so the table grows and
// deletes (by shifting back the slots after a hole) without reading the
// ring. The hash is seeded per table like a Go map's, against crafted IDs
// that collide; the seed changes where IDs sit, never what the core does.
type idIndex struct {
	slots []uint64 // 0 is empty; otherwise tag<<32 | uint32(seq)
	n     int
	seed  maphash.Seed
}

// maxIndexSlots bounds the table so that a tag holds its slot number; it
// caps MaxSeenIDs at half of it.
const maxIndexSlots = 1 << 31

// maxLoad is how full the table may get before it doubles: 3/4, where
// linear probing reads about 8 slots on a miss (two cache lines at most);
// at 1/2, 2.5 slots, it cost 26 bytes per remembered ID at 10,000 IDs
// against 13, and the seen IDs of a simulated cluster grow with the
// square of its nodes (docs/benchmarks.md, "Member list memory, shared
// records"). The tags keep the misses from reading the ring.
const maxLoadNum, maxLoadDen = 3, 4

// tagBit is set in every tag, so that an occupied slot is never 0.
const tagBit = 1 << 31

func newIDIndex() idIndex { return idIndex{seed: maphash.MakeSeed()} }

func (x *idIndex) len() int { return x.n }

// tag returns the tag of id; its bits under the table's mask are its home
// slot.
func (x *idIndex) tag(id MessageID) uint32 {
	return uint32(maphash.Bytes(x.seed, id[:])>>32) | tagBit
}

// find returns the position in items of id's item, if indexed, and its
// slot. headSeq is the sequence number of items' oldest item.
func (x *idIndex) find(id MessageID, items *ring[histItem], headSeq uint64) (pos, slot int, ok bool) {
	if x.n == 0 {
		return 0, -1, false
	}
	tag := x.tag(id)
	mask := uint32(len(x.slots) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return 0, -1, false
		}
		if uint32(v>>32) == tag {
			pos := int(uint32(v) - uint32(headSeq))
			if pos < items.len() && items.at(pos).id == id {
				return pos, int(i), true
			}
		}
	}
}

// insert indexes id, which must not be indexed yet, under seq.
func (x *idIndex) insert(id MessageID, seq uint64) {
	if maxLoadDen*(x.n+1) > maxLoadNum*len(x.slots) {
		x.grow()
	}
	x.place(uint64(x.tag(id))<<32 | uint64(uint32(seq)))
	x.n++
}

// place puts an occupied slot value at the first free slot from its home.
func (x *idIndex) place(v uint64) {
	mask := uint32(len(x.slots) - 1)
	i := uint32(v>>32) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = v
}

// grow doubles the table (16 slots at first) and places every slot again.
func (x *idIndex) grow() { x.resize(max(16, 2*len(x.slots))) }

// shrink halves the table once it is at most 3/16 full (3/8 after), so
// that the slots a burst of IDs needed are given back once they are
// forgotten.
func (x *idIndex) shrink() {
	if len(x.slots) > 16 && 16*x.n < 3*len(x.slots) {
		x.resize(len(x.slots) / 2)
	}
}

// resize moves every slot to a table of size slots, a power of two.
func (x *idIndex) resize(size int) {
	old := x.slots
	x.slots = make([]uint64, size)
	for _, v := range old {
		if v != 0 {
			x.place(v)
		}
	}
}

// removeSlot empties slot i, found by find, and shifts back the slots after
// it that would no longer be reachable from their home (Knuth's algorithm R
// for linear probing), so that no tombstone is left behind.
func (x *idIndex) removeSlot(i int) {
	mask := len(x.slots) - 1
	hole := i
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		home := int(uint32(x.slots[j]>>32)) & mask
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
