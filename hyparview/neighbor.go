package hyparview

import (
	"math"
	"slices"
	"time"

	"github.com/plumview/plumview/peer"
)

// requestNeighbor sends Neighbor(prio) to p, records the request and arms
// its timeout.
func (s *State) requestNeighbor(p Peer, prio Priority) {
	nonce := s.newNonce()
	s.pending = append(s.pending, request{peer: p, nonce: nonce, prio: prio, shift: s.backoff})
	s.counters.NeighborRequestsSent++
	s.send(p, &Neighbor{Priority: prio, Addr: s.self.Addr, Nonce: nonce})
	s.setTimer(Timer{Kind: TimerNeighborRequest, Peer: p.ID, Nonce: nonce}, s.requestWait(s.cfg.NeighborRequestTimeout))
}

// onNeighbor answers a Neighbor request (S1 §4.3): a high-priority request
// is always accepted, dropping a random member if the view is full; a
// low-priority one only if the active view has a free slot. A request from a
// peer we are ourselves asking is a crossed handshake and is accepted.
func (s *State) onNeighbor(from peer.ID, m *Neighbor) bool {
	if m.Priority != PriorityLow && m.Priority != PriorityHigh {
		return false
	}
	s.learnAddr(from, m.Addr)
	p := s.peerFor(from, m.Addr)
	if i := s.activeIndex(from); i >= 0 {
		// The peer asks because it no longer holds the link; ours is a
		// leftover. Renew it under the new nonce; the view is unchanged.
		s.renewLink(i, p, m.Nonce)
		s.counters.NeighborRequestsGranted++
		s.send(p, &NeighborReply{Accepted: true, Addr: s.self.Addr, Nonce: m.Nonce})
		return true
	}
	crossed := s.pendingIndex(from) >= 0
	if crossed || m.Priority == PriorityHigh || len(s.active) < s.cfg.ActiveViewSize {
		s.counters.NeighborRequestsGranted++
		s.send(p, &NeighborReply{Accepted: true, Addr: s.self.Addr, Nonce: m.Nonce})
		s.acceptLink(p, m.Nonce)
		return true
	}
	s.counters.NeighborRequestsRefused++
	s.send(p, &NeighborReply{Accepted: false, Addr: s.self.Addr, Nonce: m.Nonce})
	s.emitClose(p)
	return true
}

// onNeighborReply completes one of our requests (S1 §4.3). Accepted: the
// peer joins the active view. Refused: we try another passive peer and keep
// the refuser in the passive view. A reply matching no request is answered
// with a Disconnect if it accepted, so the peer does not keep a half-link
// (doc.go, deviation 2).
func (s *State) onNeighborReply(from peer.ID, m *NeighborReply) bool {
	s.learnAddr(from, m.Addr)
	if i := s.pendingIndex(from); i >= 0 && s.pending[i].nonce == m.Nonce {
		r := s.pending[i]
		s.pending = slices.Delete(s.pending, i, i+1)
		if m.Accepted {
			s.replyAccepted(r)
		} else {
			s.replyRefused(r)
		}
		return true
	}
	if i := s.activeIndex(from); i >= 0 {
		s.replyFromNeighbour(i, m)
		return true
	}
	s.counters.StaleReplies++
	if m.Accepted {
		p := s.peerFor(from, m.Addr)
		s.send(p, &Disconnect{Alive: true, Nonce: m.Nonce})
		if !s.busy(from) {
			s.emitClose(p)
		}
	}
	return true
}

// replyFromNeighbour handles a reply from the i-th active peer that matches
// no pending request.
func (s *State) replyFromNeighbour(i int, m *NeighborReply) {
	if m.Accepted || !s.active[i].matches(m.Nonce) {
		// The answer to our half of a crossed handshake (the link is
		// already up), or to a request long superseded.
		s.counters.StaleReplies++
		return
	}
	// The peer refused the request we crossed with its own: it does not
	// hold the link, so neither may we.
	l := s.removeActiveAt(i)
	s.addPassive(l.peer)
	s.emitDown(l.peer, DownDisconnected)
	s.emitClose(l.peer)
	s.repairAfterDisconnect(l.peer.ID)
}

