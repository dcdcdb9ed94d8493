package gossip

import (
	"fmt"
	"slices"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// Liveness beyond the active view. HyParView watches only a node's few
// neighbours (their connections fail); a member that is nobody's
// neighbour across a partition would stay listed alive on the other side
// until SilenceTimeout. So every node also probes the other members, as
// SWIM's failure detector does (A. Das, I. Gupta, A. Motivala, DSN 2002,
// §3.1 and §4.3): every ProbeInterval it pings the next member of a
// shuffled round-robin list (§4.3, "round-robin probe target selection",
// which bounds the time until each member is probed by a given node); a
// member that does not answer within ProbeTimeout is probed indirectly
// through IndirectProbes active neighbours (PingReq, §3.1); one that
// answers neither within two more ProbeTimeouts is suspected, and the
// member list's suspicion, refutation and failure take over. Members
// this node heard from within the last interval, and its active
// neighbours, are skipped: they have just shown they are alive, or their
// connection is watched (probeSkipWindow).
//
// A probe travels over a connection of its own when none is open: the
// engine closes it once the probe is over (Ready.Closes) unless the member
// is an active neighbour.

// Ping asks the receiver to answer with an Ack of the same Nonce.
type Ping struct {
	peer.Sealed
	Nonce uint64
	// Mark, when set, names a broadcast the sender delivered a while ago
	// (islands.go). Last, so that a decoder that predates it skips it.
	Mark *Mark
}

// PingReq asks the receiver to ping Target and to pass its Ack back under
// Nonce: the indirect probe of SWIM (§3.1). The receiver dials Target at
// the address its own member list holds, never one a peer names.
type PingReq struct {
	peer.Sealed
	Target peer.ID
	Nonce  uint64
	// Nack asks for a negative answer when Target stays silent (nack.go).
	// Last, so that a decoder that predates it skips it: an agent of an
	// earlier version never sends one.
	Nack bool
}

// Ack answers a Ping (or, relayed, a PingReq).
type Ack struct {
	peer.Sealed
	Nonce uint64
	// Nack marks a relay's negative answer to a PingReq that asked for
	// one: the target has not answered the relay yet (nack.go). Last, as
	// PingReq.Nack; only a node that asked for nacks receives one.
	Nack bool
}

// Validate refuses a PingReq without a target.
func (m *PingReq) Validate() error {
	if m.Target == 0 {
		return fmt.Errorf("ping-req without a target")
	}
	return nil
}

// Extension tags of the probe messages in the wire codec.
const (
	TagPing    byte = 66
	TagPingReq byte = 67
	TagAck     byte = 68
)

// Defaults of the probes (MembersConfig).
const (
	// DefaultProbeInterval is MembersConfig.ProbeInterval's default: 1 s,
	// SWIM's protocol period as HashiCorp memberlist's LAN configuration
	// sets it. Each node sends one probe a second whatever the cluster's
	// size; during a partition, each member of the other side is probed
	// by some node of this side within a few periods.
	DefaultProbeInterval = time.Second
	// DefaultProbeTimeout is MembersConfig.ProbeTimeout's default: 500 ms,
	// memberlist's LAN probe timeout. It covers a connection's set-up (a
	// QUIC handshake) besides the round trip.
	DefaultProbeTimeout = 500 * time.Millisecond
	// DefaultIndirectProbes is MembersConfig.IndirectProbes's default: 3,
	// memberlist's and SWIM's k.
	DefaultIndirectProbes = 3
	// maxProbeRelays bounds the PingReqs this node relays at once; more
	// are refused and counted.
	maxProbeRelays = 64
	// maxProbeChecks bounds the candidates one probe tick looks at before
	// it gives up until the next tick: enough to pass over the settled
	// suspects of a partition's other side.
	maxProbeChecks = 64
)

// probeStage is where the current probe stands.
type probeStage uint8

const (
	probeIdle     probeStage = iota
	probeDirect              // Ping sent, waiting ProbeTimeout
	probeIndirect            // PingReqs sent, waiting 2·ProbeTimeout
)

// relay is a PingReq this node is carrying out.
type relay struct {
	requester peer.ID
	nonce     uint64 // the requester's
	target    peer.ID
	nack      bool // the requester asked for a nack (nack.go)
}

// liveness is the probing and evidence-of-life state (probe.go,
// evidence.go), present with the member list.
type liveness struct {
	interval, timeout time.Duration // <= 0 interval: probing is off
	indirect          int
	order             []peer.ID // the round-robin list, shuffled
	next              int
	target            hyparview.Peer // the current probe's
	nonce             uint64
	stage             probeStage
	// unnacked holds the neighbours asked to ping the current probe's
	// target that have neither answered nor nacked; asked is how many
	// were asked (nack.go).
	unnacked []peer.ID
	asked    int
	// recheck holds the members whose lost connection this node doubted
	// (nack.go's doubtLoss), probed before the round-robin list; at most
	// maxRechecks.
	recheck []peer.ID
	relays  map[uint64]relay
	// heard holds when this node last heard from a member directly (a
	// message it sent us, an Ack) or delivered a fresh broadcast it
	// originated, in Unix nanoseconds: evidence of life (evidence.go).
	heard map[peer.ID]int64
	// talked holds when a member last gave direct evidence: a message of
	// its own, an answer to a ping (evidence.go).
	talked map[peer.ID]int64
	// withheld holds the members whose suspicion or failure, learned
	// from others, is not shown to the application while this node has
	// evidence they live (evidence.go).
	withheld map[peer.ID]withheldEvent
	// confirming maps the nonce of each confirming ping in flight to its
	// member (evidence.go).
	confirming map[uint64]peer.ID
	// tickDue is when the next probe tick is due (Unix nanoseconds; 0
	// before the first); healthScore and refutations are the local health
	// (health.go).
	tickDue     int64
	healthScore uint8
	refutations uint64
	// doubted holds the members whose confirming ping went unanswered
	// with no sign of life: their link is no evidence until they are
	// heard from (evidence.go). Bounded by the member list.
	doubted map[peer.ID]struct{}
	// islands is the island check's state (islands.go).
	islands islands
}

func newLiveness(m *MembersConfig) *liveness {
	l := &liveness{interval: m.ProbeInterval, timeout: m.ProbeTimeout, indirect: m.IndirectProbes,
		relays: map[uint64]relay{}, heard: map[peer.ID]int64{}, talked: map[peer.ID]int64{}, withheld: map[peer.ID]withheldEvent{},
		confirming: map[uint64]peer.ID{}, doubted: map[peer.ID]struct{}{}}
	if l.interval == 0 {
		l.interval = DefaultProbeInterval
	}
	if l.timeout == 0 {
		l.timeout = DefaultProbeTimeout
	}
	if l.indirect == 0 {
		l.indirect = DefaultIndirectProbes
	}
	l.islands.age = m.IslandCheckAge
	if l.islands.age == 0 {
		l.islands.age = DefaultIslandCheckAge
	}
	return l
}

func (l *liveness) clone() *liveness {
	c := *l
	c.order = append([]peer.ID(nil), l.order...)
	c.unnacked = append([]peer.ID(nil), l.unnacked...)
	c.recheck = append([]peer.ID(nil), l.recheck...)
	c.relays = make(map[uint64]relay, len(l.relays))
	for k, v := range l.relays {
		c.relays[k] = v
	}
	c.heard = make(map[peer.ID]int64, len(l.heard))
	for k, v := range l.heard {
		c.heard[k] = v
	}
	c.talked = make(map[peer.ID]int64, len(l.talked))
	for k, v := range l.talked {
		c.talked[k] = v
	}
	c.withheld = make(map[peer.ID]withheldEvent, len(l.withheld))
	for k, v := range l.withheld {
		c.withheld[k] = v
	}
	c.confirming = make(map[uint64]peer.ID, len(l.confirming))
	for k, v := range l.confirming {
		c.confirming[k] = v
	}
	c.doubted = make(map[peer.ID]struct{}, len(l.doubted))
	for k := range l.doubted {
		c.doubted[k] = struct{}{}
	}
	return &c
}

// armProbe sets the next probe tick.
func (e *Engine) armProbe(now time.Time, out *Ready) {
	if e.live.interval > 0 {
		e.live.tickDue = now.UnixNano() + int64(e.live.interval)
		e.setTimer(Timer{kind: TimerProbe}, e.live.interval, out)
	}
}

// probeTick starts the probe of the next member.
func (e *Engine) probeTick(now time.Time, out *Ready) {
	if e.live == nil || e.roster.Left() {
		return
	}
	e.noteTick(now)
	e.armProbe(now, out)
	l := e.live
	if l.stage != probeIdle {
		return // still waiting on the last one: it ends on its own timer
	}
	target, ok := e.nextProbeTarget(now)
	if !ok {
		return
	}
	l.startProbe(target, e.rng.Uint64()|1)
	e.count().Probes++
	l.islands.keepMark(now)
	out.Sends = append(out.Sends, Send{To: target, Msg: &Ping{Nonce: l.nonce, Mark: l.islands.markToSend(now, e.markMaxAge())}})
	e.setTimer(Timer{kind: TimerProbeTimeout, sub: uint8(probeDirect), a: uint64(target.ID), b: l.nonce}, e.scaledProbeTimeout(), out)
}

// nextProbeTarget takes the next member of the round-robin list that is
// worth probing: listed Alive, or Suspect and not settled (this node has
// not observed it yet and its suspicion wants confirmations: a failed
// probe confirms it, roster.Settled), dialable (its record does not say
// it is behind a NAT, roster.Rendezvous: its neighbours watch the links
// it opened), not an active neighbour, not heard from within
// probeSkipWindow. The list is rebuilt, shuffled, when it runs out (SWIM
// §4.3).
func (e *Engine) nextProbeTarget(now time.Time) (hyparview.Peer, bool) {
	l := e.live
	for range maxProbeChecks {
		var id peer.ID
		if len(l.recheck) > 0 { // doubted losses first (nack.go)
			id = l.recheck[0]
			l.recheck = slices.Delete(l.recheck, 0, 1)
		} else {
			if l.next >= len(l.order) {
				e.rebuildProbeOrder(now)
				if len(l.order) == 0 {
					return hyparview.Peer{}, false
				}
			}
			id = l.order[l.next]
			l.next++
		}
		r, ok := e.roster.Get(id)
		if !ok || r.Addr == "" || (r.State != roster.StateAlive && r.State != roster.StateSuspect) || e.hv.IsActive(id) {
			continue
		}
		if r.Proof != nil && r.Proof.Rendezvous != nil && r.Proof.Rendezvous.Unreachable {
			continue
		}
		if r.State == roster.StateSuspect && e.roster.Settled(id) {
			continue // observed by this node already, or confirmed enough
		}
		if t, ok := l.heard[id]; ok && now.UnixNano()-t < int64(e.probeSkipWindow()) {
			continue
		}
		return hyparview.Peer{ID: id, Addr: r.Addr}, true
	}
	return hyparview.Peer{}, false
}

// probeSkipWindow is how recently a member must have been heard from to be
// skipped by the probes: one interval. In a busy cluster the members that
// broadcast often are probed less (fewer connections to set up), and
// during a partition the probes go to the members nobody on this side has
// heard from since the last interval: the other side. (Half the suspicion
// timeout skipped more, but delayed the first probe of the other side by
// as much: the fault lab's partitions at 32 agents were detected seconds
// later.)
func (e *Engine) probeSkipWindow() time.Duration {
	return e.live.interval
}

// rebuildProbeOrder lists the members other than this node, shuffled, and
// forgets evidence older than the suspicion timeout, which no decision
// reads any more.
func (e *Engine) rebuildProbeOrder(now time.Time) {
	l := e.live
	l.order, l.next = l.order[:0], 0
	self := e.roster.Self()
	for r := range e.roster.All() { // no copy of the list (Members made one)
		if r.ID != self && (r.State == roster.StateAlive || r.State == roster.StateSuspect) {
			l.order = append(l.order, r.ID)
		}
	}
	e.rng.Shuffle(len(l.order), func(i, j int) { l.order[i], l.order[j] = l.order[j], l.order[i] })
	stale := now.UnixNano() - int64(e.roster.Config().SuspicionTimeout)
	for id, t := range l.heard {
		if t < stale {
			delete(l.heard, id)
		}
	}
	for id, t := range l.talked {
		if t < stale {
			delete(l.talked, id)
		}
	}
	for id := range l.doubted {
		if _, ok := e.roster.Get(id); !ok {
			delete(l.doubted, id) // forgotten: its tombstone expired
		}
	}
}

// probeTimeout moves an unanswered probe on: from the direct ping to the
// indirect ones, and from those to a suspicion. The timer names the stage
// it ends: the direct stage's, left pending when a failed connection
// moved the probe on early (probeConnectionFailed), ends nothing. Before,
// it ended the indirect stage after one timeout, before any relay's
// answer or nack could come.
func (e *Engine) probeTimeout(now time.Time, t Timer, out *Ready) {
	l := e.live
	if l == nil || l.stage == probeIdle || t.b != l.nonce || t.sub != uint8(l.stage) || e.roster.Left() {
		return
	}
	if l.stage == probeDirect {
		e.probeIndirectly(out)
		return
	}
	e.count().ProbesFailed++
	target := l.target
	l.stage = probeIdle
	e.closeUnlessNeighbour(target.ID, out)
	allNacked, raise := e.allNacked(), e.failedProbeRaise()
	l.unnacked, l.asked = l.unnacked[:0], 0
	// The failure counts against this node too, unless a relay nacked
	// (nack.go), after the observation below: that is judged with the
	// score the node probed under.
	defer e.raiseHealthScoreBy(raise)
	if r, ok := e.roster.Get(target.ID); ok && r.State.Present() {
		if r.State == roster.StateAlive && l.healthScore > 0 && !allNacked {
			// An unhealthy node accuses no one on its own word (health.go,
			// nack.go): the others' probes, and its own once it is well,
			// decide.
			e.count().LossesDoubted++
		} else {
			// a suspicion, or a confirmation of one held (roster:
			// confirm.go; doubtful while unhealthy)
			e.stepRoster(now, roster.Input{Kind: roster.InputNeighborDown, Peer: target, Reason: hyparview.DownFailed}, out)
		}
	}
}

// probeIndirectly asks up to IndirectProbes active neighbours to ping the
// target for us.
func (e *Engine) probeIndirectly(out *Ready) {
	l := e.live
	l.stage = probeIndirect
	n := e.hv.ActiveLen()
	start := 0
	if n > 0 {
		start = e.rng.IntN(n)
	}
	l.unnacked, l.asked = l.unnacked[:0], 0
	for i := 0; i < n && l.asked < l.indirect; i++ {
		p := e.hv.ActiveAt((start + i) % n)
		if p.ID == l.target.ID {
			continue
		}
		l.asked++
		l.unnacked = append(l.unnacked, p.ID)
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: p.ID}, Msg: &PingReq{Target: l.target.ID, Nonce: l.nonce, Nack: true}})
	}
	e.count().IndirectProbes += uint64(l.asked)
	e.setTimer(Timer{kind: TimerProbeTimeout, sub: uint8(probeIndirect), a: uint64(l.target.ID), b: l.nonce}, 2*e.scaledProbeTimeout(), out)
}

