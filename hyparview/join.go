package hyparview

import "github.com/plumview/plumview/peer"

// onJoinInput starts the node (S1 §4.2): it remembers the seed contacts,
// starts the shuffle timer once, and sends Join to the first contact unless
// the node already has neighbours.
func (s *State) onJoinInput(contacts []Peer) {
	s.contacts = s.contacts[:0]
	for _, c := range contacts {
		if c.ID != s.self.ID && !containsPeer(s.contacts, c.ID) {
			s.contacts = append(s.contacts, c)
		}
	}
	s.nextContact, s.joinTries = 0, 0
	if !s.started {
		s.started = true
		s.armShuffle()
	}
	if len(s.active) == 0 && !s.joinPending() {
		s.startJoin()
	}
}

func containsPeer(ps []Peer, id peer.ID) bool {
	for i := range ps {
		if ps[i].ID == id {
			return true
		}
	}
	return false
}

func (s *State) joinPending() bool {
	for i := range s.pending {
		if s.pending[i].join {
			return true
		}
	}
	return false
}

// startJoin sends Join to the next seed contact, round-robin, and arms
// TimerJoin. Each contact is tried at most once between successes or
// period starts, so an unreachable seed list costs one round per period.
// Re-joining when isolated is our addition (doc.go, deviation 7).
func (s *State) startJoin() bool {
	for s.joinTries < len(s.contacts) && len(s.pending) < s.maxPending() {
		c := s.contacts[s.nextContact%len(s.contacts)]
		s.nextContact++
		s.joinTries++
		if s.busy(c.ID) {
			continue
		}
		nonce := s.newNonce()
		s.pending = append(s.pending, request{peer: c, nonce: nonce, prio: PriorityHigh, join: true, shift: s.backoff})
		s.counters.JoinsSent++
		s.send(c, &Join{Addr: s.self.Addr, Nonce: nonce})
		s.setTimer(Timer{Kind: TimerJoin, Peer: c.ID, Nonce: nonce}, s.requestWait(s.cfg.JoinTimeout))
		return true
	}
	return false
}

// onJoin handles a Join at the contact node (S1 §4.2, Algorithm 1): the
// contact always accepts, dropping a random member if full, acknowledges the
// joiner, then sends FORWARDJOIN(joiner, ARWL) to every other active member.
// The ForwardJoins go out after the drop, as in Algorithm 1, so the dropped
// member is not asked to take the joiner.
//
// Deviation: with a join eviction budget, a full contact makes room by
// newcomerDrop's rule rather than at random, and refuses the link when
// that rule finds no room (doc.go, deviation 12); see refuseJoin.
func (s *State) onJoin(from peer.ID, m *Join) bool {
	s.learnAddr(from, m.Addr)
	joiner := s.peerFor(from, m.Addr)
	drop := -1
	if s.cfg.JoinEvictionsPerShuffle > 0 && s.activeIndex(from) < 0 && len(s.active) >= s.cfg.ActiveViewSize {
		if drop = s.newcomerDrop(); drop < 0 {
			s.refuseJoin(joiner, m.Nonce)
			return true
		}
	}
	s.counters.JoinsAccepted++
	s.send(joiner, &NeighborReply{Accepted: true, Addr: s.self.Addr, Nonce: m.Nonce})
	if i := s.activeIndex(from); i >= 0 {
		// The joiner lost its side of our link (a restart): renew it.
		s.renewLink(i, joiner, m.Nonce)
	} else {
		if drop >= 0 {
			s.dropActiveAt(drop)
		}
		s.acceptLink(joiner, m.Nonce)
	}
	s.forwardJoin(joiner)
	return true
}

