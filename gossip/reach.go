package gossip

import (
	"fmt"
	"strconv"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// Reachability (docs/nat.md, "Reachability"). A node that does not know
// whether it can be dialled (MembersConfig.CheckReachability) asks a
// reachable neighbour to dial it back:
//
//	N --ReachRequest{Nonce}--> R      R dials N's address, the one N's own
//	N <--ReachAnswer{Nonce, Result}-- R   signed record holds, with a fresh
//	                                      connection (Ready.DialBacks)
//
// and says the result in its signed record: reachable, the record names
// no rendezvous and says nothing against dialling it (direct dialling
// stays the rule); unreachable, the record says so and names a
// rendezvous, as MembersConfig.BehindNAT does (signal.go). R dials only
// the address of the requester's own signed record, never one named in
// the request, and only for an active neighbour of its own, each request
// charged to the requester's BudgetReach: a node cannot make R dial
// anyone but itself, nor often. R answers over the link the request came
// on; the dial itself is the driver's (Engine.DialedBack reports it).
//
// A node checks once it has a neighbour to ask, then again when its
// neighbours or its address change, at most once per ReachInterval. A
// check that gets no answer within ReachTimeout decides nothing: the
// node keeps what it said and checks again after the interval. A
// refusal (no dial was made) decides nothing either, and the node asks
// again after ReachTimeout: a neighbour refuses a request that comes
// before its copy of the requester's record, which the same link
// brings. The answer is R's word: a lying neighbour can make a node
// say it is unreachable (it then takes a rendezvous it did not need) or
// reachable (members then dial it in vain, as before this check), never
// speak for another node.

// ReachRequest asks the receiver, an active neighbour, to dial the
// sender back at the address of its signed record.
type ReachRequest struct {
	peer.Sealed
	Nonce uint64
}

// ReachAnswer reports the dial a ReachRequest asked for.
type ReachAnswer struct {
	peer.Sealed
	Nonce  uint64
	Result ReachResult
}

// ReachResult is the outcome of a dial back.
type ReachResult uint8

// The outcomes of a dial back.
const (
	// ReachDialled: a fresh connection to the requester's address came
	// up, pinned to its key.
	ReachDialled ReachResult = iota + 1
	// ReachFailed: the dial failed.
	ReachFailed
	// ReachRefused: no dial was made (the requester is not an active
	// neighbour with a signed record, or the dialler had too many dials
	// back in progress): it decides nothing.
	ReachRefused

	reachResultCount = iota + 1
)

// String returns a short lower-case name.
func (r ReachResult) String() string {
	switch r {
	case ReachDialled:
		return "dialled"
	case ReachFailed:
		return "failed"
	case ReachRefused:
		return "refused"
	}
	return "ReachResult(" + strconv.Itoa(int(r)) + ")"
}

// Validate refuses an answer of no known result.
func (m *ReachAnswer) Validate() error {
	if m.Result < ReachDialled || m.Result > ReachRefused {
		return fmt.Errorf("reach answer of result %d", m.Result)
	}
	return nil
}

// Extension tags of the reachability messages in the wire codec.
const (
	TagReachRequest byte = 73
	TagReachAnswer  byte = 74
)

// Defaults of the reachability check.
const (
	// DefaultReachInterval is MembersConfig.ReachInterval's default: at
	// most one check a minute.
	DefaultReachInterval = time.Minute
	// DefaultReachTimeout is MembersConfig.ReachTimeout's default: above
	// a failed QUIC handshake's 5 s (transport.Config.HandshakeTimeout)
	// and the runtime's dial timeout.
	DefaultReachTimeout = 15 * time.Second
)

// DialBack asks the driver to dial member ID at Addr (its own signed
// record's) with a fresh connection, never one already open, close it
// once it is up, and report the outcome to Engine.DialedBack with Nonce.
type DialBack struct {
	ID    peer.ID
	Addr  string
	Nonce uint64
}

// Reachability is what this node learned of its own reachability.
type Reachability struct {
	// Checked says whether a check ended with a result; Reachable is the
	// last one, By the neighbour that dialled, At when it answered.
	Checked, Reachable bool
	By                 peer.ID
	At                 time.Time
	// InFlight names the neighbour asked now, 0 for none.
	InFlight peer.ID
}

// reach is the state of the reachability check (CheckReachability).
type reach struct {
	interval, timeout time.Duration
	due               bool      // a check is due: at start, after a change of neighbours or address
	last              time.Time // when the last check began
	next              time.Time // the earliest time of the next check
	asked             peer.ID   // the neighbour asked, 0 when no check is in flight
	lastAsked         peer.ID
	// localUntil: until then, after a dial back over this node's own
	// private network, neighbours on it are not asked (sameNetworkOnly).
	localUntil time.Time
	// private is MembersConfig.PrivateAddress.
	private func(addr string) bool
	nonce   uint64
	result  Reachability
}

// unreachable reports whether this node's record must say that it cannot
// be dialled: by configuration (BehindNAT) or by its last check.
func (e *Engine) unreachable() bool {
	return e.behindNAT || e.reach != nil && e.reach.result.Checked && !e.reach.result.Reachable
}

// Reachability returns what this node learned of its own reachability
// (the zero value without CheckReachability).
func (e *Engine) Reachability() Reachability {
	if e.reach == nil {
		return Reachability{}
	}
	r := e.reach.result
	r.InFlight = e.reach.asked
	return r
}

// AddressChanged tells the engine that this node's address changed (its
// record is the driver's to update): a reachability check is due.
func (e *Engine) AddressChanged(now time.Time, out *Ready) {
	if e.reach == nil {
		return
	}
	e.reach.due = true
	e.checkReach(now, out)
}

// checkReach starts a check when one is due, none is in flight, the last
// began at least ReachInterval ago and a neighbour can be asked: an
// active neighbour whose signed record is Alive and does not say it is
// unreachable, another than the one asked last when there is a choice,
// the smallest ID among them.
func (e *Engine) checkReach(now time.Time, out *Ready) {
	r := e.reach
	if r == nil || e.roster == nil || e.roster.Left() {
		return
	}
	if r.asked != 0 && now.Sub(r.last) >= r.timeout {
		// Its timer was lost (a driver that stopped the node for a
		// while): the check is over all the same.
		r.asked, r.due = 0, true
		e.count().ReachUnanswered++
	}
	if r.asked != 0 && !e.hv.IsActive(r.asked) {
		// The neighbour asked is one no more: its answer, which comes
		// over the link the request went on, will not come. The check is
		// over without one, and the next asks another neighbour at once
		// rather than after the interval: a node that joins a full
		// neighbour is often dropped by it while the dial back waits out
		// its handshake, and its record would say nothing for a minute
		// (docs/nat.md, "The NAT lab").
		r.asked, r.due, r.next = 0, true, now
		e.count().ReachUnanswered++
	}
	if !r.due || r.asked != 0 {
		return
	}
	if now.Before(r.next) {
		return
	}
	var pick, other, local peer.ID
	for _, p := range e.hv.Active() {
		if !e.askable(p.ID) {
			continue
		}
		if e.sameNetworkOnly(p.ID) {
			if local == 0 || p.ID < local {
				local = p.ID
			}
			continue
		}
		if pick == 0 || p.ID < pick {
			pick = p.ID
		}
		if p.ID != r.lastAsked && (other == 0 || p.ID < other) {
			other = p.ID
		}
	}
	if other != 0 {
		pick = other
	}
	if pick == 0 && !now.Before(r.localUntil) {
		pick = local // its failure to dial decides; its success cannot
	}
	if pick == 0 {
		return // no neighbour to ask yet: the next change of the view or record asks
	}
	r.due, r.last, r.next = false, now, now.Add(r.interval)
	r.nonce++
	r.asked, r.lastAsked = pick, pick
	e.count().ReachAsked++
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: pick}, Msg: &ReachRequest{Nonce: r.nonce}})
	e.setTimer(Timer{kind: TimerReach, a: uint64(pick), b: r.nonce}, r.timeout, out)
}

