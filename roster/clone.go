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

// UseAuth makes the roster check signatures with auth from now on, in
// place of Config.Auth: a clone's composition wraps its Authenticator in
// state of its own (gossip's remembered signatures). auth must decide as
// Config.Auth does, and be nil exactly when Config.Auth is: it cannot turn
// signatures on or off.
func (r *Roster) UseAuth(auth peer.Authenticator) {
	r.cfg.Auth = auth
}
