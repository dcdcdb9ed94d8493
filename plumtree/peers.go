package plumtree

import (
	"fmt"
	"slices"

	"github.com/plumview/plumview/peer"
)

// role is a neighbour's place in the paper's two peer sets (S2 §3.3).
type role uint8

const (
	roleEager role = iota + 1 // in eagerPushPeers: gets payloads
	roleLazy                  // in lazyPushPeers: gets IHAVEs
)

// neighbor is one neighbour.
type neighbor struct {
	id      peer.ID
	role    role
	queue   []Announcement // announcements waiting for the next IHave (lazy.go)
	pending bool           // in lazyQueue.pending
}

// peerSet holds the neighbours. The eager and lazy slices give a stable
// iteration order (the order in which peers entered each set) and hold
// identities, so a push reads one small array; ids and byIndex find a peer
// by identity. A node has a handful of neighbours, so a scan of one
// contiguous slice of identities is cheaper than a map, and keeps a
// simulated node small.
type peerSet struct {
	eager   []peer.ID // first: a relay reads them
	lazy    []peer.ID
	ids     []peer.ID
	byIndex []*neighbor // byIndex[i] is the peer whose identity is ids[i]
}

func newPeerSet() peerSet { return peerSet{} }

func (ps *peerSet) index(id peer.ID) int {
	for i, x := range ps.ids {
		if x == id {
			return i
		}
	}
	return -1
}

func (ps *peerSet) get(id peer.ID) *neighbor {
	if i := ps.index(id); i >= 0 {
		return ps.byIndex[i]
	}
	return nil
}

// add makes id an eager neighbour (S2 Algorithm 3, NeighborUp).
func (ps *peerSet) add(id peer.ID) *neighbor {
	p := &neighbor{id: id, role: roleEager}
	ps.ids = append(ps.ids, id)
	ps.byIndex = append(ps.byIndex, p)
	ps.eager = append(ps.eager, id)
	return p
}

// remove forgets p (S2 Algorithm 3, NeighborDown).
func (ps *peerSet) remove(p *neighbor) {
	if i := ps.index(p.id); i >= 0 {
		last := len(ps.ids) - 1
		ps.ids[i], ps.byIndex[i] = ps.ids[last], ps.byIndex[last]
		ps.byIndex[last] = nil
		ps.ids, ps.byIndex = ps.ids[:last], ps.byIndex[:last]
	}
	if p.role == roleEager {
		ps.eager = without(ps.eager, p.id)
	} else {
		ps.lazy = without(ps.lazy, p.id)
	}
}

// makeEager moves p to eagerPushPeers; it reports whether p moved.
func (ps *peerSet) makeEager(p *neighbor) bool {
	if p.role == roleEager {
		return false
	}
	ps.lazy = without(ps.lazy, p.id)
	ps.eager = append(ps.eager, p.id)
	p.role = roleEager
	return true
}

// makeLazy moves p to lazyPushPeers; it reports whether p moved.
func (ps *peerSet) makeLazy(p *neighbor) bool {
	if p.role == roleLazy {
		return false
	}
	ps.eager = without(ps.eager, p.id)
	ps.lazy = append(ps.lazy, p.id)
	p.role = roleLazy
	return true
}

// without removes x from list, keeping the order of the others.
func without[T comparable](list []T, x T) []T {
	for i, q := range list {
		if q == x {
			copy(list[i:], list[i+1:])
			var zero T
			list[len(list)-1] = zero
			return list[:len(list)-1]
		}
	}
	return list
}

// check verifies: eager ∩ lazy = ∅, no duplicates, no self, and the index and
// slices agree.
func (ps *peerSet) check(self peer.ID) error {
	if len(ps.ids) != len(ps.eager)+len(ps.lazy) || len(ps.byIndex) != len(ps.ids) {
		return fmt.Errorf("plumtree: %d neighbours indexed, %d eager + %d lazy", len(ps.ids), len(ps.eager), len(ps.lazy))
	}
	listed := 0
	for _, set := range []struct {
		list []peer.ID
		role role
	}{{ps.eager, roleEager}, {ps.lazy, roleLazy}} {
		for i, id := range set.list {
			if id == self {
				return fmt.Errorf("plumtree: self %d is its own neighbour", self)
			}
			p := ps.get(id)
			if p == nil || p.role != set.role || slices.Contains(set.list[:i], id) {
				return fmt.Errorf("plumtree: neighbour %d is listed twice or in the wrong set", id)
			}
			listed++
		}
	}
	for i, p := range ps.byIndex {
		if p.id != ps.ids[i] || slices.Contains(ps.ids[:i], p.id) {
			return fmt.Errorf("plumtree: neighbour %d is indexed twice or under another identity", p.id)
		}
	}
	return nil
}
