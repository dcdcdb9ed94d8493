package roster

import (
	"errors"
	"fmt"

	"github.com/plumview/plumview/peer"
)

// Invariants returns an error describing every broken invariant, or nil:
// our own record is present, Alive (Left once we left) and never expires;
// every record is valid; the index holds each member once and is sorted
// when it says so; the per-state counts match; a tombstone of another
// member always has an expiry timer pending.
func (r *Roster) Invariants() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("roster: node %d: "+format, append([]any{r.self}, a...)...))
	}
	own, ok := r.members.get(r.self)
	switch {
	case !ok:
		bad("own record missing")
	case r.left && own.state != StateLeft:
		bad("left but own record is %s", own.state)
	case !r.left && own.state != StateAlive:
		bad("own record is %s", own.state)
	}
	if slots := r.members.indexed(); slots != r.members.len() {
		bad("index has %d slots for %d members", slots, r.members.len())
	}
	var counts [stateCount]int
	seen := make(map[peer.ID]bool, r.members.len())
	tombstones := 0
	for k := range r.members.recs {
		id, e := r.members.recs[k].id(), r.members.recs[k].entry()
		switch {
		case r.members.find(id) != k:
			bad("member %d at %d is indexed at %d", id, k, r.members.find(id))
			continue
		case seen[id]:
			bad("%d twice in the index", id)
		case id == 0:
			bad("reserved id 0 held")
		case !e.state.Valid():
			bad("member %d has invalid state %d", id, e.state)
			continue
		case e.inc > MaxIncarnation:
			bad("member %d has incarnation %d", id, e.inc)
		case int(e.addrLen) > len(e.am) || e.addrLen > MaxAddrBytes:
			bad("member %d has an address of %d bytes in %d", id, e.addrLen, len(e.am))
		case len(e.meta()) > r.cfg.MaxMetaBytes:
			bad("member %d has %d bytes of meta", id, len(e.meta()))
		case r.sorted && k > 0 && r.members.recs[k-1].id() >= id:
			bad("index marked sorted but %d follows %d", id, r.members.recs[k-1].id())
		}
		seen[id] = true
		counts[e.state]++
		if id != r.self && !e.state.Present() {
			tombstones++
		}
	}
	if counts != r.counts {
		bad("counts %v, recounted %v", r.counts, counts)
	}
	if tombstones > 0 && !r.expiryArmed {
		bad("%d tombstones and no expiry timer pending", tombstones)
	}
	return errors.Join(errs...)
}
