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
// member the declaration directly, over a connection already open to it
// (a neighbour's; without one the member learns it by dissemination like
// everyone else: every node that holds the declaration telling the
// member over a connection of its own was a handshake per node and
// suspicion, tens of thousands a minute when an overloaded 256-node
// cluster suspected many members at once), so that the member refutes at
// once, and waits: the refutation (a higher incarnation, Alive) ends the matter with
// no event; if none comes, and the evidence has gone stale, the event is
// shown after all. The member list itself holds the declaration as every
// node does (precedence stays a maximum, so nodes converge); only what the
// application sees — events, and Members, Member and MemberCounts — waits.
// The evidence is checked at once: the node pings the member (a confirming
// probe, besides the declaration it sends); if neither an answer nor any
// other sign of life comes within the confirming wait (confirmWait: half
// the suspicion timeout and two probe timeouts at least, cut to the
// shortest suspicion or one probe timeout), or the
// connection fails with no sign of life since, the evidence was stale (a
// member that crashed just after we heard from it) and the event is shown
// then, not a suspicion timeout later. A member this node has no evidence
// for is asked the same way before anything is shown, so that wherever the
// member is reachable its refutation comes first; at most maxConfirming at
// once (beyond, and for a member already doubted, the event is shown at
// once). The cost: a real failure's first event, the suspicion, is shown
// up to that wait late where the dead member's connection
// does not fail sooner; the failure that follows is not (the member is
// doubted by then). A suspicion this node declares itself (its own
// connection or probe failed) is shown at once.

// withheldEvent is an event about a member not shown to the application.
type withheldEvent struct {
	kind   roster.EventKind // Suspect or Fail
	shown  roster.Record    // what the application saw last: Alive
	inc    uint64           // the declaration's incarnation
	rounds uint8            // times the wait was renewed
	// confirm is the nonce of the confirming ping still unanswered, 0
	// when it was answered or none was sent.
	confirm uint64
	// since is when the wait began (Unix nanoseconds): a sign of life
	// after it outweighs an unanswered confirming ping.
	since int64
	// relayedFrom is when a broadcast of the member relayed by others
	// starts to count as a sign of life (signOfLifeSince), fixed with the
	// wait's length when the ping was sent: the local health score may
	// change before the ping's timer fires, and a window computed then
	// could begin after it fired.
	relayedFrom int64
}

// maxConfirming bounds the confirming pings in flight; beyond it, an event
// waits on the evidence alone (a heal that brings many declarations at
// once).
const maxConfirming = 32

// maxWithheldRounds bounds how many suspicion timeouts an event waits
// while the evidence stays fresh but no refutation comes (a member that
// keeps talking to us but cannot get its refutation out).
const maxWithheldRounds = 3

// heardFrom records evidence that member id is alive at now: direct when
// the member itself sent us something (a message over its connection, an
// answer to a ping), relayed when we delivered a broadcast it originated
// through others. Only members the list holds are tracked, so the tables
// are bounded by the list.
func (e *Engine) heardFrom(now time.Time, id peer.ID, direct bool) {
	l := e.live
	if _, ok := l.heard[id]; !ok {
		if _, known := e.roster.Get(id); !known {
			return
		}
	}
	l.heard[id] = now.UnixNano()
	if direct {
		l.talked[id] = now.UnixNano()
		delete(l.doubted, id)
	}
}

// signOfLifeSince says whether member id showed life during the wait w,
// as the confirming ping's timeout looks at it: a message of its own
// since the wait began, or a broadcast of it relayed by others since
// w.relayedFrom, the last fullConfirmWait/2 of the wait (all of it when
// the wait is no longer: one the shortest suspicion cut short). Relayed broadcasts delivered just after a cut are often the
// member's last ones, repaired late through this side (Plumtree's lazy
// push: an announcement, then a graft a second later); a member that
// lives and broadcasts keeps being heard. A short wait's second half
// alone (250 ms) missed the broadcasts of live members that broadcast
// once a second, and they were shown suspected at a heal.
func (e *Engine) signOfLifeSince(id peer.ID, w withheldEvent) bool {
	l := e.live
	if t, ok := l.talked[id]; ok && t > w.since {
		return true
	}
	t, ok := l.heard[id]
	return ok && t > w.relayedFrom
}

// lostTouch forgets the evidence of life of member id when this node's
// own connection or probe to it failed: that observation is newer than
// anything heard of it before, so a declaration of its failure by others
// is not withheld on the strength of what came before, nor of its
// broadcasts relayed since (often its last ones, repaired late): the
// member is doubted until it talks to this node itself. Before, a node
// that had lost a member across a partition itself still withheld the
// others' declarations about it for a confirming ping's wait, and showed
// the failure 2.5 s after the rest of its side.
func (e *Engine) lostTouch(id peer.ID) {
	l := e.live
	delete(l.heard, id)
	delete(l.talked, id)
	if _, known := e.roster.Get(id); known {
		l.doubted[id] = struct{}{} // until it talks to us (heardFrom)
	}
}

