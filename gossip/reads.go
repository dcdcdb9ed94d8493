package gossip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Self returns this node's identity and address.
func (e *Engine) Self() hyparview.Peer { return e.hv.Self() }

// AppendActive appends HyParView's active view, the node's neighbours, to
// dst.
func (e *Engine) AppendActive(dst []hyparview.Peer) []hyparview.Peer { return e.hv.AppendActive(dst) }

// Passive returns HyParView's passive view.
func (e *Engine) Passive() []hyparview.Peer { return e.hv.Passive() }

// AwaitsNeighborReply reports whether HyParView still waits for the
// answer to the request named nonce that it sent to p
// (hyparview.State.AwaitsReply): a request it gave up on (a timeout, a
// failed connection, a crossed request accepted) is not to be sent again.
func (e *Engine) AwaitsNeighborReply(p peer.ID, nonce uint64) bool { return e.hv.AwaitsReply(p, nonce) }

// ViewSizes returns the sizes of HyParView's active and passive views,
// without copying them: what a driver samples as gauges.
func (e *Engine) ViewSizes() (active, passive int) { return e.hv.ActiveLen(), e.hv.PassiveLen() }

// PlumtreeSizes returns how much Plumtree holds now
// (plumtree.State.Sizes): the payloads retained for repairs and their
// bytes, the IDs announced but not received, the announcements queued.
func (e *Engine) PlumtreeSizes() plumtree.Sizes { return e.pt.Sizes() }

// PushPeers returns Plumtree's eager and lazy push peers (S2 §3.3).
func (e *Engine) PushPeers() (eager, lazy []peer.ID) { return e.pt.EagerPeers(), e.pt.LazyPeers() }

// Footprint names, by typed pointers, the memory that receiving msg is
// likely to miss in the processor's caches: for a Plumtree payload not seen
// lately, the ID's home slot in the seen-ID table, the history's next item
// and next held payload, and the eager peers
// (plumtree.State.PayloadFootprint); all nil otherwise. It reads a few
// fields and changes nothing. A driver that steps many engines in turn (the
// simulator) may prefetch these a few events ahead; the pointers are hints,
// stale after the next input, and must be neither read nor written
// through.
func (e *Engine) Footprint(msg Message) plumtree.Footprint {
	if g, ok := msg.(*plumtree.Gossip); ok {
		return e.pt.PayloadFootprint(g.ID)
	}
	return plumtree.Footprint{}
}

// MembershipState names, without reading it, the membership core's state
// within the engine: what a HyParView message or timer reads first (the
// engine's two pointers such a message checks share its first line).
// MembershipFootprint names what that state points at. Like Footprint, both are hints for a driver that
// prefetches a few events ahead; the pointers must be neither read nor
// written through, and a driver that prefetches from them must not depend
// on where the engine's fields lie.
func (e *Engine) MembershipState() *hyparview.State { return &e.hv }

// MembershipFootprint names, by typed pointers, the memory beyond the
// membership core's state that a HyParView message or timer is likely to
// miss in the processor's caches: the active view, the ends of the passive
// view and the random source (hyparview.State.Footprint). It reads the
// state's slice headers, so a driver asks for it once the state's lines
// (MembershipState) are on their way; it changes nothing.
func (e *Engine) MembershipFootprint() (active, passiveFirst, passiveLast *hyparview.Peer, rng *rand.Rand) {
	return e.hv.Footprint()
}

// NextSequence returns the sequence number of this node's next broadcast
// (plumtree.State.NextSequence): every message ID it named so far has a
// lower one. A driver persists it so that a restarted node starts above.
func (e *Engine) NextSequence() uint64 { return e.pt.NextSequence() }

// Incarnation returns the incarnation of this node's own member record,
// zero without the member list. A driver persists it so that a restarted
// node starts above.
func (e *Engine) Incarnation() uint64 {
	if e.roster == nil {
		return 0
	}
	r, _ := e.roster.Get(e.hv.Self().ID)
	return r.Incarnation
}

