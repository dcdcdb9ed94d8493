package engine

import (
	"fmt"
	"time"

	"github.com/plumview/plumview/gossip"
)

// runEvent carries out one event taken from the queue.
func (s *Sim) runEvent(e event) {
	s.now = e.at
	s.stats.Events++
	n := int(e.to)
	if !s.nodes[n].alive {
		return
	}
	switch e.kind() {
	case eventDeliver:
		s.stats.MessagesDelivered++
		s.nodes[n].eng.Receive(s.clockTime(), peerOf(int(e.from)), e.msg, &s.rd)
		s.carryOut(n, &e)
	case eventTimer:
		s.nodes[n].eng.TimerFired(s.clockTime(), e.timer, &s.rd)
		s.carryOut(n, &e)
	case eventConnectionFailed:
		s.nodes[n].eng.ConnectionFailed(s.clockTime(), peerOf(int(e.from)), &s.rd)
		s.carryOut(n, &e)
	}
}

// clockTime is the current virtual time as the engines take it.
func (s *Sim) clockTime() time.Time {
	if s.now != s.clockAt {
		s.clock, s.clockAt = s.epoch.Add(s.now), s.now
	}
	return s.clock
}

// input runs one input of the scenario (name says which, for an invariant
// violation) on node n, which must be alive, and carries out its batch.
func (s *Sim) input(n int, name string, input func(eng *gossip.Engine, rd *gossip.Ready)) error {
	if !s.nodes[n].alive {
		return fmt.Errorf("engine: node %d is not alive", n)
	}
	input(s.nodes[n].eng, &s.rd)
	s.inputName = name
	s.carryOut(n, nil)
	return nil
}

// carryOut carries out node n's batch, in the order Ready gives, then
// empties it. cause is the event that ran, nil for an input of the
// scenario.
func (s *Sim) carryOut(n int, cause *event) {
	s.steps++
	rd := &s.rd
	for i := range rd.Sends {
		s.send(n, rd.Sends[i].To.ID, rd.Sends[i].Msg)
	}
	// Closes: connections are not modelled; a link is reachable or not.
	for i := range rd.Timers {
		t := &rd.Timers[i]
		if s.cfg.ManualShuffle && t.Timer.Kind() == gossip.TimerShuffle {
			s.spare[n].shuffle, s.nodes[n].held = t.Timer, true
			continue
		}
		s.schedule(event{at: s.now + t.After, to: int32(n), timer: t.Timer})
	}
	for i := range rd.Deliveries {
		s.delivered(n, &rd.Deliveries[i])
	}
	for i := range rd.Neighbors {
		if rd.Neighbors[i].Up {
			s.stats.NeighborUps++
		} else {
			s.stats.NeighborDowns++
		}
	}
	// ResolveContacts: a simulated node's contacts never move; the engine
	// rejoins through the ones it was given.
	rd.Reset()
	if s.cfg.CheckInvariants {
		s.check(n, cause)
	}
}

// check records the first invariant violation of node n, found after the
// event cause (nil: the scenario's input s.inputName).
func (s *Sim) check(n int, cause *event) {
	if s.err != nil {
		return
	}
	if err := s.nodes[n].eng.Invariants(); err != nil {
		what := s.inputName
		if cause != nil {
			what = cause.describe()
		}
		s.err = fmt.Errorf("%w: node %d at %v after %s: %v", ErrInvariant, n, s.now, what, err)
	}
}

func (s *Sim) delivered(n int, d *gossip.Delivery) {
	s.stats.Deliveries++
	s.bcasts.delivered(n, d, s.now)
	if s.cfg.OnDeliver != nil {
		s.cfg.OnDeliver(n, *d, s.now)
	}
}
