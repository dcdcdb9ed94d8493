package roster

import (
	"maps"
	"slices"
)

// Clone returns an independent copy of the roster: stepping either copy
// never affects the other. A simulator clones a stabilised cluster to run
// several experiments from it.
func (r *Roster) Clone() *Roster {
	c := *r
	c.members = maps.Clone(r.members)
	c.ids = slices.Clone(r.ids)
	if r.proofs != nil {
		c.proofs = maps.Clone(r.proofs) // proofs are immutable: sharing them is safe
	}
	c.out = nil
	return &c
}
