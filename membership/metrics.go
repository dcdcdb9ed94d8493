package membership

import (
	"time"

	metrics "github.com/hashicorp/go-metrics"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/roster"
)

// MetricKind is what kind of metric a MetricDef describes.
type MetricKind uint8

// The kinds of metric.
const (
	// MetricCounter only goes up (go-metrics IncrCounter); its name ends
	// in _total.
	MetricCounter MetricKind = iota + 1
	// MetricGauge is sampled from the engine's read methods on the node's
	// own goroutine every Config.MetricsInterval (go-metrics SetGauge).
	MetricGauge
	// MetricHistogram gets one observation per event (go-metrics
	// AddSample); Buckets suggests the upper bounds of a histogram.
	MetricHistogram
)

func (k MetricKind) String() string {
	switch k {
	case MetricCounter:
		return "counter"
	case MetricGauge:
		return "gauge"
	case MetricHistogram:
		return "histogram"
	}
	return "unknown"
}

// MetricDef describes one series the node emits through Config.Metrics.
// The go-metrics key is []string{Name}, so that a Prometheus sink with
// the service name "plumview" exports plumview_<Name>. A driver declares
// these up front (MetricDefs), so that every counter is exported at 0 from
// the start and none expires while it does not move (gossipd's /metrics).
type MetricDef struct {
	Name   string // Prometheus style, without the service name
	Kind   MetricKind
	Help   string
	Labels []metrics.Label // this series' constant labels, if any
	// Buckets are the suggested upper bounds of a histogram's buckets.
	Buckets []float64
}

// DefaultMetricsInterval is how often a node samples its gauges
// (Config.MetricsInterval).
const DefaultMetricsInterval = time.Second

// Names of the metrics the node emits itself (the engine's counters are in
// engineCounters).
const (
	mDelivered      = "messages_delivered_total"
	mFrozen         = "messages_frozen_total"
	mGaps           = "gaps_reported_total"
	mMissed         = "messages_missed_total"
	mEvents         = "member_events_total"
	mNeighborsUp    = "hyparview_neighbors_up_total"
	mNeighborsDown  = "hyparview_neighbors_down_total"
	mEvicted        = "peers_evicted_total"
	mConnsOpened    = "conns_opened_total"
	mConnsFailed    = "conns_failed_total"
	mConnsDuplicate = "conns_duplicate_total"
	mConnsClosed    = "conns_closed_by_peer_total"
	mConnsTakenOver = "conns_taken_over_total"
	mDialsFailed    = "dials_failed_total"
	mTimersHeld     = "request_timers_held_total"
	mDialsBadAddr   = "dials_bad_address_total"
	mMalformed      = "frames_malformed_total"
	mUnknown        = "frames_unknown_total"
	mQueueFull      = "frames_queue_full_total"
	mUnencodable    = "frames_unencodable_total"
	mDropped        = "frames_dropped_total"
	// Datagrams (datagrams.go).
	mDatagramsSent             = "datagrams_sent_total"
	mDatagramsReceived         = "datagrams_received_total"
	mDatagramsRefused          = "datagrams_refused_total"
	mDatagramsFallbacks        = "datagrams_fallbacks_total"
	mDatagramsFallbacksSkipped = "datagrams_fallbacks_skipped_total"
	mDatagramsResent           = "datagrams_resent_total"
	mSignalsIn                 = "ice_signals_received_total"
	mSignalsDropped            = "ice_signals_dropped_total"
	mICE                       = "ice_negotiations_total"
	mRelayBudget               = "ice_relay_budget_refused_total"
	mICEUpgrades               = "ice_upgrades_total"
	mDialBacks                 = "reach_dialbacks_total"
	mDialBacksIn               = "reach_dialbacks_received_total"

	mActive       = "hyparview_active_peers"
	mPassive      = "hyparview_passive_peers"
	mEager        = "plumtree_eager_peers"
	mLazy         = "plumtree_lazy_peers"
	mMembers      = "members"
	mRetained     = "plumtree_retained_payloads"
	mRetainedB    = "plumtree_retained_payload_bytes"
	mMissing      = "plumtree_missing_ids"
	mQueueSum     = "send_queue_frames"
	mQueueMax     = "send_queue_frames_max"
	mConnections  = "connections"
	mHops         = "delivery_hops"
	mDeliveryWait = "delivery_wait_seconds"
	mLatency      = "delivery_latency_seconds"
)