// probeConnectionFailed is a failed connection to the member being probed
// directly: the probe goes indirect at once, rather than suspecting a
// member whom only this node cannot reach.
func (e *Engine) probeConnectionFailed(p peer.ID, out *Ready) bool {
	l := e.live
	if l == nil || l.stage == probeIdle || l.target.ID != p {
		return false
	}
	if l.stage == probeDirect {
		e.probeIndirectly(out)
	}
	return true
}

// probeAfterFailedConnection starts an indirect probe of a member listed
// alive whose connection failed while it was not a neighbour, when no
// probe is in progress: this node alone failing to reach it (a one-way
// cut, a dial that timed out on an overloaded host) is not enough to
// suspect it; its neighbours' pings decide (SWIM §3.1). It reports false
// when probing is off or busy, and the caller suspects at once.
func (e *Engine) probeAfterFailedConnection(p hyparview.Peer, out *Ready) bool {
	l := e.live
	if l == nil || l.interval <= 0 || l.stage != probeIdle {
		return false
	}
	l.startProbe(p, e.rng.Uint64()|1)
	e.count().Probes++
	e.probeIndirectly(out)
	return true
}

// checkLostSuspect handles the failed link of a neighbour the member list
// already holds suspect: a lost link says only that this one connection
// failed (a one-way cut drops the member's packets here while others
// reach it), so it confirms nothing by itself (roster's confirm.go);
// the member is probed through the other neighbours instead, when no
// probe is in progress, and that probe's failure confirms the suspicion.
// It reports true when the member list is not to hear of the loss.
//
// A node that is itself unhealthy (health.go: its own timers fire late,
// others had to be refuted) treats the failed link of a neighbour listed
// alive the same way when no probe is in progress: its connection most
// likely timed out because this node could not read it in time, and a
// suspicion of its making would reach the whole cluster. Before, every
// node of an overloaded process suspected its neighbours as their
// keep-alives went unread, and at 256 nodes on two cores the member
// lists lost half the cluster (docs/benchmarks.md, "256 nodes: the join
// converges"). When a probe is in progress, such a node does not suspect
// the neighbour either: the loss is doubted and counted (LossesDoubted),
// and the neighbour's other neighbours and the probes decide. Before, an
// unhealthy node, whose probes (their timeouts scaled) are in progress
// most of the time, suspected most of the neighbours it lost, and 448
// nodes in one process on two cores raised thousands of suspicions at the
// join.
func (e *Engine) checkLostSuspect(o *hyparview.Output, out *Ready) bool {
	if e.live == nil || e.live.interval <= 0 || o.Reason != hyparview.DownFailed {
		return false
	}
	r, ok := e.roster.Get(o.Peer.ID)
	if !ok {
		return false
	}
	if r.State == roster.StateAlive && e.live.healthScore > 0 {
		if !e.probeAfterFailedConnection(hyparview.Peer{ID: r.ID, Addr: r.Addr}, out) {
			e.doubtLoss(r.ID)
		}
		return true
	}
	if r.State != roster.StateSuspect {
		return false
	}
	if e.roster.Settled(o.Peer.ID) {
		return true // observed already, or confirmed enough
	}
	e.probeAfterFailedConnection(hyparview.Peer{ID: r.ID, Addr: r.Addr}, out)
	return true
}

