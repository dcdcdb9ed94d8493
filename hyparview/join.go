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
// shuffle ticks, so an unreachable seed list costs one round per tick.
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
		s.pending = append(s.pending, request{peer: c, nonce: nonce, prio: PriorityHigh, join: true})
		s.counters.JoinsSent++
		s.send(c, &Join{Addr: s.self.Addr, Nonce: nonce})
		s.setTimer(Timer{Kind: TimerJoin, Peer: c.ID, Nonce: nonce}, s.cfg.JoinTimeout)
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
// Deviation: a full contact whose join eviction budget is spent refuses the
// link instead of dropping a neighbour (doc.go, deviation 12); see
// refuseJoin.
func (s *State) onJoin(from peer.ID, m *Join) bool {
	s.learnAddr(from, m.Addr)
	joiner := s.peerFor(from, m.Addr)
	if s.activeIndex(from) < 0 && len(s.active) >= s.cfg.ActiveViewSize && !s.spendJoinEviction() {
		s.refuseJoin(joiner, m.Nonce)
		return true
	}
	s.counters.JoinsAccepted++
	s.send(joiner, &NeighborReply{Accepted: true, Addr: s.self.Addr, Nonce: m.Nonce})
	if i := s.activeIndex(from); i >= 0 {
		// The joiner lost its side of our link (a restart): renew it.
		s.active[i] = link{peer: joiner, nonce: m.Nonce}
	} else {
		s.acceptLink(joiner, m.Nonce)
	}
	s.forwardJoin(joiner)
	return true
}

// refuseJoin serves a joiner without a link when the join eviction budget
// is spent (doc.go, deviation 12). The joiner gets a ShuffleReply with a
// random sample of our passive view, then NeighborReply(accepted false):
// it takes the sample as its passive view and repairs from it (S1 §4.3),
// asking one peer with high priority, as an isolated node does, and the
// others with low priority. The sample leaves out our active view, so the
// drops the joiner may force never cut one of our links. Starting the join
// walks instead would not protect our neighbours: the walks of a burst end
// mostly near us, at our neighbours, which would drop links to us to take
// the newcomers. With an empty passive view (a young cluster) there is no
// sample, and we start the walks of S1 Algorithm 1 without joining the
// joiner ourselves.
func (s *State) refuseJoin(joiner Peer, nonce uint64) {
	s.counters.JoinsRefused++
	if len(s.passive) > 0 {
		n := 1 + s.cfg.ShuffleActiveCount + s.cfg.ShufflePassiveCount
		msg := newShuffleReply(n)
		for _, i := range s.sample(len(s.passive), n, -1) {
			if p := s.passive[i]; p.ID != joiner.ID {
				msg.Peers = append(msg.Peers, p)
			}
		}
		s.send(joiner, msg)
	}
	s.send(joiner, &NeighborReply{Accepted: false, Addr: s.self.Addr, Nonce: nonce})
	if !s.busy(joiner.ID) {
		s.emitClose(joiner)
	}
	if len(s.passive) == 0 {
		s.forwardJoin(joiner)
	}
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

// spendJoinEviction reports whether the node may drop an established
// neighbour for a newcomer, and if so spends one unit of the join eviction
// budget. The budget is unlimited when JoinEvictionsPerShuffle is zero (S1);
// otherwise it refills on every shuffle tick (doc.go, deviation 12).
func (s *State) spendJoinEviction() bool {
	if s.cfg.JoinEvictionsPerShuffle == 0 {
		return true
	}
	if s.joinEvictions > 0 {
		s.joinEvictions--
		return true
	}
	return false
}

// joinEvictionsSpent reports whether the join eviction budget is limited
// and spent for this shuffle period.
func (s *State) joinEvictionsSpent() bool {
	return s.cfg.JoinEvictionsPerShuffle > 0 && s.joinEvictions == 0
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
func (s *State) onForwardJoin(from peer.ID, m *ForwardJoin) bool {
	if m.TTL < 0 || m.TTL > MaxTTL {
		return false
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
// Deviation: a full node whose join eviction budget is spent does not ask;
// the new node only enters the passive view, as when too many requests are
// in flight (doc.go, deviations 10 and 12). The budget is charged when the
// acceptance arrives, in replyAccepted, since only then is a member dropped.
func (s *State) acceptForwardJoin(n Peer) {
	if s.busy(n.ID) {
		return
	}
	if len(s.active) >= s.cfg.ActiveViewSize && s.joinEvictionsSpent() {
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
