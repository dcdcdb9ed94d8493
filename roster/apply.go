package roster

import (
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// applyAll applies received records in order; verified says their proofs
// were checked already (Input.Verified).
func (r *Roster) applyAll(now time.Time, recs []Record, verified bool) {
	for i := range recs {
		r.apply(now, &recs[i], verified)
	}
}

// apply merges one received record: the record is kept if it supersedes the
// one held (Compare) and, with signatures on, its proof verifies; the
// transition is reported. A record about this node that supersedes our own
// is refuted instead. Signatures are checked last, so that duplicates and
// stale records, the bulk of what arrives, cost no verification.
func (r *Roster) apply(now time.Time, rec *Record, verified bool) {
	if check(rec, r.cfg.MaxMetaBytes) != "" {
		r.counters.Malformed++
		return
	}
	if rec.ID == r.self {
		r.applySelf(rec, verified)
		return
	}
	old, had := r.members.get(rec.ID)
	if had {
		c := old.compareRecord(rec)
		if c == 0 {
			r.takeProof(rec, verified)
			r.confirmReceived(now, rec, verified)
		}
		if c <= 0 {
			r.counters.Stale++
			return
		}
	}
	if !had && r.full() {
		r.counters.RefusedFull++
		return
	}
	if !verified && VerifyRecord(r.cfg.Auth, rec) != nil {
		r.counters.Forged++
		return
	}
	n := entry{am: old.am, addrLen: old.addrLen, inc: rec.Incarnation, state: rec.State, since: now.UnixNano()}
	if rec.Addr != old.addr() || string(rec.Meta) != old.meta() {
		n.setAddrMeta(rec.Addr, string(rec.Meta))
	}
	r.store(rec.ID, n)
	if r.proofs != nil {
		r.proofs[rec.ID] = rec.Proof.clone()
	}
	r.counters.Applied++
	r.transition(rec.ID, old, had, &n)
}

// takeProof keeps the proof of a received record equal to one held
// without a proof, such as the entry a neighbour's link made before its
// own record arrived at the same incarnation (in a simulation, where
// incarnations start at 0), so that the record may then be sent on.
func (r *Roster) takeProof(rec *Record, verified bool) {
	if r.proofs == nil || r.proofs[rec.ID] != nil {
		return
	}
	if !verified && VerifyRecord(r.cfg.Auth, rec) != nil {
		r.counters.Forged++
		return
	}
	r.proofs[rec.ID] = rec.Proof.clone()
}

// applySelf refutes a record about this node that supersedes our own (a
// suspicion, a failure, a stale Left from an earlier life, or anything else
// we did not say): SWIM §4.2, the suspected member raises its incarnation
// and announces itself Alive.
//
// With signatures on, only a record that verifies is refuted: a forged
// one is dropped and counted, and a genuine one names an incarnation we
// signed, never above our own.
func (r *Roster) applySelf(rec *Record, verified bool) {
	own, _ := r.members.get(r.self)
	if own.compareRecord(rec) <= 0 {
		r.counters.Stale++
		return
	}
	if !verified && VerifyRecord(r.cfg.Auth, rec) != nil {
		r.counters.Forged++
		return
	}
	if rec.Incarnation >= MaxIncarnation {
		r.counters.Unrefutable++
		return
	}
	own.inc = rec.Incarnation + 1
	r.storeOwn(own)
	r.counters.Refutations++
	r.broadcast(r.Record())
}

// transition reports the change of member id from old (if had) to n as
// events, starts a suspicion timer when n is a new suspicion and makes sure
// a tombstone will expire.
func (r *Roster) transition(id peer.ID, old entry, had bool, n *entry) {
	if n.state == StateSuspect && !(had && old.state == StateSuspect && old.inc == n.inc) {
		r.setTimer(Timer{Kind: TimerSuspicion, ID: id, Incarnation: n.inc}, r.cfg.SuspicionTimeout)
	}
	if !n.state.Present() {
		r.armExpiry()
	}
	wasPresent := had && old.state.Present()
	switch {
	case !wasPresent && n.state.Present():
		r.event(EventJoin, id, n)
		if n.state == StateSuspect {
			r.event(EventSuspect, id, n)
		}
	case wasPresent && n.state == StateSuspect && old.state == StateAlive:
		r.event(EventSuspect, id, n)
	case wasPresent && n.state.Present():
		if old.state != n.state || old.addr() != n.addr() || old.meta() != n.meta() {
			r.event(EventUpdate, id, n)
		}
	case wasPresent && n.state == StateFailed:
		r.event(EventFail, id, n)
	case n.state == StateLeft && (wasPresent || (had && old.state == StateFailed)):
		r.event(EventLeave, id, n)
	}
}

// neighborUp is evidence of life: a member we did not know is added as
// Alive at incarnation 0 with the address HyParView knows (its own record,
// with its real incarnation, supersedes it when it arrives). A member we
// hold is left alone: only the member itself refutes a suspicion.
func (r *Roster) neighborUp(now time.Time, p hyparview.Peer) {
	if p.ID == 0 || p.ID == r.self || len(p.Addr) > MaxAddrBytes {
		r.counters.IgnoredNeighbors++
		return
	}
	if r.members.find(p.ID) >= 0 {
		return
	}
	if r.full() {
		r.counters.RefusedFull++
		return
	}
	n := entry{state: StateAlive, since: now.UnixNano()}
	n.setAddrMeta(p.Addr, "")
	r.store(p.ID, n) // with signatures on, no proof: it stays here (sendable)
	r.event(EventJoin, p.ID, &n)
}

// neighborDown suspects a neighbour whose connection failed. A neighbour
// that disconnected, was dropped or left is not suspected: its Left record,
// if any, arrives by dissemination.
func (r *Roster) neighborDown(now time.Time, p hyparview.Peer, reason hyparview.DownReason, doubtful bool) error {
	switch reason {
	case hyparview.DownFailed:
		r.suspect(now, p.ID, doubtful)
	case hyparview.DownDisconnected, hyparview.DownLeft, hyparview.DownDropped:
	default:
		return ErrUnknownReason
	}
	return nil
}

// suspect marks an Alive member Suspect at its current incarnation,
// broadcasts the suspicion and starts its timer (SWIM §4.2); of a member
// already Suspect, it is a confirmation (confirm.go) unless doubtful
// (Input.Doubtful). With
// signatures on, we sign the suspicion; a member whose own record we do
// not hold yet (only its link told us of it) is suspected here alone.
func (r *Roster) suspect(now time.Time, id peer.ID, doubtful bool) {
	old, ok := r.members.get(id)
	if ok && id != r.self && old.state == StateSuspect {
		if doubtful {
			r.counters.DoubtfulObservations++
			return
		}
		r.confirmOwn(now, id, &old)
		return
	}
	if !ok || id == r.self || old.state != StateAlive {
		r.counters.IgnoredNeighbors++
		return
	}
	n := old
	n.state = StateSuspect
	n.since = now.UnixNano()
	r.store(id, n)
	r.suspicionOf(id, n.inc, r.self)
	r.counters.SuspicionsRaised++
	if r.proofs != nil {
		r.proofs[id] = r.declare(id, n.inc, r.proofs[id])
	}
	if r.shareable(id, &n) {
		r.broadcast(r.record(id, &n))
	}
	r.transition(id, old, true, &n)
}

// onTimer dispatches a fired timer; one whose purpose is gone is counted
// and ignored.
func (r *Roster) onTimer(now time.Time, t Timer) {
	switch t.Kind {
	case TimerSuspicion:
		if r.declareFailed(now, t) {
			return
		}
	case TimerExpiry:
		if r.expiryArmed && t.Nonce == r.expiryNonce {
			r.expiryArmed = false
			r.sweep(now)
			if r.members.len() > 1 {
				r.armExpiry()
			}
			return
		}
	case TimerRefresh:
		if r.refreshArmed {
			r.refresh()
			return
		}
	}
	r.counters.StaleTimers++
}

// declareFailed ends an unrefuted suspicion: the member is still Suspect at
// the incarnation the timer names, so it is declared Failed at that
// incarnation and the declaration broadcast. With signatures on, the
// Failed record carries the suspicion's proof unchanged (DeclarationBytes),
// so every node that times the same suspicion broadcasts the same record,
// which the content-derived broadcast ID deduplicates.
func (r *Roster) declareFailed(now time.Time, t Timer) bool {
	old, ok := r.members.get(t.ID)
	if !ok || t.ID == r.self || old.state != StateSuspect || old.inc != t.Incarnation {
		return false
	}
	n := old
	n.state = StateFailed
	n.since = now.UnixNano()
	r.store(t.ID, n)
	r.counters.FailuresDeclared++
	if r.shareable(t.ID, &n) {
		r.broadcast(r.record(t.ID, &n))
	}
	r.transition(t.ID, old, true, &n)
	return true
}

// armExpiry sets the expiry timer unless one is pending.
func (r *Roster) armExpiry() {
	if r.expiryArmed {
		return
	}
	r.expiryArmed = true
	r.expiryNonce++
	r.setTimer(Timer{Kind: TimerExpiry, Nonce: r.expiryNonce}, r.cfg.ExpiryInterval)
}

// sweep removes the tombstones older than RetainDead, then silences the
// members not heard from for SilenceTimeout. Our own record stays.
func (r *Roster) sweep(now time.Time) {
	cutoff := now.UnixNano() - int64(r.cfg.RetainDead)
	r.members.filter(func(m *member) bool {
		if st := m.state(); m.id() != r.self && !st.Present() && m.since <= cutoff {
			delete(r.proofs, m.id())
			r.counts[st]--
			r.counters.Expired++
			return false
		}
		return true
	})
	r.silence(now)
}

// silence marks Failed, here only, every Alive member of which no new
// record arrived for SilenceTimeout: a live member refreshes its record
// every RefreshInterval, so one that stays silent is dead or was never
// there (a record a peer invented, signed with a key no running node
// holds). The Failed record is local: it is not broadcast, and with
// signatures on it names no declarer, so it is never sent (sendable); it
// keeps anti-entropy from bringing the silent record back, until it
// expires after RetainDead like any tombstone. A new record of the member
// (a refresh) supersedes it.
func (r *Roster) silence(now time.Time) {
	cutoff := now.UnixNano() - int64(r.cfg.SilenceTimeout)
	for p := 0; p < r.members.len(); p++ {
		m := &r.members.recs[p]
		if m.since > cutoff || m.state() != StateAlive || m.id() == r.self {
			continue
		}
		id, old := m.id(), m.entry()
		n := old
		n.state = StateFailed
		n.since = now.UnixNano()
		r.store(id, n)
		if r.proofs != nil && r.proofs[id] != nil {
			p := *r.proofs[id]
			p.Declarer, p.DeclarerKey, p.DeclarerSig = 0, nil, nil
			r.proofs[id] = &p
		}
		r.counters.Silenced++
		r.transition(id, old, true, &n)
	}
}

// full reports whether the roster holds MaxMembers records: a new identity
// is then refused, and no record held is evicted for it.
func (r *Roster) full() bool { return r.members.len() >= r.cfg.MaxMembers }