// stillAlive says whether a withheld event of member id waits one more
// round: an active neighbour not doubted, direct evidence (a message from
// the member itself) within the suspicion timeout, or a broadcast of the
// member relayed by others within the last fullConfirmWait (the wait
// before the shortest suspicion cuts it: a cut wait of 500 ms would miss a
// member that broadcasts once a second). The relayed kind must be that
// recent: during a partition, broadcasts the member made
// before the cut keep arriving through this side for as long as the
// slowest path takes (seconds, on an overloaded host) and say nothing of
// its life since, while a member that lives and broadcasts (at the heal of
// a partition, its refutation still on the way) keeps being heard.
func (e *Engine) stillAlive(now time.Time, id peer.ID) bool {
	l := e.live
	if _, doubted := l.doubted[id]; doubted {
		return false
	}
	if e.hv.IsActive(id) {
		return true
	}
	if t, ok := l.talked[id]; ok && now.UnixNano()-t < int64(e.roster.Config().SuspicionTimeout) {
		return true
	}
	t, ok := l.heard[id]
	return ok && now.UnixNano()-t < int64(e.fullConfirmWait())
}

// evidentlyAlive says whether this node has evidence that member id lives:
// an active neighbour, or heard from within the suspicion timeout. A
// member whose withheld event was shown for want of an answer is doubted:
// neither its link nor what was heard of it before counts until it is
// heard from again (a silently cut link stays up until the transport's
// idle timeout).
func (e *Engine) evidentlyAlive(now time.Time, id peer.ID) bool {
	if _, doubted := e.live.doubted[id]; doubted {
		return false
	}
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
		if held && in == roster.InputNeighborDown {
			// Our own link to it failed: that evidence is fresher.
			e.forgetWithheld(id, w, out)
			return false
		}
		if held {
			w.kind, w.inc = o.Event, o.Record.Incarnation
			l.withheld[id] = w
			return true
		}
		fromOthers := in == roster.InputReceive || in == roster.InputMerge
		if !fromOthers {
			return false
		}
		if !e.evidentlyAlive(now, id) {
			// No evidence either way: the member is asked first, if it
			// can be and no doubt was cast on it already, so that a
			// member still reachable refutes before anything is shown.
			_, doubted := l.doubted[id]
			if doubted || o.Record.Addr == "" || len(l.confirming) >= maxConfirming {
				return false
			}
		}
		shown := o.Record
		shown.State, shown.Proof = roster.StateAlive, nil
		w := withheldEvent{kind: o.Event, shown: shown, inc: o.Record.Incarnation, since: now.UnixNano()}
		to := hyparview.Peer{ID: id, Addr: o.Record.Addr}
		if len(l.confirming) < maxConfirming {
			w.confirm = e.rng.Uint64() | 1
			l.confirming[w.confirm] = id
			out.Sends = append(out.Sends, Send{To: to, Msg: &Ping{Nonce: w.confirm}})
			wait := e.confirmWait()
			w.relayedFrom = w.since + int64(max(0, wait-e.fullConfirmWait()/2))
			e.setTimer(Timer{kind: TimerWithheld, sub: 1, a: uint64(id), b: w.confirm}, wait, out)
		}
		l.withheld[id] = w
		e.count().EventsWithheld++
		e.tellSuspected(hyparview.Peer{ID: id}, out)
		if w.confirm == 0 {
			e.closeUnlessNeighbour(id, out) // once the declaration is sent
		}
		e.setTimer(Timer{kind: TimerWithheld, a: uint64(id), b: o.Record.Incarnation}, e.roster.Config().SuspicionTimeout, out)
		return true
	case roster.EventUpdate, roster.EventJoin:
		if !held {
			return false
		}
		e.forgetWithheld(id, w, out)
		e.count().WithheldRefuted++
		// A refutation the application never needed: it saw the member
		// alive throughout. A change of address or metadata is shown.
		return o.Record.State == roster.StateAlive && o.Record.Addr == w.shown.Addr && bytes.Equal(o.Record.Meta, w.shown.Meta)
	default:
		if held {
			e.forgetWithheld(id, w, out)
		}
		return false
	}
}

