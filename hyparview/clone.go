package hyparview

import (
	"math/rand/v2"
	"slices"
)

// Clone returns an independent copy of the state that draws its random
// choices from rng: stepping either copy never affects the other. A
// simulator clones a stabilised overlay to run several experiments from it
// without building it again. Messages already emitted are shared, which is
// safe because neither side modifies them.
func (s *State) Clone(rng *rand.Rand) *State {
	c := *s
	c.rng = rng
	c.active = slices.Clone(s.active)
	c.passive = slices.Clone(s.passive)
	c.pending = slices.Clone(s.pending)
	c.rejected = slices.Clone(s.rejected)
	c.contacts = slices.Clone(s.contacts)
	c.shuffleSent = slices.Clone(s.shuffleSent)
	c.out = nil
	return &c
}
