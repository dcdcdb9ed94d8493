package gossip

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Engine is one node's protocol stack: HyParView and Plumtree composed,
// with the member list when Config.Members is set. It is pure and
// deterministic and must be driven by one goroutine at a time.
//
// Each input method appends what the node must do to a Ready batch that
// the driver owns and carries out; the engine keeps no reference to it.
type Engine struct {
	// The cores are held by value: a simulator steps thousands of engines
	// in turn, and each pointer less to follow is a cache miss less. What
	// most inputs read comes first: the member-list pointer (every
	// delivery asks whether to unwrap an envelope or check a signature),
	// then the broadcast core, whose first lines a payload reads; with
	// that pointer alone before it, a duplicate payload reads two lines.
	roster  *roster.Roster // the member list, nil unless Config.Members is set
	pt      plumtree.State
	members // the rest of the member list's state
	// counters is allocated by the first count (count): nearly every one
	// counts an event of the member list or of an optional feature, so
	// an engine without them (a simulator's million) never pays their
	// 600 bytes.
	counters *EngineCounters
	// Every other received message asks for the budgets and the liveness
	// state before the membership core reads its first fields: they lie
	// just before it.
	//
	// budgets is the per-peer accounting, nil unless Config.Budgets is set.
	budgets *budgets
	// live is the probing and evidence-of-life state (probe.go,
	// evidence.go), nil unless Config.Members is set.
	live *liveness
	// The membership core follows the two pointers every membership
	// message reads first, so that they share its first line.
	hv hyparview.State
	// contacts are the contacts of the last Join or ContactsResolved: what
	// the rejoin tick joins through.
	contacts []hyparview.Peer
	// gaps is the gap detector, nil unless Config.Gaps is set (and the
	// member list on, under the IDOriginSequence policy).
	gaps *gaps
	// run is the first sequence of this run of the node, carried in its
	// application envelopes (Envelope.Run); 0 under IDContentHash.
	run uint64
	// views is the overlay query in progress (overlay.go), if any;
	// viewsAt is when the last one began (Unix nanoseconds, 0 before the
	// first).
	views   *viewsQuery
	viewsAt int64
}

// count returns the engine's counters, allocated on the first call.
func (e *Engine) count() *EngineCounters {
	if e.counters == nil {
		e.counters = new(EngineCounters)
	}
	return e.counters
}

// scratchOutputs is how many outputs of one broadcast step fit in the
// stack buffer that receives them; more spill to the heap. A relay to a full
// active view with its delivery and timers fits.
const scratchOutputs = 8