// confirmWait is how long a confirming ping waits for its answer or for
// another sign of life: half the suspicion timeout (2.5 s by default) and
// at least two probe timeouts, but no longer than the shortest suspicion
// (roster's ShortestSuspicion: SuspicionMinTimeout when signed
// confirmations are on) or one probe timeout, whichever is longer. The member
// refutes within it when it is reachable (the declaration reaches it as it
// reaches us, and we send it too); an overloaded host answers late but
// goes on talking within it (the fault lab at 32 agents on two cores
// showed 1 s too short at a heal, under the default minimum). The cap: a suspicion
// that nodes confirmed independently fails the member once the minimum
// has passed, so a node that waited longer than that for its own check
// would show the failure seconds after the rest of the cluster and spare
// no one (with a minimum of 500 ms, a killed node's last observer showed
// it failed 2 s after the first: docs/reliability.md, "Toward 2 s"); an
// operator who lowers the minimum gives a member that stalls
// less time to answer, here as in the member list. Like the probe
// timeouts, it is multiplied by one plus the local health score
// (health.go): a node that stalled heard nothing meanwhile, which is no
// evidence against anyone.
func (e *Engine) confirmWait() time.Duration {
	return min(e.fullConfirmWait(), max(e.live.timeout, e.roster.ShortestSuspicion())*time.Duration(1+e.live.healthScore))
}

// fullConfirmWait is confirmWait before the shortest suspicion caps it.
func (e *Engine) fullConfirmWait() time.Duration {
	return max(2*e.live.timeout, e.roster.Config().SuspicionTimeout/2) * time.Duration(1+e.live.healthScore)
}

// forgetWithheld drops a withheld event and its confirming ping, closing
// the connection the ping opened (unless the member is a neighbour).
func (e *Engine) forgetWithheld(id peer.ID, w withheldEvent, out *Ready) {
	delete(e.live.withheld, id)
	if w.confirm != 0 {
		delete(e.live.confirming, w.confirm)
		e.closeUnlessNeighbour(id, out)
	}
}

// confirmAnswered records the answer to a confirming ping: the member
// lives, and its event keeps waiting for the refutation.
func (e *Engine) confirmAnswered(now time.Time, nonce uint64, out *Ready) bool {
	l := e.live
	id, ok := l.confirming[nonce]
	if !ok {
		return false
	}
	delete(l.confirming, nonce)
	if w, held := l.withheld[id]; held && w.confirm == nonce {
		w.confirm = 0
		l.withheld[id] = w
	}
	e.heardFrom(now, id, true)
	e.count().ProbesAnswered++
	e.closeUnlessNeighbour(id, out)
	return true
}

// confirmFailed shows at once a withheld event whose member did not answer
// the confirming ping (timer) or whose connection failed, unless it showed
// a sign of life since the wait began (a slow member, or a slow node: an
// overloaded host answers late but goes on broadcasting): the evidence of
// life was stale.
func (e *Engine) confirmFailed(id peer.ID, nonce uint64, out *Ready) {
	l := e.live
	w, held := l.withheld[id]
	if !held || w.confirm == 0 || (nonce != 0 && w.confirm != nonce) {
		return
	}
	if e.signOfLifeSince(id, w) {
		delete(l.confirming, w.confirm)
		w.confirm = 0
		l.withheld[id] = w
		e.count().ConfirmsOutweighed++
		e.closeUnlessNeighbour(id, out)
		return
	}
	e.forgetWithheld(id, w, out)
	l.doubted[id] = struct{}{}
	e.showWithheld(id, out)
}

// showWithheld emits the event the member list's current record of id
// calls for, after its wait.
func (e *Engine) showWithheld(id peer.ID, out *Ready) {
	r, known := e.roster.Get(id)
	if !known || (r.State != roster.StateSuspect && r.State != roster.StateFailed) {
		return
	}
	e.count().WithheldShown++
	kind := roster.EventSuspect
	if r.State == roster.StateFailed {
		kind = roster.EventFail
	}
	out.Events = append(out.Events, MemberEvent{Kind: kind, Member: r})
}

// withheldTimeout shows a withheld event whose member neither refuted nor
// kept showing signs of life.
func (e *Engine) withheldTimeout(now time.Time, t Timer, out *Ready) {
	l := e.live
	id := peer.ID(t.a)
	if t.sub == 1 {
		e.confirmFailed(id, t.b, out)
		return
	}
	w, ok := l.withheld[id]
	if !ok || w.inc != t.b {
		return
	}
	r, known := e.roster.Get(id)
	if !known || (r.State != roster.StateSuspect && r.State != roster.StateFailed) {
		e.forgetWithheld(id, w, out)
		return
	}
	if e.stillAlive(now, id) && w.rounds < maxWithheldRounds {
		w.rounds++
		l.withheld[id] = w
		e.tellSuspected(hyparview.Peer{ID: id}, out)
		if w.confirm == 0 {
			e.closeUnlessNeighbour(id, out) // once the declaration is sent
		}
		e.setTimer(Timer{kind: TimerWithheld, a: uint64(id), b: w.inc}, e.roster.Config().SuspicionTimeout, out)
		return
	}
	e.forgetWithheld(id, w, out)
	e.showWithheld(id, out)
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