// replyAccepted adds the peer that accepted our request. If the request
// ended a join walk, the view is full and the join eviction budget is on,
// the member to drop is chosen by newcomerDrop; if it finds no room, the
// link is undone with a Disconnect and the new node kept as passive (doc.go,
// deviation 12).
func (s *State) replyAccepted(r request) {
	if r.walk && s.cfg.JoinEvictionsPerShuffle > 0 && len(s.active) >= s.cfg.ActiveViewSize {
		i := s.newcomerDrop()
		if i < 0 {
			s.counters.ForwardJoinsRefused++
			s.send(r.peer, &Disconnect{Alive: true, Nonce: r.nonce})
			s.emitClose(r.peer)
			s.addPassive(r.peer)
			return
		}
		s.dropActiveAt(i)
	}
	if r.join {
		s.counters.JoinsCompleted++
	} else {
		s.counters.NeighborRequestsAccepted++
	}
	s.addActive(link{peer: r.peer, nonce: r.nonce})
}

// replyRefused handles a refusal: of a Neighbor request by a full peer
// (S1 §4.3), or of our Join by a contact with no room under its join
// eviction budget (doc.go, deviation 12). Either way we try another passive peer;
// a refused joiner waits for the contact's join walks, which end at nodes
// that ask it, and otherwise tries its next contact, or joins again at a
// shuffle tick once the contacts may be tried again (a period's start;
// doc.go, deviation 7).
func (s *State) replyRefused(r request) {
	if r.join {
		s.counters.JoinsRejected++
	} else {
		s.counters.NeighborRequestsRejected++
	}
	s.addRejected(r.peer.ID)
	s.emitClose(r.peer)
	s.repair(r.peer.ID)
}

// onDisconnect handles DISCONNECT (S1 Algorithm 1): the peer leaves the
// active view and, if still alive, enters the passive view; then we refill
// from the passive view, never with the peer that just left us (doc.go,
// deviation 4). A Disconnect naming an older link is stale and ignored
// (doc.go, deviation 2).
func (s *State) onDisconnect(from peer.ID, m *Disconnect) bool {
	if i := s.activeIndex(from); i >= 0 && s.active[i].matches(m.Nonce) {
		l := s.removeActiveAt(i)
		s.counters.Disconnects++
		if !m.Alive {
			// A leaver forces no one out, so we may ask with high
			// priority at once.
			s.emitDown(l.peer, DownLeft)
			s.emitClose(l.peer)
			s.repair(from)
			return true
		}
		s.addPassive(l.peer)
		s.emitDown(l.peer, DownDisconnected)
		s.emitClose(l.peer)
		if s.cfg.WithoutTickRepair {
			// No shuffle tick will escalate for a node this left
			// isolated: it asks with high priority now, as S1 §4.3 has
			// a node with an empty active view do.
			s.repair(from)
		} else {
			s.repairAfterDisconnect(from)
		}
		return true
	}
	s.counters.StaleDisconnects++
	if !m.Alive && s.activeIndex(from) < 0 {
		// The peer left: forget it, and stop waiting for it.
		s.removePassive(from)
		if i := s.pendingIndex(from); i >= 0 {
			r := s.pending[i]
			s.pending = slices.Delete(s.pending, i, i+1)
			s.emitClose(r.peer)
			s.repair(from)
		}
	}
	return true
}

// onRequestTimeout handles TimerNeighborRequest and TimerJoin. A request
// still unanswered means the peer is unreachable (S1 §4.3: the connection
// could not be made): it leaves the passive view, the request is cancelled
// with a Disconnect in case it arrives late, and another candidate is tried.
func (s *State) onRequestTimeout(t Timer, join bool) bool {
	i := s.pendingIndex(t.Peer)
	if i < 0 || s.pending[i].nonce != t.Nonce || s.pending[i].join != join {
		return false
	}
	r := s.pending[i]
	s.pending = slices.Delete(s.pending, i, i+1)
	s.backOff(r.shift)
	if join {
		s.counters.JoinTimeouts++
	} else {
		s.counters.NeighborRequestsTimedOut++
		s.removePassive(r.peer.ID)
	}
	s.send(r.peer, &Disconnect{Alive: true, Nonce: r.nonce})
	s.emitClose(r.peer)
	s.repair(r.peer.ID)
	return true
}

