package plumtree

import (
	"maps"
	"slices"
)

// Clone returns an independent copy of the state: stepping either copy
// never affects the other. A simulator clones a stabilised overlay to run
// several experiments from it without building it again. Payloads are
// shared, which is safe because the core never modifies them.
func (s *State) Clone() *State {
	c := *s
	c.peers, c.lazy = s.peers.clone(s.lazy)
	c.hist = s.hist.clone()
	c.missing = s.missing.clone()
	if s.lag != nil {
		lag := *s.lag
		c.lag = &lag
	}
	return &c
}

// clone copies the neighbours and the lazy queue that points into them.
func (ps *peerSet) clone(lq lazyQueue) (peerSet, lazyQueue) {
	copies := make(map[*neighbor]*neighbor, len(ps.byIndex))
	c := peerSet{ids: slices.Clone(ps.ids), byIndex: make([]*neighbor, len(ps.byIndex))}
	for i, p := range ps.byIndex {
		q := *p
		q.queue = slices.Clone(p.queue)
		c.byIndex[i] = &q
		copies[p] = &q
	}
	c.eager, c.lazy = slices.Clone(ps.eager), slices.Clone(ps.lazy)
	if lq.pending != nil {
		pending := make([]*neighbor, len(lq.pending))
		for i, p := range lq.pending {
			pending[i] = copies[p]
		}
		lq.pending = pending
	}
	return c, lq
}

func (h *history) clone() history {
	c := *h
	c.index.slots = slices.Clone(h.index.slots)
	c.items = h.items.clone()
	c.payloads = h.payloads.clone()
	return c
}

func (r *ring[T]) clone() ring[T] {
	c := *r
	c.buf = slices.Clone(r.buf)
	return c
}

func (m *missingSet) clone() missingSet {
	c := *m
	c.index = maps.Clone(m.index)
	c.slab = slices.Clone(m.slab)
	for i := range c.slab {
		c.slab[i].anns = slices.Clone(m.slab[i].anns)
	}
	c.free = slices.Clone(m.free)
	return c
}