// Label values of frames_dropped_total, connections and members.
const (
	dropDialling     = "dialling"
	dropNoConnection = "no_connection"
	dropClosed       = "closed"
	// dropNoLink: a DISCONNECT to a peer no connection is open to, which
	// therefore holds no link to undo.
	dropNoLink = "no_link"
	// dropOldProtocol: a message a peer of an earlier protocol version
	// could not decode, not sent to it (gossip.NeedsProtocol).
	dropOldProtocol = "old_protocol"
)

var memberStates = []roster.State{roster.StateAlive, roster.StateSuspect, roster.StateFailed, roster.StateLeft}

// engineCounters are the engine's counters (gossip.Counters) the node
// exports: sampled with the gauges, each moved by what it rose since the
// last sample.
var engineCounters = []struct {
	name, help string
	get        func(*gossip.Counters) uint64
}{
	{"broadcasts_total", "Plumtree broadcasts this agent originated: application messages and its own member-record updates", func(c *gossip.Counters) uint64 { return c.Plumtree.Broadcasts }},
	{"plumtree_payloads_sent_total", "Plumtree GOSSIP messages (payloads) sent", func(c *gossip.Counters) uint64 { return c.Plumtree.PayloadSent }},
	{"plumtree_payloads_received_total", "Plumtree GOSSIP messages (payloads) received", func(c *gossip.Counters) uint64 { return c.Plumtree.PayloadReceived }},
	{"plumtree_duplicates_total", "payloads received for a message already delivered (each prunes a redundant eager link)", func(c *gossip.Counters) uint64 { return c.Plumtree.Duplicates }},
	{"plumtree_ihaves_sent_total", "IHAVE messages (lazy announcements) sent", func(c *gossip.Counters) uint64 { return c.Plumtree.IHaveSent }},
	{"plumtree_grafts_sent_total", "GRAFTs sent: repairs of a message announced but not received in time", func(c *gossip.Counters) uint64 { return c.Plumtree.GraftSent }},
	{"plumtree_grafts_served_total", "GRAFTs answered with the payload", func(c *gossip.Counters) uint64 { return c.Plumtree.GraftsServed }},
	{"plumtree_grafts_missed_total", "GRAFTs for a payload no longer retained", func(c *gossip.Counters) uint64 { return c.Plumtree.GraftsMissed }},
	{"plumtree_prunes_sent_total", "PRUNEs sent: eager links turned lazy", func(c *gossip.Counters) uint64 { return c.Plumtree.PruneSent }},
	{"plumtree_payloads_evicted_total", "retained payloads dropped for the retention caps (bytes, count)", func(c *gossip.Counters) uint64 { return c.Plumtree.PayloadsEvicted }},
	{"plumtree_payload_holds_total", "times payloads were held for the whole retention instead of the calm one: a failed neighbour, a member suspected, failed or leaving, a partition-healing tick while members are missing", func(c *gossip.Counters) uint64 { return c.Plumtree.PayloadHolds }},
	{"gaps_from_heads_total", "gaps that an origin's signed head showed rather than a later broadcast of its own", func(c *gossip.Counters) uint64 { return c.Engine.HeadHoles }},
	{"hyparview_request_timeouts_total", "HyParView Neighbor and Join requests left unanswered within their wait (each cancelled, another peer asked)", func(c *gossip.Counters) uint64 {
		return c.HyParView.NeighborRequestsTimedOut + c.HyParView.JoinTimeouts
	}},
	{"hyparview_request_backoffs_total", "rounds of unanswered HyParView requests that doubled the next requests' waits (up to 16 times)", func(c *gossip.Counters) uint64 { return c.HyParView.RequestBackoffs }},
	{"liveness_probes_total", "members this agent probed", func(c *gossip.Counters) uint64 { return c.Engine.Probes }},
	{"liveness_probes_failed_total", "probes answered neither directly nor through a neighbour", func(c *gossip.Counters) uint64 { return c.Engine.ProbesFailed }},
	{"liveness_indirect_probes_total", "indirect probes (PingReq) sent", func(c *gossip.Counters) uint64 { return c.Engine.IndirectProbes }},
	{"liveness_island_marks_missed_total", "pings naming a broadcast this agent should have held and did not: cut off from the pinger's broadcasts", func(c *gossip.Counters) uint64 { return c.Engine.IslandMarksMissed }},
	{"liveness_island_contacts_total", "links asked of a pinger whose broadcasts this agent was cut off from", func(c *gossip.Counters) uint64 { return c.Engine.IslandContacts }},
	{"liveness_suspicions_raised_total", "members this agent suspected", func(c *gossip.Counters) uint64 { return c.Roster.SuspicionsRaised }},
	{"liveness_failures_declared_total", "suspicions this agent ended by declaring the member failed", func(c *gossip.Counters) uint64 { return c.Roster.FailuresDeclared }},
	{"liveness_refutations_total", "suspicions of this agent it refuted", func(c *gossip.Counters) uint64 { return c.Roster.Refutations }},
	{"liveness_confirmations_total", "independent confirmations counted for suspicions held", func(c *gossip.Counters) uint64 { return c.Roster.Confirmations }},
	{"liveness_health_raised_total", "rises of this agent's local health score: signs that it is stalled (late ticks, a lagging host, refutations of itself, failed probes no relay nacked)", func(c *gossip.Counters) uint64 { return c.Engine.HealthRaised }},
	{"liveness_nacks_sent_total", "nacks this agent sent as a relay of an indirect probe whose target stayed silent", func(c *gossip.Counters) uint64 { return c.Engine.NacksSent }},
	{"liveness_nacks_received_total", "nacks this agent received from the relays of its own indirect probes", func(c *gossip.Counters) uint64 { return c.Engine.NacksReceived }},
	{"liveness_losses_doubted_total", "losses of members listed alive this agent did not suspect, being unhealthy: failed connections while a probe was in progress, failed probes that not every relay nacked", func(c *gossip.Counters) uint64 { return c.Engine.LossesDoubted }},
	{"forged_origins_total", "broadcasts dropped because their origin signature did not verify", func(c *gossip.Counters) uint64 { return c.Engine.ForgedOrigins }},
	{"forged_records_total", "member records dropped because their proof did not verify", func(c *gossip.Counters) uint64 { return c.Engine.ForgedRecords }},
	{"signatures_remembered_total", "signature checks answered from signatures verified before, alone or in a batch, without a curve operation", func(c *gossip.Counters) uint64 { return c.Engine.SignaturesRemembered }},
	{"signature_batches_total", "batches of origin and record signatures checked together", func(c *gossip.Counters) uint64 { return c.Engine.SignatureBatches }},
	{"signature_batches_failed_total", "batches of signatures that failed (each signature then checked alone)", func(c *gossip.Counters) uint64 { return c.Engine.SignatureBatchesFailed }},
	{"signatures_batched_total", "signatures in the batches that passed", func(c *gossip.Counters) uint64 { return c.Engine.SignaturesBatched }},
	{"ice_signals_sent_total", "ICE signals this agent sent through the overlay", func(c *gossip.Counters) uint64 { return c.Engine.SignalsSent }},
	{"ice_signals_relayed_total", "ICE signals this agent relayed as a member's rendezvous", func(c *gossip.Counters) uint64 { return c.Engine.SignalsRelayed }},
	{"ice_signals_refused_total", "ICE signals neither taken nor relayed: not this agent's to relay, no link, spoofed, over budget", func(c *gossip.Counters) uint64 {
		var s uint64
		for _, v := range c.Engine.SignalsRefused {
			s += v
		}
		return s
	}},
	{"rendezvous_changes_total", "changes of this agent's rendezvous (BehindNAT)", func(c *gossip.Counters) uint64 { return c.Engine.RendezvousChanges }},
	{"reach_checks_total", "reachability checks this agent began: a neighbour asked to dial it back (CheckReachability)", func(c *gossip.Counters) uint64 { return c.Engine.ReachAsked }},
	{"reach_checks_reachable_total", "reachability checks answered: dialled back", func(c *gossip.Counters) uint64 { return c.Engine.ReachResults[gossip.ReachDialled] }},
	{"reach_checks_unreachable_total", "reachability checks answered: the dial back failed", func(c *gossip.Counters) uint64 { return c.Engine.ReachResults[gossip.ReachFailed] }},
	{"reach_checks_refused_total", "reachability checks the neighbour refused, deciding nothing", func(c *gossip.Counters) uint64 { return c.Engine.ReachResults[gossip.ReachRefused] }},
	{"reach_checks_inconclusive_total", "reachability checks a neighbour on this agent's own private network answered by dialling it back, which decides nothing", func(c *gossip.Counters) uint64 { return c.Engine.ReachInconclusive }},
	{"reach_checks_unanswered_total", "reachability checks without an answer in time, deciding nothing", func(c *gossip.Counters) uint64 { return c.Engine.ReachUnanswered }},
	{"reach_requests_refused_total", "neighbours' requests to be dialled back refused: not an active neighbour with a signed record", func(c *gossip.Counters) uint64 { return c.Engine.ReachRefused }},
	{"rendezvous_asked_total", "links asked of a member that can be dialled while this agent had no rendezvous to name (BehindNAT)", func(c *gossip.Counters) uint64 { return c.Engine.RendezvousAsked }},
}

