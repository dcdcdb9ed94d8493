package hyparview

import (
	"slices"
	"time"

	"github.com/plumview/plumview/peer"
)

// Views are small slices scanned linearly: at the paper's sizes (5 and 30,
// S1 §5.1) this beats a map, and iteration order never depends on Go's map
// randomisation.

func (s *State) activeIndex(id peer.ID) int {
	for i := range s.active {
		if s.active[i].peer.ID == id {
			return i
		}
	}
	return -1
}

func (s *State) passiveIndex(id peer.ID) int {
	for i := range s.passive {
		if s.passive[i].ID == id {
			return i
		}
	}
	return -1
}

// IsPending reports whether id is being asked to become a neighbour (a
// NEIGHBOR or JOIN request in flight).
func (s *State) IsPending(id peer.ID) bool { return s.pendingIndex(id) >= 0 }

// AwaitsReply reports whether the request in flight to id, if any, is the
// one named nonce: a driver that sends a request again (over another
// path) asks first whether it is still wanted.
func (s *State) AwaitsReply(id peer.ID, nonce uint64) bool {
	i := s.pendingIndex(id)
	return i >= 0 && s.pending[i].nonce == nonce
}

func (s *State) pendingIndex(id peer.ID) int {
	for i := range s.pending {
		if s.pending[i].peer.ID == id {
			return i
		}
	}
	return -1
}

func (s *State) isRejected(id peer.ID) bool { return slices.Contains(s.rejected, id) }

// busy reports whether id is active or has a request pending: a peer we still
// hold a connection to.
func (s *State) busy(id peer.ID) bool {
	return s.activeIndex(id) >= 0 || s.pendingIndex(id) >= 0
}

// learnAddr records the address a peer announced for itself. Only a
// message from the peer itself may change it.
func (s *State) learnAddr(id peer.ID, addr string) {
	if addr == "" {
		return
	}
	if i := s.activeIndex(id); i >= 0 {
		s.active[i].peer.Addr = addr
	}
	if i := s.passiveIndex(id); i >= 0 {
		s.passive[i].Addr = addr
	}
	if i := s.pendingIndex(id); i >= 0 {
		s.pending[i].peer.Addr = addr
	}
}

// peerFor returns id with the best address we know: addr if given, else the
// stored one.
func (s *State) peerFor(id peer.ID, addr string) Peer {
	if addr != "" {
		return Peer{ID: id, Addr: addr}
	}
	if i := s.activeIndex(id); i >= 0 {
		return s.active[i].peer
	}
	if i := s.passiveIndex(id); i >= 0 {
		return s.passive[i]
	}
	if i := s.pendingIndex(id); i >= 0 {
		return s.pending[i].peer
	}
	return Peer{ID: id}
}

// addActive puts l in the active view, dropping a random member first if the
// view is full (addNodeActiveView, S1 Algorithm 1). The caller has checked
// that l.peer is neither self nor active.
func (s *State) addActive(l link) {
	s.removePassive(l.peer.ID)
	s.removeRejected(l.peer.ID)
	if i := s.pendingIndex(l.peer.ID); i >= 0 {
		s.pending = slices.Delete(s.pending, i, i+1)
	}
	if len(s.active) >= s.cfg.ActiveViewSize {
		s.dropRandomActive()
	}
	l.young = true
	s.active = append(s.active, l)
	s.joinTries = 0
	s.emitUp(l.peer)
}

// dropRandomActive makes room in a full active view
// (dropRandomElementFromActiveView, S1 Algorithm 1): the dropped peer is told
// with a Disconnect and kept in the passive view.
//
// Deviation: with a join eviction budget, the member is chosen by
// forcedDrop (doc.go, deviation 12). This is the drop of S1's high-priority
// requests and of acceptances that arrive when the view has filled
// meanwhile, which must go through; the drops for newcomers are
// newcomerDrop's.
func (s *State) dropRandomActive() {
	i := -1
	if s.cfg.JoinEvictionsPerShuffle > 0 {
		i = s.forcedDrop()
	}
	if i < 0 {
		i = s.rng.IntN(len(s.active))
	}
	s.dropActiveAt(i)
}

// dropActiveAt drops the i-th active member: it is told with a Disconnect
// and kept in the passive view.
func (s *State) dropActiveAt(i int) {
	l := s.active[i]
	s.active = slices.Delete(s.active, i, i+1)
	s.counters.Drops++
	s.send(l.peer, &Disconnect{Alive: true, Nonce: l.disconnectNonce()})
	s.addPassive(l.peer)
	s.emitDown(l.peer, DownDropped)
	s.emitClose(l.peer)
}

