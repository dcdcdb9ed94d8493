package plumtree

import "unsafe"

// PrefetchState hints that the state is about to be stepped: it starts
// loading the state's first two cache lines, which every step reads, and
// returns without waiting for them. A caller that steps many states in turn
// (the simulator) calls it a few steps ahead, so that their cache misses
// overlap. It reads and changes nothing.
func (s *State) PrefetchState() {
	p := unsafe.Pointer(s)
	prefetch(p)
	prefetch(unsafe.Add(p, 64))
}

// PrefetchPayload hints that a payload with this ID is about to arrive: if
// the ID is not among the last ones delivered, it starts loading what
// recording a new payload reads (the ID's slot in the seen-ID table, the
// history's next item, the eager peers), without waiting. It reads the
// state's first lines, so call it after PrefetchState has had time to work.
// It changes nothing.
func (s *State) PrefetchPayload(id MessageID) {
	h := &s.hist
	for i := uint8(0); i < h.recentLen; i++ {
		if h.recent[i] == id {
			return // a duplicate: the first lines are all it reads
		}
	}
	if x := &h.index; len(x.slots) > 0 {
		prefetch(unsafe.Pointer(&x.slots[x.tag(id)&uint32(len(x.slots)-1)]))
	}
	if r := &h.items; len(r.buf) > 0 {
		i := r.head + r.n
		if i >= len(r.buf) {
			i -= len(r.buf)
		}
		prefetch(unsafe.Pointer(&r.buf[i]))
	}
	if len(s.peers.eager) > 0 {
		prefetch(unsafe.Pointer(&s.peers.eager[0]))
	}
}
