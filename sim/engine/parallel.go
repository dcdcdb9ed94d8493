package engine

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/plumview/plumview/gossip"
)

// The membership cycles of a large run deliver hundreds of thousands of
// messages at one virtual instant: each node's shuffle, sent in the same
// round, arrives one link delay later. Each such event steps one node's
// engine, reading that engine and the message alone, and what it asks
// for (sends, timers) is carried out by the simulation afterwards. So the
// events of one instant can step their engines on several goroutines, as
// long as every node's events run in order on one of them, and the
// outputs are then carried out one event after the other, in the order
// the sequential run takes: the run is the same, event for event (the
// sequence numbers, the random draws of the network, the counters), and
// the steps can use idle cores. Events an instant's outputs schedule at the
// same instant come after the whole batch in the sequential run too, as
// they are scheduled after every event of the batch.

const (
	// minParallelBatch is the fewest events of one instant worth stepping
	// on several goroutines; smaller instants (the joins: a handful of
	// events each) run as usual, with their prefetching.
	minParallelBatch = 128
	// maxParallelBatch bounds a batch: small enough that what its steps
	// touched (the engines, each event's own Ready) is still in cache when
	// their outputs are carried out. With 8,192 the parallel path cost
	// 75 % more wall time than the sequential one on a single core, with
	// 512 about 40 % (docs/benchmarks.md, "Scale").
	maxParallelBatch = 512
)

// batch is the storage of the instants stepped in parallel.
type batch struct {
	events []event
	rds    []gossip.Ready // rds[k] holds the outputs of events[k]
	// order lists the events' indexes group by group (a node's group is
	// its index modulo parallelGroups), each group's in the events'
	// order; group g's are order[from[g]:from[g+1]].
	order []int32
	from  [parallelGroups + 1]int32
	// stepped counts the instants stepped on several goroutines.
	stepped int
}

// parallelGroups is how many groups of nodes the goroutines of an
// instant claim one by one: many, so that a goroutine that the machine
// does not run (its cores shared with other work) holds up little of the
// instant, since the others take the groups it did not claim.
const parallelGroups = 64

// claims hands out an instant's groups; each instant has its own, so that
// a goroutine that starts late finds nothing left to claim.
type claims struct {
	next   atomic.Int32
	groups sync.WaitGroup // done as each group is stepped
}

// runDueParallel is runDue with Config.Workers goroutines stepping the
// engines of large instants.
func (s *Sim) runDueParallel(until time.Duration) error {
	for s.queue.len() > 0 && s.err == nil {
		if s.queue.peekAt() > until {
			break
		}
		if s.queue.len() < minParallelBatch {
			s.runEvent(s.queue.pop())
			s.prefetchUpcoming()
		} else {
			s.runInstant()
		}
		if s.stats.Events-s.metered >= meterBatch {
			s.meter()
		}
	}
	s.meter()
	return s.err
}

// runInstant runs the events due at the next event's time, up to
// maxParallelBatch of them.
func (s *Sim) runInstant() {
	if s.par == nil {
		s.par = &batch{}
	}
	b := s.par
	at := s.queue.peekAt()
	b.events = b.events[:0]
	for s.queue.len() > 0 && s.queue.peekAt() == at && len(b.events) < maxParallelBatch {
		b.events = append(b.events, s.queue.pop())
	}
	if len(b.events) < minParallelBatch {
		for i := range b.events {
			s.runEvent(b.events[i])
			b.events[i] = event{}
		}
		return
	}
	for len(b.rds) < len(b.events) {
		b.rds = append(b.rds, gossip.Ready{})
	}
	b.group()
	b.stepped++
	s.now = at
	now := s.clockTime()
	c := &claims{}
	c.groups.Add(parallelGroups)
	for range s.cfg.Workers - 1 {
		go s.stepGroups(c, now)
	}
	s.stepGroups(c, now)
	c.groups.Wait() // for the groups other goroutines claimed
	for k := range b.events {
		e := &b.events[k]
		s.stats.Events++
		if s.nodes[e.to].alive {
			if e.kind() == eventDeliver {
				s.stats.MessagesDelivered++
			}
			s.rd, b.rds[k] = b.rds[k], s.rd
			s.carryOut(int(e.to), e)
			s.rd, b.rds[k] = b.rds[k], s.rd
		}
		*e = event{} // release the message for the garbage collector
	}
}

// group fills b.order and b.from for the events in b.events.
func (b *batch) group() {
	var count [parallelGroups]int32
	for i := range b.events {
		count[b.events[i].to%parallelGroups]++
	}
	b.from[0] = 0
	for g := range parallelGroups {
		b.from[g+1] = b.from[g] + count[g]
	}
	next := b.from
	b.order = slices.Grow(b.order[:0], len(b.events))[:len(b.events)]
	for i := range b.events {
		g := b.events[i].to % parallelGroups
		b.order[next[g]] = int32(i)
		next[g]++
	}
}

// stepGroups claims the instant's groups one by one and steps, for each,
// the engines of its events in order, each event's outputs into its own
// batch, until none is left. It reads the simulation and changes only the
// engines of the groups it claims.
func (s *Sim) stepGroups(c *claims, now time.Time) {
	b := s.par
	for {
		g := c.next.Add(1) - 1
		if g >= parallelGroups {
			return
		}
		order := b.order[b.from[g]:b.from[g+1]]
		for i, k := range order {
			if i+prefetchDistance < len(order) {
				ahead := &b.events[order[i+prefetchDistance]]
				if eng := s.nodes[ahead.to].eng; eng != nil && isMembership(ahead) {
					prefetchMembershipState(eng)
				} else if eng != nil {
					prefetch(unsafe.Pointer(eng))
				}
			}
			e := &b.events[k]
			nd := &s.nodes[e.to]
			if !nd.alive {
				continue
			}
			rd := &b.rds[k]
			switch e.kind() {
			case eventDeliver:
				nd.eng.Receive(now, peerOf(int(e.from)), e.msg, rd)
			case eventTimer:
				nd.eng.TimerFired(now, e.timer, rd)
			case eventConnectionFailed:
				nd.eng.ConnectionFailed(now, peerOf(int(e.from)), rd)
			}
		}
		c.groups.Done()
	}
}