// sameNetworkOnly reports whether this node's address and member id's
// are both private (MembersConfig.PrivateAddress): a dial back from id
// then proves only that the two share a private network, not that the
// rest of the cluster, beyond a NAT, can dial this node.
func (e *Engine) sameNetworkOnly(id peer.ID) bool {
	private := e.reach.private
	if private == nil {
		return false
	}
	self, ok := e.roster.Get(e.roster.Self())
	if !ok || !private(self.Addr) {
		return false
	}
	rec, ok := e.roster.Get(id)
	return ok && private(rec.Addr)
}

// askable reports whether a reachability check may ask member id: its
// signed record is Alive and does not say it is unreachable.
func (e *Engine) askable(id peer.ID) bool {
	rec, ok := e.roster.Get(id)
	return ok && rec.Proof != nil && rec.State == roster.StateAlive && !rec.Rendezvous().Unreachable
}

// reachAlone reports whether this node checks its reachability, has no
// answer yet, none in flight, and no active neighbour to ask: a node
// behind a NAT that the neighbour it joined through dropped at once (a
// full active view) may have only neighbours that cannot be dialled, and
// a full member that can refuses its low-priority requests. It then asks
// for a link as a node behind a NAT asks for a rendezvous
// (askRendezvous, on the rejoin tick).
func (e *Engine) reachAlone() bool {
	r := e.reach
	if r == nil || r.result.Checked || r.asked != 0 {
		return false
	}
	for _, p := range e.hv.Active() {
		if e.askable(p.ID) {
			return false
		}
	}
	return true
}

