package hyparview

import "math/rand/v2"

// Footprint says where a step of this state reads beyond the state itself:
// the active view, the ends of the passive view (a lookup scans it from the
// first entry to the last) and the random source. A caller that steps many
// states in turn (the simulator, through gossip.Engine.MembershipFootprint)
// may prefetch them a step or two ahead, once the state's own lines are on
// their way, so that the cache misses of several steps overlap. It names
// memory by typed pointers, so no caller depends on where the state's
// fields lie. Each pointer may be nil (an empty view). They are hints only:
// the caller must neither read nor write through them, and they are stale
// after the next step. Footprint reads the state's slice headers and
// changes nothing.
func (s *State) Footprint() (active, passiveFirst, passiveLast *Peer, rng *rand.Rand) {
	if len(s.active) > 0 {
		active = &s.active[0].peer
	}
	if n := len(s.passive); n > 0 {
		passiveFirst, passiveLast = &s.passive[0], &s.passive[n-1]
	}
	return active, passiveFirst, passiveLast, s.rng
}
