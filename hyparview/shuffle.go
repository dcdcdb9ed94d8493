package hyparview

import "github.com/plumview/plumview/peer"

// armShuffle sets the next shuffle timer. Only the timer carrying the latest
// nonce is live, so a duplicated or late timer cannot fork the chain. A
// node's first earlyTicks timers come at a tenth of the interval unless
// Config.WithoutEarlyTicks (doc.go, deviation 14).
func (s *State) armShuffle() {
	s.shuffleNonce++
	d := s.cfg.ShuffleInterval
	switch {
	case s.earlyTick(s.ticks + 1):
		d /= earlyTickDivisor
	case s.earlyTick(s.ticks): // the last early tick: the rest of the first period
		d -= earlyTicks * (d / earlyTickDivisor)
	}
	s.setTimer(Timer{Kind: TimerShuffle, Nonce: s.shuffleNonce}, s.jitter(d))
}

// A node's first earlyTicks shuffle ticks after InputJoin come every
// ShuffleInterval/earlyTickDivisor, extra ticks within its first period,
// whose end still comes one interval after the join (doc.go, deviation
// 14). What is counted per period (the join eviction budget and the
// links' marks, the refusals and backoff forgotten or relaxed, the
// contacts tried) waits for that tick.
const (
	earlyTicks       = 5
	earlyTickDivisor = 10
)

// earlyTick reports whether the node's tick number n (1 for the first
// after InputJoin) comes early.
func (s *State) earlyTick(n uint64) bool {
	return !s.cfg.WithoutEarlyTicks && n <= earlyTicks
}

// onShuffleTimer runs the periodic step: re-arm, start a period unless the
// tick is an early one (startPeriod), start a shuffle (S1 §4.4), and
// repair the active view. Repairing here
// is our addition: S1 repairs only on failure, but a node refused by full
// peers would otherwise stay short of neighbours, and an isolated node must
// recover (doc.go, deviation 7); with a join eviction budget, an isolated
// node first joins again through its seed contacts (deviation 12).
func (s *State) onShuffleTimer(t Timer) bool {
	if t.Nonce != s.shuffleNonce || !s.started {
		return false
	}
	s.ticks++
	s.armShuffle()
	starved := !s.cfg.WithoutEscalation && s.starved() // before the refusals are forgotten
	if !s.earlyTick(s.ticks) {
		s.startPeriod()
	}
	if len(s.active) > 0 {
		s.startShuffle()
	}
	if s.cfg.JoinEvictionsPerShuffle > 0 && len(s.active) == 0 && len(s.pending) == 0 {
		// With a join eviction budget, an isolated node joins again
		// through its seed contacts before it repairs (doc.go, deviation
		// 12): the contact's walks place it where the budgets allow.
		s.startJoin()
	}
	switch {
	case starved:
		s.escalate()
	case !s.cfg.WithoutRefresh && s.shouldRefresh():
		s.refresh()
	}
	if !s.cfg.WithoutTickRepair {
		s.repair(s.self.ID)
	}
	return true
}

// startPeriod starts a shuffle period, at every tick but the early ones
// (doc.go, deviation 14): the join eviction budget refills, the refusals
// and request timeouts of the period before are forgotten or relaxed, and
// the seed contacts may be tried again.
func (s *State) startPeriod() {
	s.periods++
	s.joinEvictions = s.cfg.JoinEvictionsPerShuffle
	for i := range s.active {
		s.active[i].young, s.active[i].contact = false, false
	}
	s.forgetRefusals()
	s.relaxBackoff()
	s.joinTries = 0
}

