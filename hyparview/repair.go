package hyparview

import "github.com/plumview/plumview/peer"

// repair refills the active view from the passive view (S1 §4.3) while
// active members plus requests in flight are fewer than ActiveViewSize.
// Candidates are random passive peers other than exclude, not yet asked,
// and, for a low-priority request, not refused since the refusals were last forgotten (startPeriod).
//
// Deviation: S1 tries one candidate at a time; we ask for all missing slots
// at once. Only one high-priority request is in flight at a time, so an
// isolated node forces at most one peer to drop a neighbour.
//
// Isolation recovery: with no neighbour, no request in flight and an empty
// passive view, the node joins again through its seed contacts (doc.go,
// deviation 7).
func (s *State) repair(exclude peer.ID) { s.refill(exclude, true) }

// repairAfterDisconnect refills after a live peer disconnected us
// (doc.go, deviation 4), with low priority only. S1's DISCONNECT
// handler does not refill at all. Asking with high priority here would let
// a dropped node force another node to drop, which forces another: with
// more nodes than free slots the drop would circle the overlay at network
// speed. An isolated node escalates on its next shuffle tick instead.
func (s *State) repairAfterDisconnect(exclude peer.ID) { s.refill(exclude, false) }

func (s *State) refill(exclude peer.ID, high bool) {
	for len(s.active)+len(s.pending) < s.cfg.ActiveViewSize && len(s.pending) < s.maxPending() {
		prio := PriorityLow
		if high && len(s.active) == 0 && !s.highPending() {
			prio = PriorityHigh
		}
		i := s.repairCandidate(exclude, prio)
		if i < 0 {
			break
		}
		s.requestNeighbor(s.passive[i], prio)
	}
	if len(s.active) == 0 && len(s.pending) == 0 && len(s.passive) == 0 {
		s.startJoin()
	}
}

func (s *State) highPending() bool {
	for i := range s.pending {
		if s.pending[i].prio == PriorityHigh {
			return true
		}
	}
	return false
}

