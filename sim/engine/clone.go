package engine

import (
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/plumview/plumview/gossip"
)

// Clone returns an independent copy of the simulation in its current
// state: every node's cores and random source, the pending events, the
// clock, the counters and the broadcast records. The copy behaves exactly
// as the original would: the same calls on both give the same events. The
// two may then run on different goroutines. The Hook and OnDeliver
// callbacks are shared, so they must be safe for that.
//
// Experiments that start several runs from one stabilised overlay clone it
// instead of building it again.
func (s *Sim) Clone() *Sim {
	c := *s
	c.rngSrc, c.seedSrc = clonePCG(s.rngSrc), clonePCG(s.seedSrc)
	c.rng, c.seeder = rand.New(c.rngSrc), rand.New(c.seedSrc)
	c.delaySrc = clonePCG(s.delaySrc)
	c.delays = rand.New(c.delaySrc)
	c.queue = s.queue.clone()
	c.nodes = slices.Clone(s.nodes)
	c.spare = slices.Clone(s.spare)
	for i := range c.nodes {
		r := newNodeRand(c.spare[i].src)
		c.spare[i].src = &r.src
		c.nodes[i].eng, _ = c.nodes[i].eng.Clone(&r.rng) // never nil: a fresh source
	}
	c.bcasts.list = slices.Clone(s.bcasts.list)
	c.bcasts.byID = maps.Clone(s.bcasts.byID)
	c.linkLoss = maps.Clone(s.linkLoss)
	c.lastArrival = maps.Clone(s.lastArrival)
	c.rd = gossip.Ready{}
	c.contact = nil
	c.par = nil
	return &c
}

// clonePCG returns a source in the same state as p.
func clonePCG(p *rand.PCG) *rand.PCG {
	c := *p
	return &c
}

func (q *queue) clone() queue {
	c := *q
	for i := range c.lanes[:c.used] {
		c.lanes[i].events.buf = slices.Clone(q.lanes[i].events.buf)
	}
	c.heap.keys = slices.Clone(q.heap.keys)
	c.heap.slab = slices.Clone(q.heap.slab)
	c.heap.free = slices.Clone(q.heap.free)
	c.last = nil // it pointed into q's lanes
	return c
}