// Bucket bounds of the histograms.
var (
	hopBuckets  = []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32}
	waitBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	// latencyBuckets span a LAN's milliseconds to a repair after a
	// partition.
	latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// MetricDefs returns every series the node emits, in a fixed order:
// counters, then gauges, then histograms.
func MetricDefs() []MetricDef {
	var ds []MetricDef
	c := func(name, help string, labels ...metrics.Label) {
		ds = append(ds, MetricDef{Name: name, Kind: MetricCounter, Help: help, Labels: labels})
	}
	c(mDelivered, "broadcasts delivered to this agent's subscribers, once each")
	c(mFrozen, "deliveries withheld after FreezeDeliveries (a restart in progress)")
	c(mGaps, "gap notices: broadcasts missed for good")
	c(mMissed, "broadcasts the gap notices cover")
	for _, k := range []EventKind{EventJoin, EventUpdate, EventSuspect, EventFail, EventLeave} {
		c(mEvents, "membership events seen by this agent, by kind", metrics.Label{Name: "kind", Value: k.String()})
	}
	c(mNeighborsUp, "HyParView active-view additions")
	c(mNeighborsDown, "HyParView active-view removals")
	c(mEvicted, "peers evicted for going over their budgets")
	c(mConnsOpened, "connections opened, either way")
	c(mConnsFailed, "connections lost: a failure or an idle timeout")
	c(mConnsDuplicate, "connections retired because both ends dialled at once")
	c(mConnsClosed, "connections the peer closed deliberately")
	c(mConnsTakenOver, "connections the peer dialled, set aside for another, that took over when the peer closed that one")
	c(mDialsFailed, "dials that failed")
	c(mTimersHeld, "NEIGHBOR and JOIN timeouts that fell due while the connection to the peer asked was still being set up, set again from when it came up")
	c(mDialsBadAddr, "peer addresses that were not a pinned key@host:port")
	c(mMalformed, "frames that did not decode (the connection is closed)")
	c(mUnknown, "frames of a message this agent does not know, from an agent of a later version (skipped; the connection stays)")
	c(mQueueFull, "frames refused because a peer's send queue was full (the connection is dropped)")
	c(mUnencodable, "messages the codec refused to encode (a bug if it moves)")
	c(mDatagramsSent, "probes and answers sent as datagrams, without a connection")
	c(mDatagramsReceived, "probes and answers received as datagrams")
	c(mDatagramsRefused, "datagrams that carried something else than a probe or an answer, or did not decode")
	c(mDatagramsFallbacks, "datagrams to a member not known to read them, unanswered and sent again over a connection")
	c(mDatagramsResent, "datagrams to a member known to read them, unanswered and sent once more as a datagram before any connection")
	c(mDatagramsFallbacksSkipped, "such datagrams not sent again, for want of a connection open and with one opened for another less than 5 s ago")
	for _, r := range []string{dropDialling, dropNoConnection, dropClosed, dropOldProtocol, dropNoLink} {
		c(mDropped, "frames dropped for want of a connection, or not sent to an agent of an earlier protocol version, by reason", metrics.Label{Name: "reason", Value: r})
	}
	c(mSignalsIn, "ICE signals handed to a negotiation through the overlay (ConnectICE, AcceptICE)")
	for _, r := range []string{"unexpected", "buffer_full"} {
		c(mSignalsDropped, "ICE signals dropped: of no negotiation and none could start, or over a negotiation's buffer", metrics.Label{Name: "reason", Value: r})
	}
	for _, o := range []string{"failed", "host", "srflx", "relay"} {
		c(mICE, "ICE negotiations through the overlay, by outcome: failed or the selected path's kind", metrics.Label{Name: "outcome", Value: o})
	}
	c(mRelayBudget, "ICE links closed because they ended on a relayed path with the relay budget spent (Config.ICE.MaxRelayed)")
	for _, o := range []string{"direct", "relay", "failed"} {
		c(mICEUpgrades, "relayed ICE links this agent began tried again for a direct path, by outcome: the new link's path (direct: host or srflx), or failed (the relayed link stays)", metrics.Label{Name: "outcome", Value: o})
	}
	for _, o := range []string{"dialled", "failed", "busy"} {
		c(mDialBacks, "dials back made for neighbours checking their reachability, by outcome (busy: refused, too many in progress)", metrics.Label{Name: "outcome", Value: o})
	}
	c(mDialBacksIn, "connections of a neighbour dialling this agent back, set aside")
	for _, ec := range engineCounters {
		c(ec.name, ec.help)
	}
	g := func(name, help string, labels ...metrics.Label) {
		ds = append(ds, MetricDef{Name: name, Kind: MetricGauge, Help: help, Labels: labels})
	}
	g(mActive, "HyParView active view size: this agent's neighbours")
	g(mPassive, "HyParView passive view size: its backups")
	g(mEager, "Plumtree eager push peers: the broadcast tree's links")
	g(mLazy, "Plumtree lazy push peers: links that carry announcements")
	for _, st := range memberStates {
		g(mMembers, "members in this agent's list, by state", metrics.Label{Name: "state", Value: st.String()})
	}
	g(mRetained, "payloads retained to answer GRAFTs")
	g(mRetainedB, "bytes of the payloads retained")
	g(mMissing, "message IDs announced but not yet received")
	g(mQueueSum, "frames queued for sending, summed over the open connections")
	g(mQueueMax, "frames queued for sending on the fullest connection")
	for _, st := range []string{"open", dropDialling} {
		g(mConnections, "connections to peers, by state", metrics.Label{Name: "state", Value: st})
	}
	ds = append(ds,
		MetricDef{Name: mHops, Kind: MetricHistogram, Buckets: hopBuckets,
			Help: "hops from the origin of each broadcast delivered here from another agent"},
		MetricDef{Name: mDeliveryWait, Kind: MetricHistogram, Buckets: waitBuckets,
			Help: "seconds from the runtime taking a broadcast's frame from its connection to the hand-out to subscribers, here"},
		MetricDef{Name: mLatency, Kind: MetricHistogram, Buckets: latencyBuckets,
			Help: "seconds from the origin's broadcast to its delivery here, by the two agents' clocks (their skew included; negative counted as 0)"})
	return ds
}

