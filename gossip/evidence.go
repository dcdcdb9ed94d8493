package gossip

import (
	"bytes"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// Precedence that cannot hurt the living. The member list's precedence
// (roster: Failed beats Alive at the same incarnation) is global, and a
// declaration made on one side of a partition reaches the other side when
// it heals, about members that side never lost. A node therefore does not
// show its application a suspicion or failure that it learned from others
// (by dissemination or anti-entropy) about a member it has evidence of
// life for: an active neighbour (its connection is up), or a member it
// heard from within the suspicion timeout (a message it sent us, an answer
// to a probe, a fresh broadcast it originated). Instead it sends the
// member the declaration directly, so that the member refutes at once, and
// waits: the refutation (a higher incarnation, Alive) ends the matter with
// no event; if none comes, and the evidence has gone stale, the event is
// shown after all. The member list itself holds the declaration as every
// node does (precedence stays a maximum, so nodes converge); only what the
// application sees — events, and Members, Member and MemberCounts — waits.
// A suspicion this node declares itself (its own connection or probe
// failed) is shown at once.

// withheldEvent is an event about a member not shown to the application.
type withheldEvent struct {
	kind   roster.EventKind // Suspect or Fail
	shown  roster.Record    // what the application saw last: Alive
	inc    uint64           // the declaration's incarnation
	rounds uint8            // times the wait was renewed
}

// maxWithheldRounds bounds how many suspicion timeouts an event waits
// while the evidence stays fresh but no refutation comes (a member that
// keeps talking to us but cannot get its refutation out).
const maxWithheldRounds = 3

// heardFrom records evidence that member id is alive at now. Only members
// the list holds are tracked, so the table is bounded by the list.
func (e *Engine) heardFrom(now time.Time, id peer.ID) {
	l := e.live
	if _, ok := l.heard[id]; !ok {
		if _, known := e.roster.Get(id); !known {
			return
		}
	}
	l.heard[id] = now.UnixNano()
}

// evidentlyAlive says whether this node has evidence that member id lives:
// an active neighbour, or heard from within the suspicion timeout.
func (e *Engine) evidentlyAlive(now time.Time, id peer.ID) bool {
	if e.hv.IsActive(id) {
		return true
	}
	t, ok := e.live.heard[id]
	return ok && now.UnixNano()-t < int64(e.roster.Config().SuspicionTimeout)
}

// withhold decides whether the member list's event o, raised by an input
// of kind in, waits instead of reaching the application, and keeps the
// bookkeeping of events that wait. It reports true when o is not shown.
func (e *Engine) withhold(now time.Time, in roster.InputKind, o *roster.Output, out *Ready) bool {
	l := e.live
	id := o.Record.ID
	w, held := l.withheld[id]
	switch o.Event {
	case roster.EventSuspect, roster.EventFail:
		if held {
			w.kind, w.inc = o.Event, o.Record.Incarnation
			l.withheld[id] = w
			return true
		}
		fromOthers := in == roster.InputReceive || in == roster.InputMerge
		if !fromOthers || !e.evidentlyAlive(now, id) {
			return false
		}
		shown := o.Record
		shown.State, shown.Proof = roster.StateAlive, nil
		l.withheld[id] = withheldEvent{kind: o.Event, shown: shown, inc: o.Record.Incarnation}
		e.counters.EventsWithheld++
		e.tellSuspected(hyparview.Peer{ID: id, Addr: o.Record.Addr}, out)
		e.setTimer(Timer{kind: TimerWithheld, a: uint64(id), b: o.Record.Incarnation}, e.roster.Config().SuspicionTimeout, out)
		return true
	case roster.EventUpdate, roster.EventJoin:
		if !held {
			return false
		}
		delete(l.withheld, id)
		e.counters.WithheldRefuted++
		// A refutation the application never needed: it saw the member
		// alive throughout. A change of address or metadata is shown.
		return o.Record.State == roster.StateAlive && o.Record.Addr == w.shown.Addr && bytes.Equal(o.Record.Meta, w.shown.Meta)
	default:
		delete(l.withheld, id)
		return false
	}
}

// withheldTimeout shows a withheld event whose member neither refuted nor
// kept showing signs of life.
func (e *Engine) withheldTimeout(now time.Time, t Timer, out *Ready) {
	l := e.live
	id := peer.ID(t.a)
	w, ok := l.withheld[id]
	if !ok || w.inc != t.b {
		return
	}
	r, known := e.roster.Get(id)
	if !known || (r.State != roster.StateSuspect && r.State != roster.StateFailed) {
		delete(l.withheld, id)
		return
	}
	if e.evidentlyAlive(now, id) && w.rounds < maxWithheldRounds {
		w.rounds++
		l.withheld[id] = w
		e.tellSuspected(hyparview.Peer{ID: id, Addr: r.Addr}, out)
		e.setTimer(Timer{kind: TimerWithheld, a: uint64(id), b: w.inc}, e.roster.Config().SuspicionTimeout, out)
		return
	}
	delete(l.withheld, id)
	e.counters.WithheldShown++
	kind := roster.EventSuspect
	if r.State == roster.StateFailed {
		kind = roster.EventFail
	}
	out.Events = append(out.Events, MemberEvent{Kind: kind, Member: r})
}

// shownRecord replaces, in place, a record whose event waits by the one the
// application saw last.
func (e *Engine) shownRecord(r *roster.Record) {
	if e.live == nil || len(e.live.withheld) == 0 {
		return
	}
	if w, ok := e.live.withheld[r.ID]; ok {
		*r = w.shown
	}
}

// shownRecords applies shownRecord to each record of recs.
func (e *Engine) shownRecords(recs []roster.Record) []roster.Record {
	if e.live == nil || len(e.live.withheld) == 0 {
		return recs
	}
	for i := range recs {
		e.shownRecord(&recs[i])
	}
	return recs
}