// onProbeMessage hands a probe message to its handler.
func (e *Engine) onProbeMessage(now time.Time, from peer.ID, msg Message, out *Ready) {
	switch m := msg.(type) {
	case *Ping:
		e.onPing(from, m, out)
		e.checkMark(now, from, m.Mark, out) // islands.go
	case *PingReq:
		e.onPingReq(from, m, out)
	case *Ack:
		e.onAck(now, from, m, out)
	}
}

// onPing answers over the connection the ping came on.
func (e *Engine) onPing(from peer.ID, m *Ping, out *Ready) {
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: from}, Msg: &Ack{Nonce: m.Nonce}})
}

// onPingReq pings the target for a peer, at the address this node's member
// list holds.
func (e *Engine) onPingReq(from peer.ID, m *PingReq, out *Ready) {
	l := e.live
	r, ok := e.roster.Get(m.Target)
	if !ok || r.Addr == "" || m.Target == e.roster.Self() || len(l.relays) >= maxProbeRelays {
		e.count().ProbeRelaysRefused++
		return
	}
	nonce := e.rng.Uint64() | 1
	l.relays[nonce] = relay{requester: from, nonce: m.Nonce, target: m.Target, nack: m.Nack}
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: r.ID, Addr: r.Addr}, Msg: &Ping{Nonce: nonce}})
	if m.Nack {
		e.setTimer(Timer{kind: TimerProbeRelay, sub: relayNackDue, a: uint64(m.Target), b: nonce}, l.timeout, out)
		return
	}
	e.setTimer(Timer{kind: TimerProbeRelay, a: uint64(m.Target), b: nonce}, 2*l.timeout, out)
}