// announceCounters moves every counter by 0, so that a sink that creates
// series when they first move lists them all at once.
func (n *Node) announceCounters() {
	if n.metrics == nil {
		return
	}
	for _, d := range MetricDefs() {
		if d.Kind == MetricCounter {
			n.metrics.IncrCounterWithLabels([]string{d.Name}, 0, d.Labels)
		}
	}
}

// The emitters below do nothing without Config.Metrics: a node nobody
// reads the metrics of pays neither the sink's work nor its allocations
// (a delivery emitted four series; docs/benchmarks.md, "CPU: no metrics
// unless asked for").

func (n *Node) incr(name string, v float32) {
	if n.metrics != nil {
		n.metrics.IncrCounter([]string{name}, v)
	}
}

func (n *Node) incrLabel(name, label, value string) {
	if n.metrics == nil {
		return
	}
	n.metrics.IncrCounterWithLabels([]string{name}, 1, []metrics.Label{{Name: label, Value: value}})
}

func (n *Node) gauge(name string, v int) {
	if n.metrics != nil {
		n.metrics.SetGauge([]string{name}, float32(v))
	}
}

func (n *Node) gaugeLabel(name, label, value string, v int) {
	if n.metrics == nil {
		return
	}
	n.metrics.SetGaugeWithLabels([]string{name}, float32(v), []metrics.Label{{Name: label, Value: value}})
}