// refusalMemoryPeriods is how many shuffle periods a node at most one short
// of a full active view remembers the passive peers that refused
// its low-priority requests, with the tick repair on (doc.go, deviation
// 7). Forgetting them every period had a node one short of a full view,
// in a cluster whose other nodes are full (the odd free slot), ask every
// passive peer again each period: in production each request was then a
// connection set up and refused (in an idle cluster of 32 agents, 177
// such requests in 20 s from the two nodes one short; a refused request
// now costs two datagrams, docs/reliability.md, "Link requests without
// connections"). Remembered for
// two periods, they are asked half as often. Six periods halved the
// requests again but cost delivery: a refuser full a minute ago may have
// a free slot now, and in the simulator's continuous experiment (500
// nodes, seeds 1 to 7) the "no loss" row fell to 99.88-99.97 % on three
// seeds, where two periods keep 100 % on all seven and the 5 % loss row
// at 99.81 % on average (99.84 % before). A node two or more short (or
// with no neighbour) forgets them every period, as before, and so does a
// node without the tick repair (S1's rules). Asking one passive peer per
// period instead (a refusal waiting for the next period rather than asking
// the next peer at once) cost delivery too: the same experiment's "no
// loss" row fell to 99.39 % on seed 7 and the 5 % loss row to
// 99.03-99.72 % (99.50-99.88 % with the chain), the free slots staying
// open longer.
const refusalMemoryPeriods = 2

// forgetRefusals clears the refusals at the start of a shuffle period
// (startPeriod), unless the node
// is at most one short of a full active view (and has a neighbour) and
// remembered them for fewer than refusalMemoryPeriods periods.
func (s *State) forgetRefusals() {
	if !s.cfg.WithoutTickRepair && len(s.active) > 0 && len(s.active) >= s.cfg.ActiveViewSize-1 && s.periods-s.refusalsSince < refusalMemoryPeriods {
		return
	}
	s.rejected = s.rejected[:0]
	s.refusalsSince = s.periods
}

// startShuffle sends SHUFFLE to a random active neighbour with our own id,
// ka random active members and kp random passive members (S1 §4.4). The
// target itself is left out of the active sample: it would discard its own
// id anyway.
func (s *State) startShuffle() {
	ti := s.rng.IntN(len(s.active))
	target := s.active[ti].peer
	msg := newShuffle(1 + s.cfg.ShuffleActiveCount + s.cfg.ShufflePassiveCount)
	msg.Origin, msg.TTL = s.self, s.cfg.ShuffleTTL
	peers := append(msg.Peers, s.self)
	var scratch [sampleScratch]int
	for _, i := range s.sample(scratch[:0], len(s.active), s.cfg.ShuffleActiveCount, ti) {
		peers = append(peers, s.active[i].peer)
	}
	for _, i := range s.sample(scratch[:0], len(s.passive), s.cfg.ShufflePassiveCount, -1) {
		peers = append(peers, s.passive[i])
	}
	msg.Peers = peers
	s.shuffleSent = s.shuffleSent[:0]
	for i := range peers {
		s.shuffleSent = append(s.shuffleSent, peers[i].ID)
	}
	s.counters.ShufflesSent++
	s.send(target, msg)
}

// onShuffle handles a SHUFFLE (S1 §4.4). The TTL is decremented first; if it
// is still positive and we have more than one neighbour, the walk goes on to
// a random neighbour other than the sender. Otherwise we accept: reply to the
// origin with as many random passive peers as we received, and merge the
// received peers into the passive view. (hashicorp/hyparview tests TTL >= 0
// instead, and flags that test as uncertain; we follow S1's text.)
//
// Deviations: the walk also avoids the origin, which would drop its own
// shuffle; when the passive view is short, the reply is padded from the
// active view; the origin's own id is left out of the reply.
func (s *State) onShuffle(from peer.ID, m *Shuffle) bool {
	if m.TTL < 0 || m.TTL > MaxTTL || len(m.Peers) > s.cfg.maxPeerList() || m.Origin.ID == s.self.ID {
		return false
	}
	if from == m.Origin.ID {
		s.learnAddr(from, m.Origin.Addr)
	}
	if ttl := m.TTL - 1; ttl > 0 && len(s.active) > 1 {
		if i := s.randomActiveExcept(from, m.Origin.ID); i >= 0 {
			s.counters.ShufflesForwarded++
			s.send(s.active[i].peer, &Shuffle{Origin: m.Origin, TTL: ttl, Peers: m.Peers})
			return true
		}
	}
	s.counters.ShufflesAccepted++
	var scratch [sampleScratch]peer.ID
	reply, sent := s.shuffleReply(len(m.Peers), m.Origin.ID, scratch[:0])
	s.send(m.Origin, reply)
	if !s.busy(m.Origin.ID) {
		// The reply travels on a temporary connection (S1 §4.4).
		s.emitClose(m.Origin)
	}
	s.mergePassive(m.Peers, sent)
	return true
}