// refuseJoin serves a joiner without a link when newcomerDrop finds no
// room (doc.go, deviation 12): NeighborReply(accepted false), then the join
// walks of S1 Algorithm 1 as for an accepted joiner. The walks end at
// random nodes away from us, which ask the joiner to be their neighbour
// (acceptForwardJoin), so the joiner is placed in the overlay as S1 places
// it, minus the link to us. Where a walk ends at one of our neighbours,
// that neighbour does not drop us for the joiner: our ForwardJoin marked us
// as a contact there (onForwardJoin).
func (s *State) refuseJoin(joiner Peer, nonce uint64) {
	s.counters.JoinsRefused++
	s.send(joiner, &NeighborReply{Accepted: false, Addr: s.self.Addr, Nonce: nonce})
	if !s.busy(joiner.ID) {
		s.emitClose(joiner)
	}
	s.forwardJoin(joiner)
}

// renewLink renews the i-th link under a new nonce, for a peer that asks
// again because it lost its side (a restart). The link keeps its flags.
func (s *State) renewLink(i int, p Peer, nonce uint64) {
	l := &s.active[i]
	l.peer, l.nonce, l.alt, l.own = p, nonce, 0, 0
}

// forwardJoin starts the join walks: FORWARDJOIN(joiner, ARWL) to every
// active member other than the joiner (S1 §4.2, Algorithm 1).
func (s *State) forwardJoin(joiner Peer) {
	for i := range s.active {
		if p := s.active[i].peer; p.ID != joiner.ID {
			s.send(p, &ForwardJoin{NewNode: joiner, TTL: s.cfg.ActiveRandomWalkLength})
		}
	}
}

// newcomerDrop chooses which neighbour a full node drops to make room for
// a newcomer, a joiner at its contact or the new node at the end of a join
// walk, when the join eviction budget is on (doc.go, deviation 12; S1
// Algorithm 1 drops a random neighbour). It returns the index of:
//   - a random young link, one made since the shuffle period began, at no
//     cost: the newcomers of a burst displace one another, as in S1;
//   - else a random established link, spending a unit of the budget;
//   - else -1: the budget is spent, there is no room.
//
// A neighbour marked as a contact (it started a join walk through us this
// shuffle period) is never chosen, so a walk ending next to the contact
// that started it does not cut the contact's link to us.
func (s *State) newcomerDrop() int {
	if i := s.randomLink(youngLink); i >= 0 {
		return i
	}
	if s.joinEvictions > 0 {
		if i := s.randomLink(establishedLink); i >= 0 {
			s.spendJoinEviction()
			return i
		}
	}
	return -1
}

// forcedDrop chooses which neighbour a full node drops for a link it must
// take, when the join eviction budget is on (doc.go, deviation 12): while
// budget is left, a random link as in S1, spending a unit if it is
// established; once it is spent, a random young link, else a random
// established one all the same. A neighbour marked as a contact is never
// chosen. It returns -1 only if every neighbour is marked.
func (s *State) forcedDrop() int {
	if s.joinEvictions > 0 {
		if i := s.randomLink(anyLink); i >= 0 {
			if !s.active[i].young {
				s.spendJoinEviction()
			}
			return i
		}
	}
	if i := s.randomLink(youngLink); i >= 0 {
		return i
	}
	return s.randomLink(establishedLink)
}

// spendJoinEviction spends a unit of the join eviction budget.
func (s *State) spendJoinEviction() {
	s.joinEvictions--
	s.counters.JoinEvictions++
}

// newcomerRoom reports, without choosing, whether newcomerDrop would find
// room.
func (s *State) newcomerRoom() bool {
	for i := range s.active {
		if l := &s.active[i]; !l.contact && (l.young || s.joinEvictions > 0) {
			return true
		}
	}
	return false
}

// Kinds of link for randomLink.
const (
	anyLink = iota
	youngLink
	establishedLink
)