// removeActiveAt removes and returns the i-th active member without any
// output.
func (s *State) removeActiveAt(i int) link {
	l := s.active[i]
	s.active = slices.Delete(s.active, i, i+1)
	return l
}

// addPassive adds p to the passive view unless it is self, active or
// already passive, evicting a random member if full (addNodePassiveView,
// S1 Algorithm 1).
func (s *State) addPassive(p Peer) {
	if p.ID == s.self.ID || s.activeIndex(p.ID) >= 0 || s.passiveIndex(p.ID) >= 0 {
		return
	}
	if len(s.passive) >= s.cfg.PassiveViewSize {
		s.removePassiveAt(s.rng.IntN(len(s.passive)))
		s.counters.Evictions++
	}
	s.passive = append(s.passive, p)
}

func (s *State) removePassive(id peer.ID) {
	if i := s.passiveIndex(id); i >= 0 {
		s.removePassiveAt(i)
	}
}

// removePassiveAt removes the i-th passive member by moving the last one
// into its place: the passive view is a set, and this keeps merges cheap.
func (s *State) removePassiveAt(i int) {
	last := len(s.passive) - 1
	s.passive[i] = s.passive[last]
	s.passive[last] = Peer{}
	s.passive = s.passive[:last]
}

// addRejected remembers a refuser until a period's start forgets it
// (forgetRefusals). The list is
// bounded by the passive view's size: past that, the oldest refusal is
// forgotten, so peers feeding us fresh ids cannot make it grow.
func (s *State) addRejected(id peer.ID) {
	if s.isRejected(id) {
		return
	}
	if len(s.rejected) >= s.cfg.PassiveViewSize {
		s.rejected = slices.Delete(s.rejected, 0, 1)
	}
	s.rejected = append(s.rejected, id)
}

func (s *State) removeRejected(id peer.ID) {
	if i := slices.Index(s.rejected, id); i >= 0 {
		s.rejected = slices.Delete(s.rejected, i, i+1)
	}
}

// randomActiveExcept returns the index of a random active member other than
// a and b, or -1 if there is none.
func (s *State) randomActiveExcept(a, b peer.ID) int {
	n := 0
	for i := range s.active {
		if id := s.active[i].peer.ID; id != a && id != b {
			n++
		}
	}
	if n == 0 {
		return -1
	}
	k := s.rng.IntN(n)
	for i := range s.active {
		if id := s.active[i].peer.ID; id != a && id != b {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1
}

// sampleScratch is the size of the callers' buffers for sample: enough
// for the views of clusters far larger than any simulated.
const sampleScratch = 64

// sample returns k distinct random indices in [0, n) other than skip (pass -1
// to skip none), fewer if there are not enough, in dst's storage (grown if
// it is short). Callers pass a buffer on their stack (sampleScratch), so
// that no state keeps scratch space of its own between steps: a simulator
// holds a million states.
func (s *State) sample(dst []int, n, k, skip int) []int {
	idx := dst[:0]
	for i := range n {
		if i != skip {
			idx = append(idx, i)
		}
	}
	k = min(k, len(idx))
	for i := range k {
		j := i + s.rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	return idx[:k]
}

// newNonce returns a random non-zero nonce; zero means "none" in a link.
func (s *State) newNonce() uint64 {
	for {
		if n := s.rng.Uint64(); n != 0 {
			return n
		}
	}
}

// jitter returns d moved uniformly at random by up to ±10%, so that the
// shuffles of nodes started together drift apart.
func (s *State) jitter(d time.Duration) time.Duration {
	spread := int64(d / 10)
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(s.rng.Int64N(2*spread+1))
}

func (s *State) send(p Peer, m Message) {
	s.counters.Sent[m.Type()]++
	s.out = append(s.out, Output{Kind: OutputSend, Peer: p, Msg: m})
}

func (s *State) emitClose(p Peer) {
	s.out = append(s.out, Output{Kind: OutputClose, Peer: p})
}

func (s *State) emitUp(p Peer) {
	s.out = append(s.out, Output{Kind: OutputNeighborUp, Peer: p})
}

func (s *State) emitDown(p Peer, r DownReason) {
	s.out = append(s.out, Output{Kind: OutputNeighborDown, Peer: p, Reason: r})
}

func (s *State) setTimer(t Timer, after time.Duration) {
	s.out = append(s.out, Output{Kind: OutputSetTimer, Timer: t, After: after})
}