// sampleMetrics sets the gauges from the engine's read methods and moves
// the engine's counters by what they rose. It runs on the state
// goroutine, the only one that touches the engine. Without a sink it
// reads nothing.
func (n *Node) sampleMetrics() {
	if n.metrics == nil {
		return
	}
	s := n.st
	e := s.eng
	active, passive := e.ViewSizes()
	n.gauge(mActive, active)
	n.gauge(mPassive, passive)
	eager, lazy := e.PushPeers()
	n.gauge(mEager, len(eager))
	n.gauge(mLazy, len(lazy))
	mc := e.MemberCounts()
	for _, st := range memberStates {
		v := 0
		switch st {
		case roster.StateAlive:
			v = mc.Alive
		case roster.StateSuspect:
			v = mc.Suspect
		case roster.StateFailed:
			v = mc.Failed
		case roster.StateLeft:
			v = mc.Left
		}
		n.gaugeLabel(mMembers, "state", st.String(), v)
	}
	sz := e.PlumtreeSizes()
	n.gauge(mRetained, sz.CachedPayloads)
	n.gauge(mRetainedB, sz.CachedBytes)
	n.gauge(mMissing, sz.MissingIDs)
	sum, most := 0, 0
	for _, pc := range s.conns {
		q := pc.conn.Queued()
		sum += q
		most = max(most, q)
	}
	n.gauge(mQueueSum, sum)
	n.gauge(mQueueMax, most)
	n.gaugeLabel(mConnections, "state", "open", len(s.conns))
	n.gaugeLabel(mConnections, "state", dropDialling, len(s.dials))

	c := e.Counters()
	if s.engineSeen == nil {
		s.engineSeen = make([]uint64, len(engineCounters))
	}
	for i, ec := range engineCounters {
		if v := ec.get(&c); v > s.engineSeen[i] {
			n.incr(ec.name, float32(v-s.engineSeen[i]))
			s.engineSeen[i] = v
		}
	}
}

// observeDelivery samples the histograms for a broadcast delivered here
// from another agent: its hops, how long since its origin broadcast it
// (when the origin said, gossip.Delivery.SentAt), and how long since its
// frame came off the connection (when a received frame caused the
// delivery).
func (n *Node) observeDelivery(hops uint32, sentAt time.Time) {
	if n.metrics == nil {
		return
	}
	n.metrics.AddSample([]string{mHops}, float32(hops))
	if !sentAt.IsZero() {
		n.metrics.AddSample([]string{mLatency}, float32(max(time.Since(sentAt), 0).Seconds()))
	}
	if at := n.st.frameAt; !at.IsZero() {
		n.metrics.AddSample([]string{mDeliveryWait}, float32(time.Since(at).Seconds()))
	}
}
