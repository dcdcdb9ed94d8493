package engine

import (
	"fmt"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
)

// runEvent carries out one event taken from the queue.
func (s *Sim) runEvent(e event) {
	s.now = e.at
	s.stats.Events++
	var timer gossip.Timer
	if e.kind == eventTimer {
		timer = s.timers.take(e.timer)
	}
	nd := &s.nodes[e.to]
	if !nd.alive {
		return
	}
	switch e.kind {
	case eventDeliver:
		s.stats.MessagesDelivered++
		if s.plumtreeAlone {
			// The most frequent message first, by a concrete type check.
			if g, ok := e.msg.(*plumtree.Gossip); ok {
				s.stepPlumtree(int(e.to), plumtree.Input{Kind: plumtree.InputReceive, Peer: peerOf(int(e.from)), Msg: g})
				return
			}
			if m, ok := e.msg.(plumtree.Message); ok {
				s.stepPlumtree(int(e.to), plumtree.Input{Kind: plumtree.InputReceive, Peer: peerOf(int(e.from)), Msg: m})
				return
			}
		}
		s.step(int(e.to), gossip.Input{Kind: gossip.InputReceive, From: peerOf(int(e.from)), Msg: e.msg})
	case eventTimer:
		if s.plumtreeAlone && timer.Layer == gossip.LayerPlumtree {
			s.stepPlumtree(int(e.to), plumtree.Input{Kind: plumtree.InputTimer, Timer: timer.Plumtree})
			return
		}
		s.step(int(e.to), gossip.Input{Kind: gossip.InputTimer, Timer: timer})
	case eventConnectionFailed:
		s.step(int(e.to), gossip.Input{Kind: gossip.InputConnectionFailed, From: peerOf(int(e.from))})
	}
}

// clockTime is the current virtual time as the engines take it.
func (s *Sim) clockTime() time.Time {
	if s.now != s.clockAt {
		s.clock, s.clockAt = s.epoch.Add(s.now), s.now
	}
	return s.clock
}

// step runs one input on node n and carries out its outputs.
func (s *Sim) step(n int, in gossip.Input) error {
	nd := &s.nodes[n]
	if !nd.alive {
		return fmt.Errorf("engine: node %d is not alive", n)
	}
	s.steps++
	out, err := nd.eng.Step(s.clockTime(), in, s.out[:0])
	for i := range out {
		s.apply(n, &out[i])
	}
	// The scratch buffer keeps references to its last outputs until they
	// are overwritten: a few messages at most, not worth clearing each
	// output.
	s.out = out[:0]
	if s.cfg.CheckInvariants {
		s.check(n, in)
	}
	return err
}

// stepPlumtree runs an input of the broadcast core on live node n, as step
// does, through Engine.StepPlumtree: the same core step without turning
// its outputs into the Engine's, which is most of the run's events
// (engines without the member list only).
func (s *Sim) stepPlumtree(n int, in plumtree.Input) {
	s.steps++
	out, _ := s.nodes[n].eng.StepPlumtree(s.clockTime(), in, s.ptOut[:0])
	for i := range out {
		o := &out[i]
		switch o.Kind {
		case plumtree.OutputSend:
			s.send(n, o.Peer, o.Msg)
		case plumtree.OutputDeliver:
			s.delivered(n, o.Delivery)
		case plumtree.OutputSetTimer:
			s.setTimer(n, o.After, gossip.Timer{Layer: gossip.LayerPlumtree, Plumtree: o.Timer})
		}
	}
	s.ptOut = out[:0] // as s.out in step
	if s.cfg.CheckInvariants {
		if in.Kind == plumtree.InputTimer {
			s.check(n, gossip.Input{Kind: gossip.InputTimer, Timer: gossip.Timer{Layer: gossip.LayerPlumtree, Plumtree: in.Timer}})
		} else {
			s.check(n, gossip.Input{Kind: gossip.InputReceive, From: in.Peer, Msg: in.Msg})
		}
	}
}

// check records the first invariant violation of node n, found after in.
func (s *Sim) check(n int, in gossip.Input) {
	if s.err != nil {
		return
	}
	if err := s.nodes[n].eng.Invariants(); err != nil {
		s.err = fmt.Errorf("%w: node %d at %v after %s: %v", ErrInvariant, n, s.now, describe(in), err)
	}
}

func (s *Sim) apply(n int, o *gossip.Output) {
	switch o.Kind {
	case gossip.OutputSend:
		s.send(n, o.Peer.ID, o.Msg)
	case gossip.OutputSetTimer:
		if s.cfg.ManualShuffle && o.Timer.Layer == gossip.LayerHyParView && o.Timer.HyParView.Kind == hyparview.TimerShuffle {
			s.spare[n].shuffle, s.nodes[n].held = o.Timer.HyParView, true
			return
		}
		s.setTimer(n, o.After, o.Timer)
	case gossip.OutputDeliver:
		s.delivered(n, o.Delivery)
	case gossip.OutputNeighborUp:
		s.stats.NeighborUps++
	case gossip.OutputNeighborDown:
		s.stats.NeighborDowns++
	case gossip.OutputClose:
		// Connections are not modelled: a link is reachable or not.
	}
}

func (s *Sim) setTimer(n int, after time.Duration, t gossip.Timer) {
	s.schedule(event{at: s.now + after, kind: eventTimer, to: int32(n), timer: s.timers.put(t)})
}

func (s *Sim) delivered(n int, d plumtree.Delivery) {
	s.stats.Deliveries++
	s.bcasts.delivered(n, d, s.now)
	if s.cfg.OnDeliver != nil {
		s.cfg.OnDeliver(n, d, s.now)
	}
}