// Members returns the member list sorted by ID, nil without it.
func (e *Engine) Members() []roster.Record {
	if e.roster == nil {
		return nil
	}
	return e.shownRecords(e.roster.Members())
}

// MembersAfter appends to dst a page of the member list: the records with
// an ID above after, sorted by ID, at most limit (all if limit <= 0).
func (e *Engine) MembersAfter(dst []roster.Record, after peer.ID, limit int) []roster.Record {
	if e.roster == nil {
		return dst
	}
	n := len(dst)
	dst = e.roster.AppendMembersAfter(dst, after, limit)
	e.shownRecords(dst[n:])
	return dst
}

// Member returns the record of member id, if the member list holds it.
func (e *Engine) Member(id peer.ID) (roster.Record, bool) {
	if e.roster == nil {
		return roster.Record{}, false
	}
	r, ok := e.roster.Get(id)
	e.shownRecord(&r)
	return r, ok
}

// MemberCounts counts the member list's records by state; zero without
// it.
func (e *Engine) MemberCounts() roster.Counts {
	if e.roster == nil {
		return roster.Counts{}
	}
	c := e.roster.Counts()
	if e.live != nil {
		for id := range e.live.withheld {
			switch r, _ := e.roster.Get(id); r.State {
			case roster.StateSuspect:
				c.Suspect--
				c.Alive++
			case roster.StateFailed:
				c.Failed--
				c.Alive++
			}
		}
	}
	return c
}

// Counters are what each layer of an engine counted.
type Counters struct {
	HyParView hyparview.Counters
	Plumtree  plumtree.Counters
	Roster    roster.Counters // zero without the member list
	Engine    EngineCounters
}