// maxRequestBackoff bounds the doublings of the request timeouts: 16
// times the configured ones, 8 s for a Neighbor and 16 s for a Join by
// default, about where TCP's own connection set-up gives up its SYN
// retries' doubling (doc.go, deviation 6).
const maxRequestBackoff = 4

// requestWait is how long a request waits for its answer: base, doubled
// once for each step of backoff, and at most the longest Duration (a
// configured timeout near it would otherwise overflow into the past).
func (s *State) requestWait(base time.Duration) time.Duration {
	if base > math.MaxInt64>>s.backoff {
		return math.MaxInt64
	}
	return base << s.backoff
}

// backOff doubles the next requests' waits after one armed with shift
// went unanswered (doc.go, deviation 6): a peer that answers later than
// the timeout, a contact overloaded by a crowd of joiners or a host whose
// process is starved, would otherwise see every request cancelled by its
// own timer, and ask again and again, each time in vain. Requests sent
// together, as a repair sends one per missing slot, time out together and
// double the wait once, not once each: the backoff becomes one step
// above the request's own, never lower, as TCP doubles its wait once per
// retry.
func (s *State) backOff(shift uint8) {
	s.timedOut = true
	if !s.cfg.WithoutBackoff && shift >= s.backoff && s.backoff < maxRequestBackoff {
		s.backoff = min(shift+1, maxRequestBackoff)
		s.counters.RequestBackoffs++
	}
}

// relaxBackoff halves the waits again after a shuffle period in which no
// request timed out; called at the start of every shuffle
// period (startPeriod).
func (s *State) relaxBackoff() {
	if !s.timedOut && s.backoff > 0 {
		s.backoff--
	}
	s.timedOut = false
}

// onConnectionFailed handles a failed connection, TCP being the failure
// detector of S1 §4.1. An active peer is removed, not kept as passive since
// it is unreachable, and the view is repaired (S1 §4.3). A request target
// leaves the passive view and the next candidate is tried.
func (s *State) onConnectionFailed(id peer.ID) {
	if i := s.activeIndex(id); i >= 0 {
		l := s.removeActiveAt(i)
		s.counters.ConnectionFailures++
		s.emitDown(l.peer, DownFailed)
		s.repair(id)
		return
	}
	if i := s.pendingIndex(id); i >= 0 {
		s.pending = slices.Delete(s.pending, i, i+1)
		s.counters.ConnectionFailures++
		s.removePassive(id)
		s.repair(id)
		return
	}
	s.counters.IgnoredConnectionFailures++
}

// onConnectionClosed handles a deliberate close by a live peer
// (InputConnectionClosed; doc.go, deviation 13): an active link over it
// ends as a Disconnect(alive) would end it, without suspicion, and a
// request pending to it is given up, the peer staying in the passive view.
func (s *State) onConnectionClosed(id peer.ID) {
	if i := s.activeIndex(id); i >= 0 {
		l := s.removeActiveAt(i)
		s.counters.ConnectionsClosedByPeer++
		s.addPassive(l.peer)
		s.emitDown(l.peer, DownDisconnected)
		s.repairAfterDisconnect(id)
		return
	}
	if i := s.pendingIndex(id); i >= 0 {
		s.pending = slices.Delete(s.pending, i, i+1)
		s.counters.ConnectionsClosedByPeer++
		s.repair(id)
		return
	}
	s.counters.IgnoredConnectionFailures++
}

// leave tells every neighbour and every peer we are asking that we are
// leaving (Alive false, so they forget us), then clears the views. Leaving
// is not in S1; it spares the neighbours a failure detection.
func (s *State) leave() {
	for i := range s.active {
		l := &s.active[i]
		s.send(l.peer, &Disconnect{Alive: false, Nonce: l.disconnectNonce()})
		s.emitDown(l.peer, DownLeft)
		s.emitClose(l.peer)
	}
	for i := range s.pending {
		r := &s.pending[i]
		s.send(r.peer, &Disconnect{Alive: false, Nonce: r.nonce})
		s.emitClose(r.peer)
	}
	s.active = s.active[:0]
	s.passive = s.passive[:0]
	s.pending = s.pending[:0]
	s.rejected = s.rejected[:0]
	s.left = true
}