// New builds the engine of the node self. rng seeds every random choice;
// the engine owns it afterwards. A bad configuration is an error.
func New(self hyparview.Peer, cfg Config, rng *rand.Rand) (*Engine, error) {
	if rng == nil {
		return nil, errors.New("gossip: nil random source")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hv, err := hyparview.New(self, cfg.HyParView, rng)
	if err != nil {
		return nil, err
	}
	pt, err := plumtree.New(self.ID, cfg.Plumtree)
	if err != nil {
		return nil, err
	}
	e := &Engine{hv: *hv, pt: *pt}
	if cfg.Budgets != nil {
		e.budgets = &budgets{cfg: *cfg.Budgets, peers: map[peer.ID]*usage{}}
	}
	if cfg.Plumtree.IDPolicy == plumtree.IDOriginSequence {
		e.run = cmp.Or(cfg.Plumtree.FirstSequence, plumtree.DefaultFirstSequence)
		if cfg.Gaps != nil && cfg.Members != nil {
			e.gaps = newGaps(*cfg.Gaps, cmp.Or(cfg.Plumtree.PayloadRetention, plumtree.DefaultPayloadRetention))
		}
	}
	if m := cfg.Members; m != nil {
		rc := m.Roster
		var auth peer.Authenticator
		if m.Auth != nil {
			e.verified = newVerifiedSigs(m.Auth, &e.count().SignaturesRemembered) // verified.go
			auth = e.verified
		}
		rc.Auth = auth
		if e.roster, err = roster.New(self, m.Meta, rc); err != nil {
			return nil, err
		}
		e.rng, e.auth, e.originAuth = rng, auth, m.Auth
		e.prepared = newPreparedSigs(m.Auth)
		if m.Auth != nil {
			e.checked = &decodedEnvelope{}
		}
		e.syncInterval = cmp.Or(m.SyncInterval, DefaultSyncInterval)
		e.rejoinInterval = cmp.Or(m.RejoinInterval, DefaultRejoinInterval)
		e.behindNAT = m.BehindNAT
		if m.CheckReachability {
			e.reach = &reach{interval: cmp.Or(m.ReachInterval, DefaultReachInterval), timeout: cmp.Or(m.ReachTimeout, DefaultReachTimeout), due: true,
				private: m.PrivateAddress}
		}
		e.live = newLiveness(m)
	}
	return e, nil
}

// Errors of the input methods: local misuse, never a peer's doing.
var (
	// ErrNoMembers: the input needs the member list (Config.Members).
	ErrNoMembers = errors.New("gossip: the member list is off (Config.Members)")
	// ErrTopicTooLong: a topic over MaxTopicBytes.
	ErrTopicTooLong = errors.New("gossip: topic too long")
	// ErrOriginsNeedSequenceIDs: origin signatures with Plumtree's
	// IDContentHash policy, where the ID cannot be signed before the
	// payload exists.
	ErrOriginsNeedSequenceIDs = errors.New("gossip: origin signatures need the origin-sequence ID policy")
)

// Join starts the node and joins the cluster through contacts, tried in
// order (none for the first node of a cluster). The contacts are kept for
// the rejoin tick; with the member list, Join arms it.
func (e *Engine) Join(now time.Time, contacts []hyparview.Peer, out *Ready) {
	e.contacts = append(e.contacts[:0], contacts...)
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputJoin, Contacts: contacts}, out)
	if e.roster != nil && !e.rejoinArmed {
		e.rejoinArmed = true
		e.setTimer(Timer{kind: TimerRejoin}, e.rejoinInterval, out)
		e.armProbe(now, out)
	}
}

// Leave leaves the cluster gracefully: with the member list the node
// publishes that it left and tells its neighbours directly; then it
// disconnects. Later inputs are ignored.
func (e *Engine) Leave(now time.Time, out *Ready) {
	if e.roster != nil && !e.roster.Left() {
		e.stepRoster(now, roster.Input{Kind: roster.InputLeave}, out)
		e.tellLeft(out)
	}
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputLeave}, out)
}

// Broadcast disseminates payload to every node, this one included (its
// delivery is in out), and returns the message's ID. topic names an
// application topic and needs the member list; without it, topic must be
// empty. The engine keeps payload: the caller must not modify it.
func (e *Engine) Broadcast(now time.Time, topic string, payload []byte, out *Ready) (plumtree.MessageID, error) {
	if e.roster == nil {
		if topic != "" {
			return plumtree.MessageID{}, fmt.Errorf("%w: topic %q", ErrNoMembers, topic)
		}
		return e.broadcast(now, payload, out)
	}
	if len(topic) > MaxTopicBytes {
		return plumtree.MessageID{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTopicTooLong, len(topic), MaxTopicBytes)
	}
	env := &Envelope{Kind: EnvelopeApp, Topic: topic, Data: payload, Run: e.run}
	if e.run != 0 {
		// Under IDContentHash (no run) the ID is the envelope's hash: a
		// send time would make identical payloads differ.
		env.SentAt = now.UnixMilli()
	}
	if e.auth == nil {
		b, err := EncodeEnvelope(env)
		if err != nil {
			return plumtree.MessageID{}, err
		}
		id, err := e.broadcast(now, b, out)
		if err == nil {
			e.noteOwnHead(now, id, nil, nil)
		}
		return id, err
	}
	// The signature covers the ID, so the ID is reserved first.
	id, ok := e.pt.NextID()
	if !ok {
		return plumtree.MessageID{}, ErrOriginsNeedSequenceIDs
	}
	env.Key, env.Sig = e.auth.PublicKey(), e.auth.Sign(SignedOriginBytes(id, topic, payload))
	if e.run != 0 {
		env.RunSig = e.auth.Sign(SignedOriginRunBytes(id, e.run, topic, payload))
		env.HeadSig = e.auth.Sign(SignedHeadBytes(id, e.run))
	}
	b, err := EncodeEnvelope(env)
	if err != nil {
		return plumtree.MessageID{}, err
	}
	var scratch [scratchOutputs]plumtree.Output
	ptOut, err := e.pt.BroadcastID(now, id, b, scratch[:0])
	e.translatePlumtree(now, ptOut, out)
	if err == nil {
		e.noteOwnHead(now, id, env.Key, env.HeadSig)
	}
	return id, err
}

