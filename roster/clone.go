package roster

import (
	"maps"
	"slices"

	"github.com/plumview/plumview/peer"
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
	if r.suspicions != nil {
		c.suspicions = make(map[peer.ID]*suspicion, len(r.suspicions))
		for id, s := range r.suspicions {
			cp := *s
			c.suspicions[id] = &cp
		}
	}
	c.out = nil
	return &c
}
