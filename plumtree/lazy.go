package plumtree

import (
	"fmt"
	"time"

	"github.com/plumview/plumview/peer"
)

// lazyQueue is the paper's lazyQueue with its scheduling policy (S2 §3.4,
// dispatch). The paper's one requirement is that every announcement is
// eventually sent. We queue announcements per peer and send each peer one
// IHave holding all of them when the batching window (LazyPushDelay) ends,
// or as soon as the peer has MaxIHaveEntries of them. Announcements queued
// for a peer are sent even if it has become eager meanwhile; they are dropped
// only when it stops being a neighbour.
type lazyQueue struct {
	pending []*neighbor // peers that queued announcements since the last dispatch, in order
	queued  int         // announcements waiting, over all peers
	armed   bool        // a dispatch timer is set
	due     time.Duration
}

// ihaveOne is an IHave with its single entry, in one allocation.
type ihaveOne struct {
	ihave IHave
	entry [1]Announcement
}

// pushBundle holds the messages of one relay in one allocation: the Gossip
// for the eager peers and, when IHAVEs go out at once, the IHave for the
// lazy peers.
type pushBundle struct {
	gossip Gossip
	ihaveOne
}

// push is the paper's EagerPush followed by LazyPush (S2 Algorithm 1): the
// payload to every eager peer, an announcement to every lazy peer, except
// the peer it came from (doc.go, deviation 1).
func (s *State) push(now time.Duration, id MessageID, payload []byte, round uint32, except peer.ID, out []Output) []Output {
	immediate := s.immediate
	needGossip := hasOther(s.peers.eager, except)
	needIHave := immediate && hasOther(s.peers.lazy, except)
	var g *Gossip
	var ih *IHave
	switch {
	case needGossip && needIHave:
		b := &pushBundle{}
		g, ih = &b.gossip, &b.ihave
		ih.Entries = b.entry[:]
	case needGossip:
		g = new(Gossip)
	case needIHave:
		b := &ihaveOne{}
		ih = &b.ihave
		ih.Entries = b.entry[:]
	}
	if g != nil {
		*g = Gossip{ID: id, Round: round, Payload: payload}
		for _, id := range s.peers.eager {
			if id != except {
				out = s.send(out, id, g)
			}
		}
	}
	if immediate {
		if ih != nil {
			ih.Entries[0] = Announcement{ID: id, Round: round}
			for _, id := range s.peers.lazy {
				if id != except {
					out = s.send(out, id, ih)
				}
			}
		}
		return out
	}
	a := Announcement{ID: id, Round: round}
	for _, id := range s.peers.lazy {
		if id != except {
			out = s.enqueue(now, s.peers.get(id), a, out)
		}
	}
	return out
}

func hasOther(list []peer.ID, except peer.ID) bool {
	return len(list) > 1 || (len(list) == 1 && list[0] != except)
}

// enqueue queues a for p, flushing p's queue when it is full and arming the
// dispatch timer when it is not armed.
func (s *State) enqueue(now time.Duration, p *neighbor, a Announcement, out []Output) []Output {
	q := &s.lazy
	p.queue = append(p.queue, a)
	q.queued++
	if !p.pending {
		p.pending = true
		q.pending = append(q.pending, p)
	}
	if len(p.queue) >= s.cfg.MaxIHaveEntries {
		return s.flushPeer(p, out)
	}
	if !q.armed {
		q.armed, q.due = true, now+s.cfg.LazyPushDelay
		out = append(out, Output{Kind: OutputSetTimer, Timer: Timer{Kind: TimerDispatch}, After: s.cfg.LazyPushDelay})
	}
	return out
}

// flushPeer sends p one IHave holding its queued announcements.
func (s *State) flushPeer(p *neighbor, out []Output) []Output {
	if len(p.queue) == 0 {
		return out
	}
	entries := make([]Announcement, len(p.queue))
	copy(entries, p.queue)
	s.lazy.queued -= len(p.queue)
	p.queue = p.queue[:0]
	return s.send(out, p.id, &IHave{Entries: entries})
}

// dispatch ends the batching window: every peer gets its queued
// announcements. A timer that fires early or twice finds nothing to do.
func (s *State) dispatch(now time.Duration, out []Output) []Output {
	q := &s.lazy
	if !q.armed || now < q.due {
		s.c.StaleTimers++
		return out
	}
	for i, p := range q.pending {
		out = s.flushPeer(p, out)
		p.pending = false
		q.pending[i] = nil
	}
	q.pending = q.pending[:0]
	q.armed = false
	return out
}

// dropQueue forgets the announcements queued for p, which is going away.
func (s *State) dropQueue(p *neighbor) {
	q := &s.lazy
	q.queued -= len(p.queue)
	p.queue = nil
	if p.pending {
		p.pending = false
		q.pending = without(q.pending, p)
	}
}

// check verifies that every queued announcement will be sent: its peer is
// pending and a dispatch timer is armed.
func (q *lazyQueue) check(ps *peerSet, maxEntries int) error {
	n := 0
	for _, p := range q.pending {
		if !p.pending || ps.get(p.id) != p {
			return fmt.Errorf("plumtree: lazy queue holds non-neighbour %d", p.id)
		}
		if len(p.queue) >= maxEntries {
			return fmt.Errorf("plumtree: %d announcements queued for %d, max %d", len(p.queue), p.id, maxEntries)
		}
		n += len(p.queue)
	}
	if n != q.queued {
		return fmt.Errorf("plumtree: %d announcements queued, counted %d", n, q.queued)
	}
	if n > 0 && !q.armed {
		return fmt.Errorf("plumtree: %d announcements queued and no dispatch timer", n)
	}
	for _, p := range ps.byIndex {
		if len(p.queue) > 0 && !p.pending {
			return fmt.Errorf("plumtree: announcements for %d are queued but not pending", p.id)
		}
	}
	return nil
}
