package plumtree

import (
	"math"
	"time"

	"github.com/plumview/plumview/peer"
)

// receive handles one message from a peer. A message the protocol cannot
// accept (nil, of an unknown type, from the node itself, over a cap) is
// dropped and counted.
func (s *State) receive(now time.Duration, from peer.ID, m Message, out []Output) []Output {
	if from == s.self {
		s.c.DroppedInvalid++
		return out
	}
	switch m := m.(type) {
	case *Gossip:
		if m != nil && len(m.Payload) <= int(s.maxPayload) {
			s.received++
			return s.onGossip(now, from, m, out)
		}
	case *IHave:
		if m != nil && len(m.Entries) > 0 && len(m.Entries) <= s.cfg.MaxIHaveEntries {
			s.c.IHaveReceived++
			return s.onIHave(now, from, m, out)
		}
	case *Graft:
		if m != nil {
			s.c.GraftReceived++
			return s.onGraft(from, m, out)
		}
	case *Prune:
		if m != nil {
			s.c.PruneReceived++
			s.onPrune(from)
			return out
		}
	}
	s.c.DroppedInvalid++
	return out
}

// onGossip handles a payload (S2 Algorithm 1, Receive GOSSIP; Algorithm 4).
func (s *State) onGossip(now time.Duration, from peer.ID, g *Gossip, out []Output) []Output {
	if s.hist.has(g.ID) {
		// Duplicate: the link it came on is redundant, make it lazy on both
		// ends. Like the paper we PRUNE on every duplicate, even from a peer
		// already lazy here: that peer still pushes to us eagerly.
		s.duplicates++
		if s.flood {
			return out
		}
		if s.adaptive {
			s.observeDuplicate(now, g.ID, from)
		}
		if p := s.peers.get(from); p != nil {
			s.peers.makeLazy(p)
			out = s.send(out, from, thePrune)
		}
		return out
	}
	next := g.Round
	if next < math.MaxUint32 {
		next++
	}
	if s.adaptive {
		s.observeDelivery(now, g.ID, from)
	}
	out = s.deliver(now, g.ID, g.Payload, next, from, out)
	// Relay excluding the sender, not myself (S2 Algorithm 1, line 30;
	// doc.go, deviation 1).
	out = s.push(now, g.ID, g.Payload, next, from, out)
	// Flooding builds no tree: it skips the sender's lookup.
	if !s.flood {
		if p := s.peers.get(from); p != nil {
			s.peers.makeEager(p) // S2 Algorithm 1 line 32
			out = s.optimize(g, p, out)
		}
	}
	// Forget the announcements only now: the optimisation reads them. Their
	// timer will find nothing to do (S2 Algorithm 1 cancels it).
	s.missing.remove(g.ID)
	return out
}

// optimize is S2 Algorithm 4: if a lazy peer announced this message at a
// round at least OptimizationThreshold lower than the round it came with, the
// lazy link is the shorter path: GRAFT(null) it and PRUNE the sender.
func (s *State) optimize(g *Gossip, sender *neighbor, out []Output) []Output {
	if s.cfg.DisableOptimization {
		return out
	}
	i := s.missing.lookup(g.ID)
	if i < 0 {
		return out
	}
	a, ok := s.missing.best(i, g.Round, s.cfg.OptimizationThreshold, sender.id)
	if !ok {
		return out
	}
	s.c.OptimizationSwaps++
	s.peers.makeEager(s.peers.get(a.peer))
	out = s.send(out, a.peer, &Graft{Round: a.round})
	s.peers.makeLazy(sender)
	return s.send(out, sender.id, thePrune)
}

// onIHave records the announcements of messages not yet delivered and arms
// Timer(mID) for each newly missing one (S2 Algorithm 2, Receive IHAVE).
// An IHAVE from a peer that is not a neighbour is ignored: we could not
// GRAFT it over a link, and it could fill missing unchecked.
func (s *State) onIHave(now time.Duration, from peer.ID, m *IHave, out []Output) []Output {
	if s.peers.get(from) == nil {
		s.c.IgnoredNonNeighbor++
		return out
	}
	timeout := s.timeout1(now)
	due := now + timeout
	for _, e := range m.Entries {
		if s.hist.has(e.ID) {
			continue
		}
		created, kept := s.missing.add(e.ID, from, e.Round, now, due)
		s.expiresAt(now + s.cfg.SeenRetention)
		if kept {
			s.c.AnnouncementsReceived++
		}
		if created {
			out = append(out, Output{Kind: OutputSetTimer, Timer: Timer{Kind: TimerGraft, ID: e.ID}, After: timeout})
		}
	}
	return out
}

// graftTimer is S2 Algorithm 2, Timer(mID) expires: arm timeout2, take the
// first announcement still held, make its node eager and GRAFT it. With no
// announcement left the ID is forgotten and no timer armed (the paper would
// re-arm forever). A timer for an ID delivered or forgotten meanwhile, or
// that fires before the deadline the core set last, does nothing.
func (s *State) graftTimer(now time.Duration, id MessageID, out []Output) []Output {
	i := s.missing.lookup(id)
	if i < 0 || now < s.missing.entry(i).due {
		s.c.StaleTimers++
		return out
	}
	e := s.missing.entry(i)
	if len(e.anns) == 0 {
		s.missing.removeAt(i)
		s.missing.shrink()
		return out
	}
	a := s.missing.popFirst(i)
	if !e.grafted {
		e.graftedTo = a.peer
	}
	e.grafted = true
	if e.grafts < math.MaxUint8 {
		e.grafts++
	}
	e.due = now + s.cfg.GraftTimeout2
	out = append(out, Output{Kind: OutputSetTimer, Timer: Timer{Kind: TimerGraft, ID: id}, After: s.cfg.GraftTimeout2})
	s.peers.makeEager(s.peers.get(a.peer))
	return s.send(out, a.peer, &Graft{ID: id, HasID: true, Round: a.round})
}

// onGraft makes the sender eager and, if it asks for a payload still held,
// sends it with the GRAFT's round (S2 Algorithm 2, Receive GRAFT; iroh-gossip
// uses the cached round). A GRAFT(null) asks for no payload (S2 Algorithm 4;
// doc.go, deviation 6). A GRAFT from a peer that is not a neighbour is
// ignored: the core sends only to neighbours.
func (s *State) onGraft(from peer.ID, m *Graft, out []Output) []Output {
	p := s.peers.get(from)
	if p == nil {
		s.c.IgnoredNonNeighbor++
		return out
	}
	s.peers.makeEager(p)
	if !m.HasID {
		return out
	}
	payload, ok := s.hist.payload(m.ID)
	if !ok {
		s.c.GraftsMissed++
		return out
	}
	s.c.GraftsServed++
	return s.send(out, from, &Gossip{ID: m.ID, Round: m.Round, Payload: payload})
}

// onPrune makes the sender lazy (S2 Algorithm 1, Receive PRUNE).
func (s *State) onPrune(from peer.ID) {
	p := s.peers.get(from)
	if p == nil {
		s.c.IgnoredNonNeighbor++
		return
	}
	if s.cfg.Flood {
		return // no peer in flooding mode ever prunes; ignore a stray PRUNE
	}
	s.peers.makeLazy(p)
}