// EngineCounters counts what the composition itself dropped or did.
type EngineCounters struct {
	// UnknownMessages counts received messages of no layer of the engine
	// (a Digest or Records without the member list).
	UnknownMessages uint64
	// UnknownTimers counts timers handed back that no layer set (the zero
	// Timer).
	UnknownTimers uint64
	// MalformedPayloads counts delivered broadcasts that were not a valid
	// Envelope (member list only).
	MalformedPayloads uint64
	// MemberSyncs counts the periodic anti-entropy exchanges started
	// (member list only).
	MemberSyncs uint64
	// ForgedOrigins counts application payloads dropped before delivery
	// and relay because their origin's signature was missing or invalid
	// (MembersConfig.Auth).
	ForgedOrigins uint64
	// ForgedRecords counts member records whose proof did not verify
	// (roster.VerifyRecord): a broadcast of records dropped before
	// delivery and relay, or a record of an anti-entropy exchange that the
	// roster dropped (MembersConfig.Auth).
	ForgedRecords uint64
	// SignaturesRemembered counts signature checks answered from the
	// signatures that verified before (verified.go), alone or in a batch
	// (batch.go), without a curve operation.
	SignaturesRemembered uint64
	// SignatureBatches counts the batches of signatures checked together
	// (origins', PrepareBatch; member records', batch.go),
	// SignatureBatchesFailed those that failed (one signature at least
	// was bad: each was then checked alone), and SignaturesBatched the
	// signatures in the batches that passed.
	SignatureBatches, SignatureBatchesFailed, SignaturesBatched uint64
	// OverBudget counts, per Budget, the requests dropped because their
	// peer had spent that budget for the period (Config.Budgets).
	OverBudget [budgetCount]uint64
	// BannedDrops counts the messages dropped because their peer was
	// banned after an eviction.
	BannedDrops uint64
	// Evictions counts the peers evicted for going over their budgets.
	Evictions uint64
	// Probes counts the members this node probed (probe.go);
	// ProbesAnswered those that answered, directly or through a
	// neighbour; ProbesFailed those that answered neither and were
	// suspected if listed alive; IndirectProbes the PingReqs sent.
	Probes, ProbesAnswered, ProbesFailed, IndirectProbes uint64
	// ProbeRelaysRefused counts PingReqs not carried out: an unknown
	// target, or too many relays at once. StaleAcks counts Acks of no
	// probe in progress.
	ProbeRelaysRefused, StaleAcks uint64
	// NacksSent counts the nacks this node sent as a relay whose target
	// stayed silent; NacksReceived those it received from its relays
	// (nack.go).
	NacksSent, NacksReceived uint64
	// LossesDoubted counts the losses of members listed alive that this
	// node, unhealthy, did not suspect: failed connections while a probe
	// was in progress (probe.go's checkLostSuspect), and failed probes
	// that not every relay nacked (nack.go).
	LossesDoubted uint64
	// SuspicionsTold counts the declarations sent directly to the member
	// they name, which answered us, so that it refutes at once.
	SuspicionsTold uint64
	// EventsWithheld counts the suspicions and failures learned from
	// others not shown to the application on evidence of life
	// (evidence.go); WithheldRefuted those the member refuted meanwhile;
	// WithheldShown those shown after all.
	EventsWithheld, WithheldRefuted, WithheldShown uint64
	// ConfirmsOutweighed counts the confirming pings unanswered (or whose
	// connection failed) while the member showed a sign of life since
	// its event was withheld: the event kept waiting.
	ConfirmsOutweighed uint64
	// HealthRaised counts the rises of the local health score: probe
	// ticks that fired late, reports of a lagging host (NoteHostLag),
	// refutations of suspicions of this node, failed probes with nacks
	// missing (health.go, nack.go).
	HealthRaised uint64
	// GapsReported counts the gap notices reported (Ready.Gaps), and
	// MessagesReportedMissed the broadcasts they cover (Config.Gaps).
	GapsReported, MessagesReportedMissed uint64
	// GapsReportedEarly counts the gap notices reported before their grace
	// ran out, because a bound of the detector was reached (GapsConfig).
	GapsReportedEarly uint64
	// GapResets counts the jumps over GapsConfig.MaxJump within a run,
	// taken for a new run of their origin without a gap notice.
	GapResets uint64
	// RedeliveriesSuppressed counts the broadcasts not delivered because
	// an earlier run of this node delivered them (RestoreDeliveryMarks).
	RedeliveriesSuppressed uint64
	// GapOriginsEvicted counts the origins the detector stopped following
	// for GapsConfig.MaxOrigins.
	GapOriginsEvicted uint64
	// HeadHoles counts the holes opened by an origin's head learned from a
	// neighbour (heads.go): broadcasts missed that no later one showed.
	HeadHoles uint64
	// ForgedHeads counts the heads whose origin signature did not verify.
	ForgedHeads uint64
	// ViewsAsked counts the ViewsRequests this node sent (overlay.go);
	// ViewsUnanswered those that timed out. ViewsAnswered counts the
	// requests it answered, ViewsRefused those it did not (the asker is
	// not a present member, or this node left), StaleViews the replies of
	// no request in flight.
	ViewsAsked, ViewsUnanswered, ViewsAnswered, ViewsRefused, StaleViews uint64
	// IslandMarksMissed counts the marks of members' Pings that named a
	// broadcast this node should have held and did not (islands.go);
	// IslandContacts the links it asked for on them.
	IslandMarksMissed, IslandContacts uint64
	// SignalsSent counts the Signals this node sent (SendSignal);
	// SignalsReceived those for it handed to the driver; SignalsRelayed
	// those it relayed as a member's rendezvous; SignalsRefused, by
	// SignalRefusal, those it neither took nor relayed (signal.go).
	SignalsSent, SignalsReceived, SignalsRelayed uint64
	SignalsRefused                               [signalRefusalCount]uint64
	// RendezvousChanges counts the changes of this node's rendezvous
	// (MembersConfig.BehindNAT); RendezvousAsked the links it asked of a
	// member that can be dialled while it had none to choose.
	RendezvousChanges, RendezvousAsked uint64
	// ReachAsked counts the reachability checks this node began
	// (reach.go); ReachResults, by ReachResult, their answers;
	// ReachUnanswered those that got none in time; StaleReachAnswers the
	// answers of no check in flight. ReachDialBacks counts the dials back
	// this node was asked for and handed to its driver, ReachRefused the
	// requests it refused.
	ReachAsked, ReachUnanswered, StaleReachAnswers uint64
	// ReachInconclusive counts the checks a neighbour on this node's own
	// private network answered by dialling it back, which decides
	// nothing (sameNetworkOnly).
	ReachInconclusive            uint64
	ReachResults                 [reachResultCount]uint64
	ReachDialBacks, ReachRefused uint64
	// StepErrors counts inputs that the engine derived and a core refused;
	// each is a bug, and Invariants reports it.
	StepErrors uint64
}

