package membership

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/transport"
)

// Config configures a Node. Only Transport is required; every zero field
// means the default given with it.
type Config struct {
	// Transport carries the node's connections: transport.ListenQUIC in
	// production, a transport.MemNetwork in tests. The node owns it and
	// closes it on Close or Leave.
	Transport transport.Transport
	// Metadata is this node's application metadata, published in its
	// member record; at most Roster.MaxMetaBytes (default 512).
	Metadata []byte
	// Protocol tunes HyParView and Plumtree; the zero value means
	// gossip.ProductionConfig: the papers' defaults, with
	// Plumtree.NeighborUpAnnouncements at DefaultNeighborUpAnnouncements
	// and, unless Plumtree.GraftTimeout1 is set, Plumtree.MinGraftTimeout
	// at gossip.DefaultMinGraftTimeout: timeout1 follows the lags each node
	// measures, up to the default GraftTimeout1. A GraftTimeout1 given
	// alone is kept fixed, as before; with MinGraftTimeout too, timeout1
	// follows the lags between the two.
	// The node sets Plumtree.FirstSequence to the wall clock in
	// nanoseconds, so that a restarted node never reuses a message ID.
	// How long and how much a node keeps of what it delivered, to answer
	// its neighbours' GRAFTs and to repair a neighbour that comes up, is
	// Plumtree.CalmPayloadRetention while nothing fails (default 10s, or
	// PayloadRetention when that is shorter) and
	// Plumtree.PayloadRetention (age, default 30s) from a failed
	// neighbour or a member suspected, failed or leaving on, and while
	// members are missing (plumtree/doc.go, deviation 16;
	// gossip.DefaultCalmPayloadRetention; set both equal to hold every
	// payload for PayloadRetention),
	// Plumtree.MaxCachedBytes (bytes, default 64 MiB) and
	// Plumtree.MaxCachedPayloads (count, default 10,000), the oldest
	// going first; a zero Plumtree.SeenRetention is set to three times
	// PayloadRetention when that is above its default of 90s.
	// Protocol.Members is set by the node from Metadata, Roster,
	// SyncInterval and RejoinInterval. Protocol.Budgets, the per-peer
	// limits, defaults to gossip.DefaultBudgets, and
	// HyParView.JoinEvictionsPerShuffle to ProductionConfig's, and
	// Protocol.Gaps, gap detection (Message.Gap), to ProductionConfig's.
	Protocol gossip.Config
	// Roster tunes the member list (suspicion timeout, tombstone
	// retention, metadata limit). Roster.Incarnation defaults to the wall
	// clock in nanoseconds, so a restarted node supersedes its old records.
	Roster roster.Config
	// SubscriberBuffer bounds each Subscription's and Watcher's buffer.
	// Default 1024.
	SubscriberBuffer int
	// Logger receives the node's logs. Default zap.NewNop().
	Logger *zap.Logger
	// Metrics receives the node's counters, gauges and histograms
	// (MetricDefs; docs/operations.md, "Metrics"). Default nil: the node
	// emits none and pays nothing for them (never the global instance).
	Metrics *metrics.Metrics
	// MetricsInterval is how often the node samples its gauges from the
	// engine, on its own goroutine, and exports the engine's counters.
	// Default DefaultMetricsInterval (1s).
	MetricsInterval time.Duration
	// Seed seeds the protocol's random choices. Default: from crypto/rand.
	Seed uint64
	// RejoinInterval is how often an isolated node rejoins through its
	// seeds, and a node whose member list shows members it has no path to
	// (suspect or failed) asks one of them or a seed to become a neighbour,
	// which heals partitions. Default gossip.DefaultRejoinInterval (3s).
	RejoinInterval time.Duration
	// TrustMembers turns signatures off. By default every application
	// broadcast is signed with the node's identity key and every node
	// checks the origin of each one it receives before delivering or
	// relaying it, so that no member can broadcast in another's name
	// (gossipsub signs by default too); and member records are signed by
	// their member, suspicions by their declarer, so that no member can
	// rewrite another's record or keep a live one shown as failed (see
	// docs/security.md). Set it only in a cluster that trusts every
	// admitted member: it saves a signature per broadcast, a verification
	// per delivery and 96 bytes per message, and about 100 bytes per
	// member record.
	TrustMembers bool
	// StrictSignatures checks every signature alone with Go's
	// ed25519.Verify (the cofactorless equation), as agents up to
	// d4f7fc8 (2026-12-07) did, instead of under ZIP-215's rules, alone or
	// in batches. The two differ only on a signature its signer built on
	// purpose with a small-order component, which ZIP-215 takes; so while
	// a cluster is upgraded from such agents, a member
	// that builds such signatures could have the upgraded agents take
	// what the earlier ones refuse (docs/security.md, "Signed origins").
	// Set it on every upgraded agent for the upgrade and drop it in a
	// second rolling restart once no earlier agent is left. It costs the
	// batches: about a fifth more CPU per delivery under load.
	StrictSignatures bool
	// BehindNAT says that this node cannot be dialled (it sits behind a
	// NAT): its member record says so and names one of its active
	// neighbours that can be dialled as its rendezvous, replaced when the
	// link ends (gossip.MembersConfig.BehindNAT); other members reach it
	// with ConnectICE, whose signals the rendezvous relays. It needs
	// signatures (not TrustMembers), and every member of this version: a
	// node of an earlier one refuses the record as forged. Default off.
	BehindNAT bool
	// CheckReachability makes the node learn whether it can be dialled
	// instead of being told (BehindNAT): it asks a neighbour that can be
	// dialled to dial it back, once it has one and again when its
	// neighbours change, at most once a minute, and its record says what
	// the last answer found (gossip.MembersConfig.CheckReachability;
	// Reachability). It needs signatures (not TrustMembers) and excludes
	// BehindNAT. Default off: the record says nothing against dialling
	// the node.
	CheckReachability bool
	// ICE, when set, makes HyParView run over ICE links: the node opens
	// its connection to a member whose signed record says it cannot be
	// dialled with an ICE negotiation through that member's rendezvous
	// instead of a dial, and answers other members' negotiations itself,
	// each link becoming the peer's one connection whatever its path
	// (docs/nat.md, "HyParView over ICE links"). ConnectICE and AcceptICE
	// are then the node's own (ErrICELinks). Default nil: members that
	// cannot be dialled are reached only over the connections they dial.
	ICE *ICELinks
	// DeliveryMarks are the marks an earlier run of this node saved
	// (Node.DeliveryMarks): broadcasts they cover are not delivered
	// again when neighbours announce them after the restart. A process
	// that keeps none may deliver again what it delivered within
	// Plumtree's PayloadRetention before it stopped.
	DeliveryMarks []gossip.DeliveryMark
	// ProbeInterval is the period of the liveness probes: every interval
	// the node pings one member, round-robin, so that every member is
	// watched, not only its neighbours. Default gossip.DefaultProbeInterval
	// (1s); negative turns probing off, leaving failure detection to the
	// neighbours' connections (a member nobody links to is then found only
	// by Roster.SilenceTimeout).
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe's direct ping waits for its answer
	// before the member is probed through neighbours (which get twice as
	// long), and half how long a withheld declaration's confirming ping
	// waits at least (all of it when a short Roster.SuspicionMinTimeout
	// caps that wait, with signatures on). Default gossip.DefaultProbeTimeout (500ms).
	ProbeTimeout time.Duration
	// DialTimeout bounds one attempt to connect to a peer. Default 5s.
	DialTimeout time.Duration
	// SyncInterval is the mean time between two exchanges of member-list
	// digests with a random neighbour, which spread records that a burst
	// of joins or a lost broadcast left some nodes without. Default
	// gossip.DefaultSyncInterval (30s).
	SyncInterval time.Duration
}

