package roster

import (
	"maps"

	"github.com/plumview/plumview/peer"
)

// Clone returns an independent copy of the roster: stepping either copy
// never affects the other. A simulator clones a stabilised cluster to run
// several experiments from it.
func (r *Roster) Clone() *Roster {
	c := *r
	c.members = r.members.clone()
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
