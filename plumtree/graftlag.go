package plumtree

import (
	"fmt"
	"time"

	"github.com/plumview/plumview/peer"
)

// Timeout1 that follows the network (doc.go, deviation 15). With
// Config.MinGraftTimeout set, a node measures how late the payload of a
// message comes on an eager link after the message's first IHAVE, and
// arms timeout1 at twice the longest recent lag, within [MinGraftTimeout,
// GraftTimeout1]. A lag is measured when the payload arrives from a
// neighbour after an IHAVE, before or after the GRAFT the IHAVE led to (a
// copy from the grafted peer is the GRAFT's answer, not a lag); once a
// second GRAFT went out for the message (timeout2), an answer to either
// cannot be told from the eager copy, and nothing is measured. A lag is
// capped at GraftTimeout1, so a neighbour that announces and then
// withholds can at worst hold timeout1 at the paper's fixed value. The
// longest lag is
// halved every lagHalfLife without a longer one, so a burst of load that
// slowed the eager links raises the timeout for a moment only.

// lagHalfLife is how long the longest recent lag takes to count half: a
// second, so that the lags of a join's or a burst's load (tens of
// milliseconds on a loaded host) are forgotten within a few seconds.
const lagHalfLife = time.Second

// graftedRingSize is how many grafted messages a node remembers, after
// their GRAFT's answer was delivered, to measure the lag of their eager
// copy if it still comes.
const graftedRingSize = 8

// graftLag is one node's measure of its eager links' lag.
type graftLag struct {
	longest time.Duration // the longest recent lag, as measured at at
	at      time.Duration
	grafted [graftedRingSize]graftedMsg
	next    int // the ring's next slot
	live    int // live slots in the ring: none, and a duplicate reads no further
}

// graftedMsg is a grafted message whose GRAFT's answer was delivered.
type graftedMsg struct {
	id        MessageID
	announced time.Duration // its first IHAVE
	to        peer.ID       // the peer grafted
	live      bool
}

// check reports a broken invariant of the measure: the live count is
// the number of live slots, the next slot is in the ring, and the
// longest lag is within [0, ceiling].
func (g *graftLag) check(ceiling time.Duration) error {
	live := 0
	for _, m := range g.grafted {
		if m.live {
			live++
		}
	}
	switch {
	case live != g.live:
		return fmt.Errorf("plumtree: %d grafted messages counted live, %d are", g.live, live)
	case g.next < 0 || g.next >= graftedRingSize:
		return fmt.Errorf("plumtree: grafted ring's next slot %d out of range", g.next)
	case g.longest < 0 || g.longest > ceiling:
		return fmt.Errorf("plumtree: longest lag %v outside [0, %v]", g.longest, ceiling)
	}
	return nil
}

// current is the longest recent lag at now, halved for every lagHalfLife
// since it was measured.
func (g *graftLag) current(now time.Duration) time.Duration {
	if now <= g.at {
		return g.longest
	}
	halvings := (now - g.at) / lagHalfLife
	if halvings >= 63 {
		return 0
	}
	return g.longest >> halvings
}

// observe records a lag measured at now, capped at ceiling.
func (g *graftLag) observe(now, lag, ceiling time.Duration) {
	lag = min(max(lag, 0), ceiling)
	if lag >= g.current(now) {
		g.longest, g.at = lag, now
	}
}

// timeout1 is the timeout armed after a message's first IHAVE: the
// configured GraftTimeout1, or with MinGraftTimeout set twice the longest
// recent lag within [MinGraftTimeout, GraftTimeout1].
func (s *State) timeout1(now time.Duration) time.Duration {
	if s.cfg.MinGraftTimeout <= 0 {
		return s.cfg.GraftTimeout1
	}
	return min(max(2*s.lag.current(now), s.cfg.MinGraftTimeout), s.cfg.GraftTimeout1)
}

// observeDelivery measures the lag of a payload delivered at now from
// from, if the message was announced first. Called before the message's
// announcements are forgotten.
func (s *State) observeDelivery(now time.Duration, id MessageID, from peer.ID) {
	i := s.missing.lookup(id)
	if i < 0 || s.peers.get(from) == nil {
		return
	}
	e := s.missing.entry(i)
	switch {
	case !e.grafted || e.grafts == 1 && from != e.graftedTo:
		// The eager copy, before the timer or after the GRAFT.
		s.lag.observe(now, now-e.created, s.cfg.GraftTimeout1)
	case e.grafts == 1:
		// The GRAFT's answer: the eager copy may still come.
		r := s.lag
		if !r.grafted[r.next].live {
			r.live++
		}
		r.grafted[r.next] = graftedMsg{id: id, announced: e.created, to: from, live: true}
		r.next = (r.next + 1) % graftedRingSize
	}
}

// observeDuplicate measures the lag of a late eager copy, from a
// neighbour, of a message whose GRAFT's answer was delivered first.
func (s *State) observeDuplicate(now time.Duration, id MessageID, from peer.ID) {
	if s.lag.live == 0 {
		return
	}
	for k := range s.lag.grafted {
		m := &s.lag.grafted[k]
		if m.live && m.id == id {
			if from != m.to && s.peers.get(from) != nil {
				s.lag.observe(now, now-m.announced, s.cfg.GraftTimeout1)
				m.live = false
				s.lag.live--
			}
			return
		}
	}
}