// Counters returns every layer's counters.
func (e *Engine) Counters() Counters {
	c := Counters{HyParView: e.hv.Counters(), Plumtree: e.pt.Counters()}
	if e.counters != nil {
		c.Engine = *e.counters
	}
	if g := e.gaps; g != nil {
		c.Engine.GapsReported, c.Engine.MessagesReportedMissed = g.c.reported, g.c.missed
		c.Engine.GapsReportedEarly, c.Engine.GapResets, c.Engine.GapOriginsEvicted = g.c.early, g.c.resets, g.c.evicted
		c.Engine.HeadHoles = g.c.headHoles
	}
	if e.roster != nil {
		c.Roster = e.roster.Counters()
	}
	return c
}

// Invariants checks every layer, and that Plumtree's neighbours are
// exactly HyParView's active view. Tests and the simulator call it after
// every step.
func (e *Engine) Invariants() error {
	if err := e.hv.Invariants(); err != nil {
		return err
	}
	if err := e.pt.Invariants(); err != nil {
		return err
	}
	if e.roster != nil {
		if err := e.roster.Invariants(); err != nil {
			return err
		}
	}
	if e.live != nil {
		if err := e.live.nackInvariants(); err != nil {
			return err
		}
	}
	if c := e.counters; c != nil && c.StepErrors > 0 { // read without allocating them
		return fmt.Errorf("gossip: a core refused %d inputs the engine derived", c.StepErrors)
	}
	eager, lazy := e.pt.EagerPeers(), e.pt.LazyPeers()
	if len(eager)+len(lazy) != e.hv.ActiveLen() {
		return fmt.Errorf("gossip: %d active neighbours but %d eager + %d lazy peers", e.hv.ActiveLen(), len(eager), len(lazy))
	}
	for i := range e.hv.ActiveLen() {
		if id := e.hv.ActiveAt(i).ID; !slices.Contains(eager, id) && !slices.Contains(lazy, id) {
			return fmt.Errorf("gossip: active neighbour %d is neither eager nor lazy", id)
		}
	}
	return nil
}

// Clone returns an independent copy of the engine that draws its random
// choices from rng: stepping either copy never affects the other. A
// simulator clones a stabilised overlay to run several experiments from it
// without building it again.
func (e *Engine) Clone(rng *rand.Rand) (*Engine, error) {
	if rng == nil {
		return nil, errors.New("gossip: nil random source")
	}
	c := &Engine{hv: *e.hv.Clone(rng), pt: *e.pt.Clone(),
		contacts: slices.Clone(e.contacts), gaps: e.gaps.clone(), run: e.run, views: e.views.clone(), viewsAt: e.viewsAt}
	if e.counters != nil {
		counts := *e.counters
		c.counters = &counts
	}
	if e.roster != nil {
		c.members = e.members
		// What the engine remembers of signatures, and a batch's state,
		// are its own.
		c.prepared = newPreparedSigs(e.originAuth)
		if e.checked != nil {
			c.checked = &decodedEnvelope{}
		}
		c.roster, c.rng = e.roster.Clone(), rng
		if e.verified != nil {
			c.verified = e.verified.clone(&c.count().SignaturesRemembered)
			c.auth = c.verified
			c.roster.UseAuth(c.auth)
		}
		c.live = e.live.clone()
	}
	if e.budgets != nil {
		c.budgets = e.budgets.clone()
	}
	return c, nil
}
