package engine

import (
	"unsafe"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
)

// The joins and membership cycles of a large run are HyParView's messages
// and timers, each at a node whose state is not in cache. What they read
// lies past the broadcast core, in the membership core's state and the
// engine's fields after it, then in what that state points at: its views
// and its random source. The run prefetches both in two stages, as it does
// a payload's footprint: the state's lines (an address computed, nothing
// read) a few events ahead, what they point at (read from the state's
// slice headers, by then in cache) closer to the event.

// maxMembershipLines bounds the lines prefetched from the membership
// core's state to the end of the engine.
const maxMembershipLines = 16

// isMembership reports whether e is a HyParView message or timer.
func isMembership(e *event) bool {
	if e.msg != nil {
		if _, ok := e.msg.(*plumtree.Gossip); ok {
			return false // the most frequent message, by a concrete check
		}
		_, ok := e.msg.(hyparview.Message)
		return ok
	}
	switch e.timer.Kind() {
	case gossip.TimerShuffle, gossip.TimerNeighborRequest, gossip.TimerJoin:
		return true
	}
	return false
}

// prefetchMembershipState starts loading the engine's first line (the
// member-list switch) and the lines from the membership core's state to
// the end of the engine.
func prefetchMembershipState(eng *gossip.Engine) {
	base := unsafe.Pointer(eng)
	prefetch(base)
	// The lines from the one holding the state's first byte to the
	// engine's end, every address within the engine.
	from := int(uintptr(unsafe.Pointer(eng.MembershipState())) - uintptr(base))
	size := int(unsafe.Sizeof(*eng))
	if from < 0 || from >= size {
		return
	}
	for off, n := from&^63, 0; off < size && n < maxMembershipLines; off, n = off+64, n+1 {
		prefetch(unsafe.Add(base, off))
	}
}

// prefetchMembershipFootprint starts loading what the membership core's
// state points at: its active view, its passive view's first lines and
// last entry, and its random source with the generator beside it.
func prefetchMembershipFootprint(eng *gossip.Engine) {
	active, first, last, rng := eng.MembershipFootprint()
	if active != nil {
		prefetch(unsafe.Pointer(active))
		prefetch(unsafe.Add(unsafe.Pointer(active), 64))
	}
	if first != nil {
		prefetch(unsafe.Pointer(first))
		prefetch(unsafe.Add(unsafe.Pointer(first), 64))
		prefetch(unsafe.Pointer(last))
	}
	if rng != nil {
		prefetch(unsafe.Pointer(rng))
	}
}