func (e *Engine) broadcast(now time.Time, payload []byte, out *Ready) (plumtree.MessageID, error) {
	var scratch [scratchOutputs]plumtree.Output
	id, ptOut, err := e.pt.Broadcast(now, payload, scratch[:0])
	e.translatePlumtree(now, ptOut, out)
	return id, err
}

// UpdateMeta replaces this node's metadata and publishes its new record
// (member list only).
func (e *Engine) UpdateMeta(now time.Time, meta []byte, out *Ready) error {
	if e.roster == nil {
		return ErrNoMembers
	}
	return e.stepRoster(now, roster.Input{Kind: roster.InputUpdateMeta, Meta: meta}, out)
}

// Receive hands over msg, received from the authenticated peer from. A
// message of no layer of this engine is dropped and counted.
func (e *Engine) Receive(now time.Time, from peer.ID, msg Message, out *Ready) {
	if g, ok := msg.(*plumtree.Gossip); ok {
		// The most frequent message first, by a concrete type check
		// rather than an interface assertion. Signatures come only with
		// the member list (New), so the member-list pointer, on the
		// engine's first line, is asked first: without it a payload
		// reads nothing of the member list's state, far down the engine.
		if e.roster != nil && e.auth != nil && !e.pt.Seen(g.ID) && !e.payloadValid(now, from, g, out) {
			return
		}
		e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputReceive, Peer: from, Msg: g}, out)
		return
	}
	if e.budgets != nil {
		if k, n, ok := budgetOf(msg); ok && !e.fromOwnRendezvous(from, msg) && !e.spend(now, from, k, n, out) {
			if k == BudgetSignal {
				e.count().SignalsRefused[SignalOverBudget]++
			}
			return
		}
	}
	if e.live != nil {
		e.heardFrom(now, from, true)
	}
	switch m := msg.(type) {
	case hyparview.Message:
		e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputReceive, From: from, Msg: m}, out)
	case plumtree.Message:
		e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputReceive, Peer: from, Msg: m}, out)
	case *Digest:
		if e.roster == nil {
			e.count().UnknownMessages++
			return
		}
		e.onDigest(from, m, out)
	case *Records:
		if e.roster == nil {
			e.count().UnknownMessages++
			return
		}
		e.onRecords(now, from, m, out)
	case *Heads:
		if e.roster == nil {
			e.count().UnknownMessages++
			return
		}
		e.onHeads(now, from, m, out)
	case *Ping, *PingReq, *Ack:
		if e.live == nil {
			e.count().UnknownMessages++
			return
		}
		e.onProbeMessage(now, from, m, out)
	case *ViewsRequest, *ViewsReply:
		if e.roster == nil {
			e.count().UnknownMessages++
			return
		}
		e.onViewsMessage(from, m, out)
	case *Signal:
		if e.roster == nil || e.roster.Left() {
			e.count().SignalsRefused[SignalNoMembers]++
			return
		}
		e.onSignal(from, m, out)
	case *ReachRequest, *ReachAnswer:
		if e.roster == nil {
			e.count().UnknownMessages++
			return
		}
		e.onReachMessage(now, from, m, out)
	default:
		e.count().UnknownMessages++
	}
}

// TimerFired hands back a timer of an earlier Ready.Timers. The zero
// Timer is ignored and counted.
func (e *Engine) TimerFired(now time.Time, t Timer, out *Ready) {
	switch t.kind {
	case TimerShuffle, TimerNeighborRequest, TimerJoin:
		e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputTimer, Timer: t.hyparview()}, out)
	case TimerGraft, TimerDispatch:
		e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputTimer, Timer: t.plumtree()}, out)
	case TimerSuspicion, TimerExpiry, TimerRefresh:
		e.stepRoster(now, roster.Input{Kind: roster.InputTimer, Timer: t.roster()}, out)
	case TimerMemberSync:
		e.sync(now, out)
	case TimerRejoin:
		e.rejoinTick(now, out)
	case TimerProbe:
		e.probeTick(now, out)
	case TimerProbeTimeout:
		e.probeTimeout(now, t, out)
	case TimerProbeRelay:
		if e.live != nil {
			e.relayTimeout(t, out)
		}
	case TimerWithheld:
		if e.live != nil {
			e.withheldTimeout(now, t, out)
		}
	case TimerGaps:
		e.gapTimer(now, t, out)
	case TimerViews:
		e.viewsTimeout(t, out)
	case TimerReach:
		e.reachTimeout(now, t, out)
	default:
		e.count().UnknownTimers++
	}
}

