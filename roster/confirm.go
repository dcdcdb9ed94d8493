package roster

import (
	"math"
	"time"

	"github.com/plumview/plumview/peer"
)

// Confirmed suspicions end sooner: the dynamic suspicion timeouts of
// Lifeguard (A. Dadgar, J. Phillips, J. Currey, "Lifeguard: Local Health
// Awareness for More Accurate Failure Detection", 2018, §IV-B). A
// suspicion starts with the full SuspicionTimeout; each independent
// confirmation shortens it, down to SuspicionMinTimeout once
// SuspicionConfirmations have arrived:
//
//	timeout(k) = max(min, max − (max − min) · log(k+1) / log(K+1))
//
// counted from when this node learned of the suspicion, and only at a node
// that observed the member unreachable itself: the others' declarations
// alone never shorten a node's timer, so that a side of a partition whose
// declarations arrive at the heal, all at once, fails nobody the receiving
// side still reaches sooner than before (the receivers time the whole
// SuspicionTimeout; the member refutes). A confirmation is
// an observation by a node other than those already counted: this node's
// own failed connection or failed probe to a member it already holds
// suspect, or, with signatures on, a suspicion of the member at the same
// incarnation declared and signed by another node. With signatures on, a
// node that confirms broadcasts its own signed declaration while fewer
// than SuspicionConfirmations are held, so that every node counts it;
// without signatures, declarations carry no declarer and only a node's
// own observation counts. A member that many nodes cannot reach
// independently is failed within SuspicionMinTimeout; one that a single
// node lost keeps the whole SuspicionTimeout to refute.

// maxObservers bounds the observers one suspicion remembers, whatever
// SuspicionConfirmations says: the first declarer and its confirmations.
const maxObservers = 8

// suspicion holds the observers counted for the suspicion of one member
// at one incarnation: the first declarer (0 when unknown, a suspicion
// learned without signatures), then every confirmation.
type suspicion struct {
	inc       uint64
	observers [maxObservers]peer.ID
	n         uint8
}

func (s *suspicion) has(id peer.ID) bool {
	for _, o := range s.observers[:s.n] {
		if o == id {
			return true
		}
	}
	return false
}

// confirmations is how many observers beyond the first were counted.
func (s *suspicion) confirmations() int { return int(s.n) - 1 }

// suspicionTimeout is the timeout of a suspicion with k confirmations.
func (r *Roster) suspicionTimeout(k int) time.Duration {
	hi, lo, kmax := r.cfg.SuspicionTimeout, r.cfg.SuspicionMinTimeout, r.cfg.SuspicionConfirmations
	if k <= 0 || !r.confirmationsOn() {
		return hi
	}
	if k >= kmax {
		return lo
	}
	frac := math.Log(float64(k+1)) / math.Log(float64(kmax+1))
	return max(lo, hi-time.Duration(frac*float64(hi-lo)))
}

// ShortestSuspicion is the shortest time a member stays Suspect before
// this node declares it failed: Config.SuspicionMinTimeout when
// confirmations shorten suspicions, else Config.SuspicionTimeout. Without
// signatures (no Config.Auth) only a node's own observation confirms a
// suspicion, so the shortest is the timeout of one confirmation. In a
// cluster whose nodes share this configuration it is also the soonest any
// node fails a member; this node reaches it only with the confirmations
// it counts itself.
func (r *Roster) ShortestSuspicion() time.Duration {
	if r.proofs == nil {
		return r.suspicionTimeout(1)
	}
	return r.suspicionTimeout(r.cfg.SuspicionConfirmations)
}

// confirmationsOn reports whether confirmations shorten suspicions.
func (r *Roster) confirmationsOn() bool {
	c := &r.cfg
	return c.SuspicionConfirmations > 0 && c.SuspicionMinTimeout >= 0 && c.SuspicionMinTimeout < c.SuspicionTimeout
}

