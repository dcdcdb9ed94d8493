package plumtree

import "github.com/plumview/plumview/peer"

// Footprint names, by typed pointers, where recording a new payload first
// reads and writes (State.PayloadFootprint). Each pointer may be nil.
type Footprint struct {
	Slot  *uint32    // the ID's home slot in the seen-ID table
	Item  *MessageID // the history's next item
	Held  *[]byte    // the next slot of the held payloads
	Eager *peer.ID   // the list of eager peers
}

// PayloadFootprint says where recording a new payload with this ID would
// first read and write: the ID's home slot in the seen-ID table, the
// history's next item and next held payload, and the list of eager peers.
// A caller that steps many states in turn (the simulator, through
// gossip.Engine.Footprint) may prefetch them a few steps ahead, so that the
// cache misses of several steps overlap. It names memory by typed
// pointers, so no caller depends on where the state's fields lie. All are
// nil when the ID is among the last ones delivered (a duplicate reads only
// the state's first lines). They are hints only: the caller must neither
// read nor write through them, and they are stale after the next step.
// PayloadFootprint reads the first lines of the state and changes nothing.
func (s *State) PayloadFootprint(id MessageID) Footprint {
	var f Footprint
	h := &s.hist
	for i := uint8(0); i < h.recentLen; i++ {
		if h.recent[i] == id {
			return f
		}
	}
	if x := &h.index; len(x.slots) > 0 {
		f.Slot = &x.slots[home(x.hash(id), len(x.slots))]
	}
	if it := h.items.next(); it != nil {
		f.Item = &it.id
	}
	f.Held = h.payloads.next()
	if len(s.peers.eager) > 0 {
		f.Eager = &s.peers.eager[0]
	}
	return f
}