// ConnectionFailed reports that the connection to p failed or could not
// be established.
//
// With the member list, a failed connection to a member that is not an
// active neighbour — one we were asking to become a neighbour, or one we
// had just dropped to make room for another, whose failure HyParView then
// ignores — is also evidence of failure: the member is probed through
// the node's neighbours at once and suspected if none reaches it (an
// unhealthy node needs every relay's nack, nack.go), or suspected at once
// when probing is off or busy (an unhealthy node doubts the loss instead,
// as a neighbour's, probe.go's checkLostSuspect), as a failed neighbour
// is, unless its record says it cannot be dialled (it sits behind a NAT,
// signal.go): a dial to it failing says nothing of its life. Without
// this, a crashed node whose neighbours all dropped it before they
// noticed the crash would be listed alive until a probe found it.
func (e *Engine) ConnectionFailed(now time.Time, p peer.ID, out *Ready) {
	wasActive := e.hv.IsActive(p)
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputConnectionFailed, From: p}, out)
	if e.live != nil {
		e.confirmFailed(p, 0, out) // evidence.go
	}
	if !wasActive && e.probeConnectionFailed(p, out) {
		return // the probe goes on indirectly (probe.go)
	}
	if e.roster != nil && !wasActive && !e.roster.Left() {
		if r, ok := e.roster.Get(p); ok && r.State == roster.StateAlive && !r.Rendezvous().Unreachable {
			if e.probeAfterFailedConnection(hyparview.Peer{ID: p, Addr: r.Addr}, out) {
				return // confirmed through neighbours first (probe.go)
			}
			if e.live != nil && e.live.interval > 0 && e.live.healthScore > 0 {
				e.doubtLoss(p)
				return
			}
			e.stepRoster(now, roster.Input{Kind: roster.InputNeighborDown, Peer: hyparview.Peer{ID: p}, Reason: hyparview.DownFailed}, out)
		}
	}
}

// ConnectionClosed reports that the peer p closed its connection
// deliberately, with a reason: it is alive. A link over the connection
// ends without suspicion (hyparview.InputConnectionClosed), as if p had
// disconnected; a driver whose connection to p failed, or that closed it
// itself, reports ConnectionFailed instead.
func (e *Engine) ConnectionClosed(now time.Time, p peer.ID, out *Ready) {
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputConnectionClosed, From: p}, out)
}

// ContactsResolved hands over the contacts resolved afresh after a
// Ready.ResolveContacts: they replace the ones the node joined through,
// and a node still isolated joins through them at once.
func (e *Engine) ContactsResolved(now time.Time, contacts []hyparview.Peer, out *Ready) {
	e.contacts = append(e.contacts[:0], contacts...)
	if e.hv.ActiveLen() == 0 && (e.roster == nil || !e.roster.Left()) {
		e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputJoin, Contacts: e.contacts}, out)
	}
}

// setTimer asks the driver to set a timer.
func (e *Engine) setTimer(t Timer, after time.Duration, out *Ready) {
	out.Timers = append(out.Timers, TimerSet{Timer: t, After: after})
}