// reachTimeout gives up on a check that got no answer: it decides
// nothing, and another is due after the interval.
func (e *Engine) reachTimeout(now time.Time, t Timer, out *Ready) {
	r := e.reach
	if r == nil || r.asked != peer.ID(t.a) || r.nonce != t.b {
		return
	}
	r.asked, r.due = 0, true
	e.count().ReachUnanswered++
}

// onReachMessage answers a ReachRequest (asking the driver to dial the
// requester back) or takes the answer to this node's own.
func (e *Engine) onReachMessage(now time.Time, from peer.ID, msg Message, out *Ready) {
	switch m := msg.(type) {
	case *ReachRequest:
		rec, ok := e.roster.Get(from)
		if e.roster.Left() || !ok || rec.Proof == nil || rec.State != roster.StateAlive || rec.Addr == "" || !e.hv.IsActive(from) {
			e.count().ReachRefused++
			out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: from}, Msg: &ReachAnswer{Nonce: m.Nonce, Result: ReachRefused}})
			return
		}
		e.count().ReachDialBacks++
		out.DialBacks = append(out.DialBacks, DialBack{ID: from, Addr: rec.Addr, Nonce: m.Nonce})
	case *ReachAnswer:
		r := e.reach
		if r == nil || r.asked == 0 || r.asked != from || r.nonce != m.Nonce {
			e.count().StaleReachAnswers++
			return
		}
		r.asked = 0
		e.count().ReachResults[m.Result]++
		if m.Result == ReachRefused {
			// No dial was made (the neighbour may not hold this node's
			// record yet, the race of a new link): another neighbour,
			// or the same, after ReachTimeout rather than the interval.
			r.due, r.next = true, now.Add(r.timeout)
			return
		}
		if m.Result == ReachDialled && e.sameNetworkOnly(from) {
			// A neighbour on this node's own private network reached
			// it, as it would through any NAT between that network and
			// the rest (docs/nat.md, "Reachability"): that decides
			// nothing. The next check asks, as soon as there is one, a
			// neighbour that is not on that network; none that is, for
			// the interval.
			e.count().ReachInconclusive++
			r.due, r.next, r.localUntil = true, now, now.Add(r.interval)
			e.checkReach(now, out)
			return
		}
		r.result = Reachability{Checked: true, Reachable: m.Result == ReachDialled, By: from, At: now}
		e.applyReach(now, out)
	}
}

// applyReach makes this node's record say what its last check found: a
// reachable node names no rendezvous and says nothing against dialling
// it; an unreachable one chooses a rendezvous (signal.go).
func (e *Engine) applyReach(now time.Time, out *Ready) {
	if e.roster == nil || e.roster.Left() {
		return
	}
	if e.unreachable() {
		e.chooseRendezvous(now, out)
		return
	}
	if !e.roster.OwnRendezvous().IsZero() && e.stepRoster(now, roster.Input{Kind: roster.InputSetRendezvous}, out) == nil {
		e.count().RendezvousChanges++
	}
}

// DialedBack reports the dial back a Ready.DialBacks asked for: its
// result goes to the requester over the open link (ReachRefused when the
// driver made no dial).
func (e *Engine) DialedBack(now time.Time, d DialBack, result ReachResult, out *Ready) {
	if result < ReachDialled || result > ReachRefused {
		result = ReachRefused
	}
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: d.ID}, Msg: &ReachAnswer{Nonce: d.Nonce, Result: result}})
}