// shuffleReply builds a reply of n random passive peers, padded from the
// active view, leaving out the origin, and appends the passive ids it sent
// to sent.
func (s *State) shuffleReply(n int, origin peer.ID, sent []peer.ID) (*ShuffleReply, []peer.ID) {
	msg := newShuffleReply(n)
	reply := msg.Peers
	var scratch [sampleScratch]int
	for _, i := range s.sample(scratch[:0], len(s.passive), n+1, -1) { // n+1: the origin may be among them
		if len(reply) == n {
			break
		}
		if p := s.passive[i]; p.ID != origin {
			reply = append(reply, p)
			sent = append(sent, p.ID)
		}
	}
	if len(reply) < n {
		for _, i := range s.sample(scratch[:0], len(s.active), n-len(reply)+1, -1) {
			if len(reply) == n {
				break
			}
			if p := s.active[i].peer; p.ID != origin {
				reply = append(reply, p)
			}
		}
	}
	msg.Peers = reply
	return msg, sent
}

// onShuffleReply merges the acceptor's sample into the passive view,
// evicting first the peers we sent in our shuffle (S1 §4.4).
func (s *State) onShuffleReply(m *ShuffleReply) bool {
	if len(m.Peers) > s.cfg.maxPeerList() {
		return false
	}
	s.mergePassive(m.Peers, s.shuffleSent)
	return true
}

// mergePassive adds peers to the passive view, skipping self, active and
// known peers. When the view is full it "will first attempt to remove
// identifiers sent to the peer. If no such identifiers remain in the passive
// view, it will remove identifiers at random" (S1 §4.4): sent lists those,
// and they are evicted in the order they were sent.
func (s *State) mergePassive(peers []Peer, sent []peer.ID) {
	next := 0 // sent[:next] are no longer candidates for eviction
	for _, p := range peers {
		if p.ID == s.self.ID || s.activeIndex(p.ID) >= 0 || s.passiveIndex(p.ID) >= 0 {
			continue
		}
		if len(s.passive) >= s.cfg.PassiveViewSize {
			s.counters.Evictions++
			i := -1
			for i < 0 && next < len(sent) {
				i = s.passiveIndex(sent[next])
				next++
			}
			if i < 0 {
				i = s.rng.IntN(len(s.passive))
			}
			s.removePassiveAt(i)
		}
		s.passive = append(s.passive, p)
	}
}

// boxLen is the peer-list length that newShuffle and newShuffleReply fit in
// the message's own allocation: 1+ka+kp at the defaults of S1 §5.1.
const boxLen = 8

type shuffleBox struct {
	msg Shuffle
	arr [boxLen]Peer
}

type shuffleReplyBox struct {
	msg ShuffleReply
	arr [boxLen]Peer
}

// newShuffle returns a Shuffle with an empty peer list of capacity n, in one
// allocation when n is small.
func newShuffle(n int) *Shuffle {
	if n <= boxLen {
		b := new(shuffleBox)
		b.msg.Peers = b.arr[:0:n]
		return &b.msg
	}
	return &Shuffle{Peers: make([]Peer, 0, n)}
}

// newShuffleReply returns a ShuffleReply with an empty peer list of capacity
// n, in one allocation when n is small.
func newShuffleReply(n int) *ShuffleReply {
	if n <= boxLen {
		b := new(shuffleReplyBox)
		b.msg.Peers = b.arr[:0:n]
		return &b.msg
	}
	return &ShuffleReply{Peers: make([]Peer, 0, n)}
}