// repairCandidate returns the index of a random passive peer fit for a
// request of priority prio, or -1.
func (s *State) repairCandidate(exclude peer.ID, prio Priority) int {
	fit := func(p peer.ID) bool {
		return p != exclude && s.pendingIndex(p) < 0 && (prio == PriorityHigh || !s.isRejected(p))
	}
	n := 0
	for i := range s.passive {
		if fit(s.passive[i].ID) {
			n++
		}
	}
	if n == 0 {
		return -1
	}
	k := s.rng.IntN(n)
	for i := range s.passive {
		if fit(s.passive[i].ID) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}

// starved reports whether the node has at most half its active slots
// filled, nothing in flight, and no passive peer left that has not refused
// it since the refusals were last forgotten (startPeriod). Such a node may sit in a small island
// whose members only know one another and peers that are full.
func (s *State) starved() bool {
	if len(s.active) == 0 || len(s.active) > s.cfg.ActiveViewSize/2 || len(s.pending) > 0 {
		return false
	}
	for i := range s.passive {
		if !s.isRejected(s.passive[i].ID) {
			return false
		}
	}
	return true
}

// escalate is our addition for starved nodes (doc.go, deviation 7):
// one high-priority request to a random passive peer, which must accept, or
// if the passive view is empty a Join through the seed contacts. S1 §4.3
// uses high priority only for an empty active view; a starved node is
// treated as nearly isolated. With an active view of 3 or more, a node one
// short of a full view never escalates, so the odd free slot that a cluster
// may keep for good does not wander from node to node.
func (s *State) escalate() {
	if i := s.repairCandidate(s.self.ID, PriorityHigh); i >= 0 {
		s.requestNeighbor(s.passive[i], PriorityHigh)
		return
	}
	s.startJoin()
}

// refresh forces one new link, with a high-priority request to a seed
// contact or a random passive peer, half the time each. An island whose
// members all have full views never asks anyone; the seeds are the peers
// most likely to be outside it, and the passive view holds the peers that
// dropped its members.
func (s *State) refresh() {
	if s.rng.IntN(2) == 0 {
		if c, ok := s.randomIdleContact(); ok {
			s.requestNeighbor(c, PriorityHigh)
			return
		}
	}
	if i := s.repairCandidate(s.self.ID, PriorityHigh); i >= 0 {
		s.requestNeighbor(s.passive[i], PriorityHigh)
	}
}

// randomIdleContact returns a random seed contact that is neither active
// nor being asked.
func (s *State) randomIdleContact() (Peer, bool) {
	n := 0
	for i := range s.contacts {
		if !s.busy(s.contacts[i].ID) {
			n++
		}
	}
	if n == 0 {
		return Peer{}, false
	}
	k := s.rng.IntN(n)
	for i := range s.contacts {
		if !s.busy(s.contacts[i].ID) {
			if k == 0 {
				return s.contacts[i], true
			}
			k--
		}
	}
	return Peer{}, false
}

// shouldRefresh decides at random whether a connected node refreshes this
// tick. A closed island, whose members all have full active views, is
// stable under the rules of S1: low-priority requests only fill free slots,
// and walks and shuffles never leave the island. Locally it looks like a
// small healthy cluster, so every node refreshes now and then:
//
//   - with chance 1/n₀ per tick, where n₀ = 10^(ActiveViewSize−1) is the
//     cluster size the active view size implies (S1 §4.1, log10(n)+1
//     inverted; capped at 1/10): about one forced link per shuffle period in
//     the whole cluster, if it is sized as configured;
//   - plus (1−f)³/8, where f is the passive view's fill ratio: a node that
//     knows few peers is more likely to sit in a small island;
//   - plus, for a node that joined recently, a chance that decays over its
//     first youngTicks ticks, early ones included (below).
//
// Measured on this package's in-memory network (20 seeds, all nodes joining
// through one contact, NeighborUp events per node per shuffle period once
// settled): 0.0003 to 0.0005 for 60 to 100 nodes and 0.003 for 30 nodes at
// the default sizes; 0.04 for 30 nodes with ActiveViewSize 3; 0.3 for 10
// nodes at the default sizes and 0.5 with ConfigForClusterSize(10). In 1,200
// runs of 30 to 60 nodes joining through one contact (ActiveViewSize 3 to
// 5), 2 were still split after 30 shuffle periods without the floor, none
// with it.
func (s *State) shouldRefresh() bool {
	if len(s.active) == 0 || len(s.pending) > 0 {
		return false
	}
	empty := float64(s.cfg.PassiveViewSize-len(s.passive)) / float64(s.cfg.PassiveViewSize)
	p := s.refreshFloor() + empty*empty*empty/8
	if s.ticks <= youngTicks {
		p += youngRefreshChance * float64(youngTicks+1-s.ticks) / youngTicks
	}
	return s.rng.Float64() < p
}

// A node refreshes more often in its first youngTicks shuffle ticks (the
// five early ticks of doc.go, deviation 14, included: about 15 periods), with
// a chance falling linearly from youngRefreshChance: joins rewire the overlay
// most (each Join and each walk's end forces a drop somewhere), and that is
// when islands form (doc.go, deviation 7). It costs each node about one
// extra forced link after joining. Measured: in 3,000 runs of 30 to 60 nodes
// joining through one contact in bursts (ActiveViewSize 3 to 5), the overlay
// was split after 10 shuffle periods in 5 runs without this and 1 with it,
// and after 30 periods in 1 run without it and none with it.
const (
	youngTicks         = 20
	youngRefreshChance = 0.1
)

// refreshFloor is 10^-(ActiveViewSize-1), at most 1/10.
func (s *State) refreshFloor() float64 {
	p := 0.1
	for range s.cfg.ActiveViewSize - 2 {
		p /= 10
	}
	return p
}

// onContact forces one link to c with a high-priority request (InputContact).
func (s *State) onContact(c Peer) {
	if c.ID == s.self.ID || s.busy(c.ID) || len(s.pending) >= s.maxPending() {
		s.counters.IgnoredInputs++
		return
	}
	s.requestNeighbor(c, PriorityHigh)
}