// Defaults of Config.
const (
	DefaultSubscriberBuffer = 1024
	DefaultRejoinInterval   = gossip.DefaultRejoinInterval
	DefaultDialTimeout      = 5 * time.Second
	// DefaultNeighborUpAnnouncements is how many recent broadcasts a node
	// announces to a new neighbour (anti-entropy):
	// gossip.DefaultNeighborUpAnnouncements.
	DefaultNeighborUpAnnouncements = gossip.DefaultNeighborUpAnnouncements
)

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.Transport == nil {
		errs = append(errs, errors.New("membership: Config.Transport is required"))
	}
	if c.SubscriberBuffer < 0 || c.RejoinInterval < 0 || c.DialTimeout < 0 || c.SyncInterval < 0 || c.MetricsInterval < 0 {
		errs = append(errs, errors.New("membership: SubscriberBuffer, RejoinInterval, DialTimeout, SyncInterval and MetricsInterval must not be negative"))
	}
	if err := c.Roster.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("membership: %w", err))
	}
	if c.ICE != nil {
		if err := c.ICE.validate(c.TrustMembers); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Protocol.Members != nil {
		errs = append(errs, errors.New("membership: Protocol.Members is set by the node; use Metadata and Roster"))
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	now := uint64(time.Now().UnixNano())
	if c.SubscriberBuffer == 0 {
		c.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = DefaultMetricsInterval
	}
	if c.ICE != nil {
		ic := c.ICE.withDefaults()
		c.ICE = &ic
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	if c.Roster.Incarnation == 0 {
		c.Roster.Incarnation = now & roster.MaxIncarnation
	}
	c.Protocol = c.engineConfig(now)
	if err := c.Protocol.Validate(); err != nil {
		return c, fmt.Errorf("membership: %w", err)
	}
	return c, nil
}

// engineConfig is the engine's configuration: gossip.ProductionConfig with
// the node's own settings and what only a real process has (its wall
// clock, now, as the first message sequence).
func (c Config) engineConfig(now uint64) gossip.Config {
	p := gossip.ProductionConfig(c.Metadata)
	hv := c.Protocol.HyParView
	if hv.JoinEvictionsPerShuffle == 0 {
		hv.JoinEvictionsPerShuffle = p.HyParView.JoinEvictionsPerShuffle
	}
	p.HyParView = hv
	pt := c.Protocol.Plumtree
	if pt.NeighborUpAnnouncements == 0 {
		pt.NeighborUpAnnouncements = p.Plumtree.NeighborUpAnnouncements
	}
	if pt.MinGraftTimeout == 0 && pt.GraftTimeout1 == 0 {
		pt.MinGraftTimeout = p.Plumtree.MinGraftTimeout
	}
	if pt.CalmPayloadRetention == 0 {
		pt.CalmPayloadRetention = min(p.Plumtree.CalmPayloadRetention, cmp.Or(pt.PayloadRetention, plumtree.DefaultPayloadRetention))
	}
	if pt.FirstSequence == 0 {
		pt.FirstSequence = now
	}
	if pt.SeenRetention == 0 && 3*pt.PayloadRetention > plumtree.DefaultSeenRetention {
		pt.SeenRetention = 3 * pt.PayloadRetention
	}
	p.Plumtree = pt
	if c.Protocol.Budgets != nil {
		p.Budgets = c.Protocol.Budgets
	}
	if c.Protocol.Gaps != nil {
		p.Gaps = c.Protocol.Gaps
	}
	p.Members.Roster = c.Roster
	if c.SyncInterval != 0 {
		p.Members.SyncInterval = c.SyncInterval
	}
	if c.RejoinInterval != 0 {
		p.Members.RejoinInterval = c.RejoinInterval
	}
	if c.ProbeInterval != 0 {
		p.Members.ProbeInterval = c.ProbeInterval
	}
	if c.ProbeTimeout != 0 {
		p.Members.ProbeTimeout = c.ProbeTimeout
	}
	switch {
	case c.TrustMembers:
	case c.StrictSignatures:
		p.Members.Auth = strictSigner{keySigner{tr: c.Transport}}
	default:
		p.Members.Auth = identitySigner{keySigner{tr: c.Transport}}
	}
	p.Members.BehindNAT = c.BehindNAT
	p.Members.CheckReachability = c.CheckReachability
	p.Members.PrivateAddress = privateAddr
	return p
}