// relayTimeout gives up a relayed probe the target never answered, or
// first nacks it (nack.go).
func (e *Engine) relayTimeout(t Timer, out *Ready) {
	if t.sub == relayNackDue {
		e.relayNack(t, out)
		return
	}
	if r, ok := e.live.relays[t.b]; ok {
		delete(e.live.relays, t.b)
		e.closeUnlessNeighbour(r.target, out)
	}
}

// onAck ends the current probe, or passes a relayed one's answer back.
func (e *Engine) onAck(now time.Time, from peer.ID, m *Ack, out *Ready) {
	l := e.live
	if m.Nack {
		e.onNack(from, m)
		return
	}
	if l.stage != probeIdle && m.Nonce == l.nonce {
		target := l.target
		l.stage = probeIdle
		l.unnacked, l.asked = l.unnacked[:0], 0
		e.count().ProbesAnswered++
		e.lowerHealthScore()
		e.heardFrom(now, target.ID, true) // directly, or through a relay just now
		e.closeUnlessNeighbour(target.ID, out)
		e.tellSuspected(target, out)
		return
	}
	if e.confirmAnswered(now, m.Nonce, out) {
		return
	}
	if r, ok := l.relays[m.Nonce]; ok && from == r.target {
		delete(l.relays, m.Nonce)
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: r.requester}, Msg: &Ack{Nonce: r.nonce}})
		e.closeUnlessNeighbour(r.target, out)
		return
	}
	e.count().StaleAcks++
}