// suspicionOf returns the observers of the suspicion held of member id at
// incarnation inc, starting them with first when none are held yet.
func (r *Roster) suspicionOf(id peer.ID, inc uint64, first peer.ID) *suspicion {
	s, ok := r.suspicions[id]
	if !ok || s.inc != inc {
		s = &suspicion{inc: inc, n: 1}
		s.observers[0] = first
		if r.suspicions == nil {
			r.suspicions = map[peer.ID]*suspicion{}
		}
		r.suspicions[id] = s
	}
	return s
}

// firstDeclarer is the declarer of the suspicion held of id: the proof's,
// 0 without signatures.
func (r *Roster) firstDeclarer(id peer.ID) peer.ID {
	if p := r.proofs[id]; p != nil {
		return p.Declarer
	}
	return 0
}

// wantsConfirmation reports whether a confirmation by observer would count
// for the suspicion held of member id (state Suspect at incarnation inc).
func (r *Roster) wantsConfirmation(id peer.ID, inc uint64, observer peer.ID) bool {
	if !r.confirmationsOn() {
		return false
	}
	s := r.suspicionOf(id, inc, r.firstDeclarer(id))
	return !s.has(observer) && s.confirmations() < r.cfg.SuspicionConfirmations && int(s.n) < maxObservers
}

// confirm counts observer's confirmation of the suspicion of member id,
// held Suspect in e, and brings its timer forward if this node has
// observed the member itself.
func (r *Roster) confirm(now time.Time, id peer.ID, e *entry, observer peer.ID) {
	s := r.suspicionOf(id, e.inc, r.firstDeclarer(id))
	s.observers[s.n] = observer
	s.n++
	r.counters.Confirmations++
	if !s.has(r.self) {
		return
	}
	left := time.Duration(e.since + int64(r.suspicionTimeout(s.confirmations())) - now.UnixNano())
	r.setTimer(Timer{Kind: TimerSuspicion, ID: id, Incarnation: e.inc}, max(left, 0))
}

// confirmOwn is this node's own observation of a member it holds suspect
// (its connection or probe failed): counted, and with signatures on, its
// signed declaration broadcast for the others to count.
func (r *Roster) confirmOwn(now time.Time, id peer.ID, e *entry) {
	if !r.wantsConfirmation(id, e.inc, r.self) {
		r.counters.IgnoredNeighbors++
		return
	}
	r.confirm(now, id, e, r.self)
	if r.proofs == nil {
		return
	}
	if p := r.declare(id, e.inc, r.proofs[id]); p != nil {
		rec := e.record(id)
		rec.Proof = p
		r.broadcast(rec)
	}
}

// confirmReceived counts a received suspicion equal to the one held (same
// member, incarnation and state) when another declarer signed it.
func (r *Roster) confirmReceived(now time.Time, rec *Record, verified bool) {
	if r.proofs == nil || rec.Proof == nil || rec.State != StateSuspect {
		return
	}
	e, _ := r.members.get(rec.ID)
	if !r.wantsConfirmation(rec.ID, e.inc, rec.Proof.Declarer) {
		return
	}
	if !verified && VerifyRecord(r.cfg.Auth, rec) != nil {
		r.counters.Forged++
		return
	}
	r.confirm(now, rec.ID, &e, rec.Proof.Declarer)
}

// Settled reports whether this node needs no observation of its own about
// member id: the member is not Suspect, or this node has observed it
// already, or the suspicion holds every confirmation it counts. The
// probes (package gossip) skip settled suspects.
func (r *Roster) Settled(id peer.ID) bool {
	e, ok := r.members.get(id)
	if !ok || e.state != StateSuspect {
		return true
	}
	s, ok := r.suspicions[id]
	if !ok || s.inc != e.inc {
		return !r.confirmationsOn()
	}
	return s.has(r.self) || s.confirmations() >= r.cfg.SuspicionConfirmations
}