// randomLink returns the index of a random active link of the given kind
// that is not marked as a contact, or -1 if there is none.
func (s *State) randomLink(kind int) int {
	n := 0
	for i := range s.active {
		if s.linkOfKind(i, kind) {
			n++
		}
	}
	if n == 0 {
		return -1
	}
	k := s.rng.IntN(n)
	for i := range s.active {
		if s.linkOfKind(i, kind) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}

// linkOfKind reports whether the i-th active link is of the given kind and
// not marked as a contact.
func (s *State) linkOfKind(i, kind int) bool {
	l := &s.active[i]
	return !l.contact && (kind == anyLink || l.young == (kind == youngLink))
}

// acceptLink adds p to the active view for a request carrying theirs. If we
// have a request pending to p too, both ends asked at once: the link gets
// both nonces and the larger is the one both ends agree on.
func (s *State) acceptLink(p Peer, theirs uint64) {
	l := link{peer: p, nonce: theirs}
	if i := s.pendingIndex(p.ID); i >= 0 {
		own := s.pending[i].nonce
		l.own = own
		l.nonce, l.alt = max(own, theirs), min(own, theirs)
		s.counters.CrossedHandshakes++
	}
	s.addActive(l)
}

// onForwardJoin handles one step of a join walk (S1 §4.2, Algorithm 1):
//  1. if TTL is 0 or the active view holds at most one node, the walk ends
//     here and we ask the new node to become our neighbour;
//  2. else if TTL equals PRWL, the new node enters the passive view;
//  3. the TTL is decremented and the walk goes on to a random active
//     member other than the sender and the new node.
//
// Deviation: Algorithm 1 tests "#activeView == 0" where the text says the
// view holds one node; we follow the text, as a walk cannot continue from a
// node whose only neighbour is the sender (doc.go, deviation 3). If no
// member is left to forward to, the walk also ends here.
//
// A walk's first hop (TTL ARWL) comes from the new node's contact, which
// we mark as such until our next shuffle period: with a join eviction
// budget, no walk ending here drops it (newcomerDrop; doc.go, deviation
// 12).
func (s *State) onForwardJoin(from peer.ID, m *ForwardJoin) bool {
	if m.TTL < 0 || m.TTL > MaxTTL {
		return false
	}
	if m.TTL == s.cfg.ActiveRandomWalkLength {
		if i := s.activeIndex(from); i >= 0 {
			s.active[i].contact = true
		}
	}
	n := m.NewNode
	if n.ID == s.self.ID {
		return true // our own walk came back to us: nothing to do
	}
	if m.TTL == 0 || len(s.active) <= 1 {
		s.acceptForwardJoin(n)
		return true
	}
	if m.TTL == s.cfg.PassiveRandomWalkLength {
		s.addPassive(n)
	}
	next := s.randomActiveExcept(from, n.ID)
	if next < 0 {
		s.acceptForwardJoin(n)
		return true
	}
	s.counters.ForwardJoinsForwarded++
	s.send(s.active[next].peer, &ForwardJoin{NewNode: n, TTL: m.TTL - 1})
	return true
}

// acceptForwardJoin ends a join walk here. Deviation: Algorithm 1 adds the
// new node to the active view at once, leaving the new node unaware of the
// link; we send it Neighbor(high) and add it when it accepts, so the link is
// symmetric (doc.go, deviation 1).
//
// Deviation: with a join eviction budget, a full node where newcomerDrop
// finds no room does not ask; the new node only enters the passive view, as
// when too many requests are in flight (doc.go, deviations 10 and 12). The
// drop is chosen, and the budget charged, when the acceptance arrives, in
// replyAccepted, since only then is a member dropped.
func (s *State) acceptForwardJoin(n Peer) {
	if s.busy(n.ID) {
		return
	}
	if s.cfg.JoinEvictionsPerShuffle > 0 && len(s.active) >= s.cfg.ActiveViewSize && !s.newcomerRoom() {
		s.counters.ForwardJoinsRefused++
		s.addPassive(n)
		return
	}
	if len(s.pending) >= s.maxPending() {
		s.addPassive(n)
		return
	}
	s.counters.ForwardJoinsAccepted++
	s.requestNeighbor(n, PriorityHigh)
	s.pending[len(s.pending)-1].walk = true
}
