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
// engine's two pointers just before it, then in what that state points
// at: its views and its random source. The run prefetches both in two
// stages, as it does a payload's footprint: the state's lines (an address
// computed, nothing read) a few events ahead, what they point at (read
// from the state's slice headers, by then in cache) closer to the event.

// membershipLines is how many lines the run prefetches from the one
// holding the membership core's state's first byte: the state puts what
// every step reads first (hyparview.State), and 8 lines cover it, the
// counters every message counts itself in and the engine's pointers just
// before the state. Were the fields to move, only the speed would change.
const membershipLines = 8

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
// member-list switch) and the first lines of the membership core's state.
func prefetchMembershipState(eng *gossip.Engine) {
	base := unsafe.Pointer(eng)
	prefetch(base)
	// membershipLines lines from the one holding the state's first byte,
	// every address within the engine.
	from := int(uintptr(unsafe.Pointer(eng.MembershipState())) - uintptr(base))
	size := int(unsafe.Sizeof(*eng))
	if from < 0 || from >= size {
		return
	}
	for off, n := from&^63, 0; off < size && n < membershipLines; off, n = off+64, n+1 {
		prefetch(unsafe.Add(base, off))
	}
}

// prefetchMembershipFootprint starts loading what the membership core's
// state points at: its active view, its passive view's first lines and
// last entry, and its random source with the generator beside it.
func prefetchMembershipFootprint(eng *gossip.Engine) {
	active, first, last, rng := eng.MembershipFootprint()
	// A view's second line may lie past its backing array: prefetchPair
	// forms that address itself, so no Go pointer points outside an
	// allocation (the race detector's checkptr would stop the run).
	if active != nil {
		prefetchPair(unsafe.Pointer(active))
	}
	if first != nil {
		prefetchPair(unsafe.Pointer(first))
		prefetch(unsafe.Pointer(last))
	}
	if rng != nil {
		prefetch(unsafe.Pointer(rng))
	}
}

// prefetchSoon starts loading the membership state of node j, about to be
// sent msg, when the queue is too short for prefetchUpcoming to reach the
// event that carries it: during the joins, a few events at a time.
func (s *Sim) prefetchSoon(j int, msg gossip.Message) {
	if _, ok := msg.(*plumtree.Gossip); ok {
		return
	}
	if _, ok := msg.(hyparview.Message); ok {
		if eng := s.nodes[j].eng; eng != nil {
			prefetchMembershipState(eng)
		}
	}
}

// prefetchCycle starts loading, while Cycle fires the timer of node
// perm[k], what the timers a few places later in the order will read: the
// node entry and held timer eight places on, the membership state four
// places on, what that state points at two places on. The order is the
// cycle's random one, so nothing else would bring these in ahead.
func (s *Sim) prefetchCycle(perm []int, k int) {
	if k+2*prefetchDistance < len(perm) {
		j := perm[k+2*prefetchDistance]
		prefetch(unsafe.Pointer(&s.nodes[j]))
		prefetch(unsafe.Pointer(&s.spare[j]))
	}
	if k+prefetchDistance < len(perm) {
		if eng := s.nodes[perm[k+prefetchDistance]].eng; eng != nil {
			prefetchMembershipState(eng)
		}
	}
	if k+prefetchDistance/2 < len(perm) {
		if eng := s.nodes[perm[k+prefetchDistance/2]].eng; eng != nil {
			prefetchMembershipFootprint(eng)
		}
	}
}
