package plumtree

import "github.com/plumview/plumview/peer"

// PayloadFootprint says where recording a new payload with this ID would
// first read and write: the ID's home slot in the seen-ID table, the
// history's next item and the list of eager peers. A caller that steps many
// states in turn (the simulator, through gossip.Engine.Footprint) may
// prefetch them a few steps ahead, so that the cache misses of several
// steps overlap. It names memory by typed pointers, so no caller depends on
// where the state's fields lie. Each pointer
// may be nil; all are nil when the ID is among the last ones delivered (a
// duplicate reads only the state's first lines). They are hints only: the
// caller must neither read nor write through them, and they are stale
// after the next step. PayloadFootprint reads the first lines of the state
// and changes nothing.
func (s *State) PayloadFootprint(id MessageID) (slot *uint64, item *MessageID, eager *peer.ID) {
	h := &s.hist
	for i := uint8(0); i < h.recentLen; i++ {
		if h.recent[i] == id {
			return nil, nil, nil
		}
	}
	if x := &h.index; len(x.slots) > 0 {
		slot = &x.slots[x.tag(id)&uint32(len(x.slots)-1)]
	}
	if r := &h.items; len(r.buf) > 0 {
		i := r.head + r.n
		if i >= len(r.buf) {
			i -= len(r.buf)
		}
		item = &r.buf[i].id
	}
	if len(s.peers.eager) > 0 {
		eager = &s.peers.eager[0]
	}
	return slot, item, eager
}