// stepHyParView runs the membership core and routes its neighbour changes
// into the broadcast core and the member list.
func (e *Engine) stepHyParView(now time.Time, in hyparview.Input, out *Ready) {
	// The batch's buffer is detached while in use, so that a nested step
	// could not overwrite it.
	hvOut := e.hv.Step(in, out.hv[:0])
	out.hv = nil
	viewChanged := false
	for i := range hvOut {
		o := &hvOut[i]
		switch o.Kind {
		case hyparview.OutputSend:
			out.Sends = append(out.Sends, Send{To: o.Peer, Msg: o.Msg})
		case hyparview.OutputClose:
			out.Closes = append(out.Closes, o.Peer.ID)
		case hyparview.OutputSetTimer:
			e.setTimer(hyparviewTimer(o.Timer), o.After, out)
		case hyparview.OutputNeighborUp:
			out.Neighbors = append(out.Neighbors, NeighborChange{Peer: o.Peer, Up: true})
			e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputNeighborUp, Peer: o.Peer.ID}, out)
			if e.roster != nil {
				e.membersUp(now, o.Peer, out)
			}
			viewChanged = true
		case hyparview.OutputNeighborDown:
			out.Neighbors = append(out.Neighbors, NeighborChange{Peer: o.Peer, Reason: o.Reason})
			e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputNeighborDown, Peer: o.Peer.ID}, out)
			if o.Reason == hyparview.DownFailed {
				e.lost(now, out)
			}
			if e.roster != nil && !e.checkLostSuspect(o, out) {
				e.stepRoster(now, roster.Input{Kind: roster.InputNeighborDown, Peer: o.Peer, Reason: o.Reason}, out)
			}
			viewChanged = true
		}
		*o = hyparview.Output{}
	}
	out.hv = hvOut[:0]
	if viewChanged && (e.behindNAT || e.reach != nil) {
		// Once every change of the step reached the broadcast core, so
		// that the new record goes to the new neighbours.
		e.chooseRendezvous(now, out)
		if e.reach != nil {
			e.reach.due = true // new neighbours: check again (reach.go)
			e.checkReach(now, out)
		}
	}
}

// stepPlumtree runs the broadcast core and translates its outputs.
func (e *Engine) stepPlumtree(now time.Time, in plumtree.Input, out *Ready) {
	var scratch [scratchOutputs]plumtree.Output
	ptOut, err := e.pt.Step(now, in, scratch[:0])
	if err != nil {
		e.count().StepErrors++
	}
	e.translatePlumtree(now, ptOut, out)
}

// translatePlumtree turns the broadcast core's outputs into the batch's.
// With the member list on, a delivery is unwrapped (members.deliver), which
// may step the cores again (each step has its own scratch buffer).
func (e *Engine) translatePlumtree(now time.Time, ptOut []plumtree.Output, out *Ready) {
	for i := range ptOut {
		o := &ptOut[i]
		switch o.Kind {
		case plumtree.OutputSend:
			out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: o.Peer}, Msg: o.Msg})
		case plumtree.OutputDeliver:
			d := Delivery{ID: o.Delivery.ID, Payload: o.Delivery.Payload, Hops: o.Delivery.Hops, From: o.Delivery.From}
			if e.roster != nil {
				e.deliver(now, d, out)
				continue
			}
			out.Deliveries = append(out.Deliveries, d)
		case plumtree.OutputSetTimer:
			e.setTimer(plumtreeTimer(o.Timer), o.After, out)
		}
	}
}

// lost records that something was lost, a neighbour failed or a member
// was suspected, declared failed or left (a restart comes back for what
// it missed), which is how a partition shows on either side, and holds
// payloads (holdPayloads).
func (e *Engine) lost(now time.Time, out *Ready) {
	e.lostAt = now
	e.holdPayloads(now, out)
}

// holdPayloads tells the broadcast core that a repair may be needed soon:
// something was lost (lost), or, on a rejoin tick within
// missingHoldWindow of that, members listed Suspect or Failed are still
// looked for or the node is cut off (rejoinTick). The core then holds the
// payloads it holds, and those it delivers in the next PayloadRetention,
// for the whole PayloadRetention instead of CalmPayloadRetention, so that
// the repairs when the partition heals (NeighborUpAnnouncements on the
// links that come up) find them (plumtree/doc.go, deviation 16). Without
// a CalmPayloadRetention below PayloadRetention it changes nothing.
// Without the member list only a failed neighbour holds (no rejoin tick
// runs): a node far from the cut sees none.
func (e *Engine) holdPayloads(now time.Time, out *Ready) {
	e.stepPlumtree(now, plumtree.Input{Kind: plumtree.InputHoldPayloads}, out)
}

// missingHoldWindow is how long after the last loss the rejoin tick
// holds payloads while members are missing: ten PayloadRetentions (5
// minutes at the defaults), so that a partition that lasts that long
// still has its last PayloadRetention repaired when it heals, while a
// member that crashed, listed Failed for an hour, keeps payloads held
// only that long.
func (e *Engine) missingHoldWindow() time.Duration {
	return 10 * e.pt.Config().PayloadRetention
}