// closeUnlessNeighbour closes the connection a probe opened, unless the
// member is a neighbour (its link needs it) or is being asked to become one.
// The connection stays open, too, while this node still awaits an answer
// over it (awaiting): closing it would lose that answer, and a probe's
// lost Ack is a suspicion. The exchange that ends last closes it.
func (e *Engine) closeUnlessNeighbour(id peer.ID, out *Ready) {
	if !e.hv.IsActive(id) && !e.hv.IsPending(id) && !e.awaiting(id) {
		out.Closes = append(out.Closes, id)
	}
}

// awaiting reports whether this node awaits an answer from id: the
// current probe's Ack, a confirming ping's (evidence.go), a relayed
// probe's, or its views (overlay.go). Each collection is bounded (one
// probe, maxConfirming, maxProbeRelays, the query's fan-out).
func (e *Engine) awaiting(id peer.ID) bool {
	if l := e.live; l != nil {
		if l.stage != probeIdle && l.target.ID == id {
			return true
		}
		for _, m := range l.confirming {
			if m == id {
				return true
			}
		}
		for _, r := range l.relays {
			if r.target == id {
				return true
			}
		}
	}
	if q := e.views; q != nil {
		if _, ok := q.pending[id]; ok {
			return true
		}
	}
	return false
}

// tellSuspected sends a member that answered us the suspicion or failure
// this node holds of it, if any, so that it refutes (roster: a record
// about itself that supersedes its own) without waiting for the
// declaration to reach it by dissemination. p's address, when set, lets the
// driver connect to it for the purpose (the member just answered this
// node's own probe); without one, the declaration goes only over a
// connection already open.
func (e *Engine) tellSuspected(p hyparview.Peer, out *Ready) {
	r, ok := e.roster.Get(p.ID)
	if !ok || (r.State != roster.StateSuspect && r.State != roster.StateFailed) || r.Proof == nil && e.auth != nil {
		return
	}
	e.count().SuspicionsTold++
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: p.ID, Addr: p.Addr}, Msg: &Records{Records: []roster.Record{r}}})
}
