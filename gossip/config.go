package gossip

import (
	"errors"
	"fmt"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Config configures an Engine. The zero value runs the two cores alone
// with the papers' defaults, as the simulator's reproductions of the papers
// need; ProductionConfig is what a deployment runs.
type Config struct {
	HyParView hyparview.Config
	Plumtree  plumtree.Config
	// Members, when set, adds the full member list (see MembersConfig).
	Members *MembersConfig
	// Budgets, when set, bounds what each peer may ask of this node per
	// period (see Budgets). Nil, the papers' setting, sets no limit;
	// ProductionConfig sets DefaultBudgets.
	Budgets *Budgets
	// Gaps, when set with the member list, reports the application
	// broadcasts missed for good (see GapsConfig). Nil, the papers'
	// setting, reports none; ProductionConfig sets the defaults.
	Gaps *GapsConfig
}

// MembersConfig turns on the full member list (package roster) on top of
// the two cores:
//
//   - every Plumtree payload is an Envelope: an application message with
//     its topic, or member records;
//   - member records are broadcast under a content-derived ID
//     (plumtree.ContentHashID of the envelope), so the identical Failed
//     declarations that many nodes make deduplicate;
//   - HyParView's neighbour up and down feed the roster (suspicion on a
//     failed connection); on neighbour up the two nodes exchange digests
//     (Digest, Records) and pull the records they miss, and the first
//     neighbour up makes the node announce its own record;
//   - every SyncInterval or so a node sends its digest to a random active
//     neighbour as well;
//   - every RejoinInterval the node heals partitions (see rejoin).
type MembersConfig struct {
	Roster roster.Config
	// Meta is this node's initial metadata.
	Meta []byte
	// SyncInterval is the mean time between two anti-entropy exchanges of
	// a node with a random active neighbour, besides the exchange on every
	// new link (each interval is drawn between half and one and a half
	// times it). Without them, a record that a node learned by
	// anti-entropy after its neighbours' links were made, or whose
	// broadcast missed it (a burst of joins, when each node has one or two
	// neighbours), stays unknown to them until a new link forms, which a
	// stable overlay may never do. Zero means DefaultSyncInterval; it must
	// not be negative.
	SyncInterval time.Duration
	// RejoinInterval is the period of the partition-healing tick: an
	// isolated node joins again through its contacts (and asks its driver
	// to resolve them afresh, Ready.ResolveContacts) and asks a member it
	// lists alive for a link, and a node whose
	// member list shows members it has no path to asks one of them, or a
	// contact, to become a neighbour. Zero means DefaultRejoinInterval; it
	// must not be negative.
	RejoinInterval time.Duration
	// ProbeInterval is the period of the liveness probes (probe.go): every
	// interval the node pings one member, in a shuffled round-robin, so
	// that every member is watched, not only neighbours. Zero means
	// DefaultProbeInterval; negative turns probing off.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct ping waits before the member is
	// probed through neighbours, which get twice as long. Zero means
	// DefaultProbeTimeout; it must not be negative.
	ProbeTimeout time.Duration
	// IndirectProbes is how many neighbours are asked to probe a member
	// that did not answer directly. Zero means DefaultIndirectProbes; it
	// must not be negative.
	IndirectProbes int
	// IslandCheckAge is how old a broadcast must be before a node that
	// has not delivered it, seeing it named in a member's Ping, takes
	// itself for cut off from that member's broadcasts and asks it for a
	// link (islands.go). Zero means DefaultIslandCheckAge; negative turns
	// the check off (the marks are neither sent nor checked). It needs
	// the probes.
	IslandCheckAge time.Duration
	// Auth, when set, turns signatures on (see peer.Authenticator). The
	// node signs every application broadcast and verifies the origin of
	// every one received before the broadcast core delivers or relays it;
	// and the member list takes only records signed by their member and
	// failure declarations signed by their declarer (roster.Config.Auth,
	// which the engine sets from this field). The runtime sets it from
	// the node's identity key unless told that every admitted member is
	// trusted; nil, the simulator's setting, turns signatures off. It
	// needs the IDOriginSequence policy (Plumtree's default).
	Auth peer.Authenticator
	// BehindNAT says that this node cannot be dialled (it sits behind a
	// NAT): its record says so and names an active neighbour that can be
	// as its rendezvous, which relays it the signals of connection
	// attempts through NATs (signal.go), and is replaced when it leaves
	// the active view. It needs Auth: the rendezvous is signed into the
	// record. False, the default, changes nothing.
	BehindNAT bool
	// CheckReachability makes the node learn whether it can be dialled:
	// it asks a reachable neighbour to dial it back (reach.go) once it has
	// one, and again when its neighbours or its address change, at most
	// once per ReachInterval; its record then says what the last answer
	// found (unreachable: with a rendezvous, as BehindNAT). Until the
	// first answer it says nothing against dialling it. It needs Auth and
	// excludes BehindNAT.
	CheckReachability bool
	// ReachInterval is the least time between two checks; zero means
	// DefaultReachInterval.
	ReachInterval time.Duration
	// ReachTimeout bounds the wait for a check's answer; zero means
	// DefaultReachTimeout.
	ReachTimeout time.Duration
	// PrivateAddress, when set, reports whether a member address lies on
	// a private network (RFC 1918, RFC 4193): a reachability check of a
	// node on a private address then takes a dial back from a neighbour
	// on a private address for no answer, since a neighbour behind the
	// same NAT dials it over their LAN (reach.go, sameNetworkOnly). The
	// driver parses addresses; to the engine they are opaque. Nil: no
	// address is private.
	PrivateAddress func(addr string) bool
}

// Defaults of the member list.
const (
	// DefaultNeighborUpAnnouncements is the Plumtree NeighborUpAnnouncements
	// that ProductionConfig sets: how many recent broadcasts a node
	// announces to a new neighbour, a guess that covers a partition of a
	// few seconds at a few hundred broadcasts per second while costing 16
	// IHaves per new link. Member records are broadcasts too, so this also
	// repairs the ones a new neighbour missed.
	DefaultNeighborUpAnnouncements = 1024
	// DefaultMinGraftTimeout is the Plumtree MinGraftTimeout that
	// ProductionConfig sets: timeout1 follows the lags each node measures
	// on its eager links (plumtree/doc.go, deviation 15), no shorter than
	// four IHAVE batching windows (plumtree.DefaultLazyPushDelay), so that
	// an announcement that merely outran its payload on a fast network
	// does not GRAFT.
	DefaultMinGraftTimeout = 4 * plumtree.DefaultLazyPushDelay
	// DefaultCalmPayloadRetention is the Plumtree CalmPayloadRetention
	// that ProductionConfig sets: while nothing fails, a delivered payload
	// is held 10 s, not the whole PayloadRetention (30 s); a failed
	// neighbour, a member suspected, declared failed or leaving (which is
	// how a partition shows on either side, and a restart), and every
	// rejoin tick while members are missing (up to five minutes after the
	// last of those), hold payloads for the whole
	// PayloadRetention (plumtree/doc.go, deviation 16;
	// Engine.holdPayloads). 10 s is about twice the time a partition takes
	// to show on both sides with the runtime's defaults: a silent link
	// fails within its 1 s idle timeout, and a member cut off is suspected
	// within a few probe rounds, about 1 to 5 s. The GRAFTs of a healthy
	// cluster need a fraction of a second.
	DefaultCalmPayloadRetention = 10 * time.Second
	// DefaultSyncInterval is MembersConfig.SyncInterval's default: 30 s,
	// the push-pull interval of HashiCorp memberlist's LAN configuration.
	DefaultSyncInterval = 30 * time.Second
	// DefaultRejoinInterval is MembersConfig.RejoinInterval's default: 3 s,
	// a guess: a few dials per node per minute while cut off, and a healed
	// partition noticed within seconds.
	DefaultRejoinInterval = 3 * time.Second
)

// ProductionConfig returns the configuration a deployment runs, the one
// place it is assembled: the papers' defaults for both cores but a join
// eviction budget of 1 (hyparview.Config.JoinEvictionsPerShuffle), recent
// broadcasts announced to every new neighbour
// (DefaultNeighborUpAnnouncements), a timeout1 that follows the measured
// lags (DefaultMinGraftTimeout), payloads held 10 s while nothing fails
// (DefaultCalmPayloadRetention), per-peer budgets (DefaultBudgets), and
// the member list with metadata
// meta and its defaults (suspicion, tombstones, periodic anti-entropy,
// rejoin ticks). The runtime (package membership) starts from it and adds
// what only a real process has (its wall clock as the first message
// sequence and incarnation); the simulator's production-like experiments
// start from it too.
func ProductionConfig(meta []byte) Config {
	b := DefaultBudgets()
	return Config{
		Budgets:   &b,
		Gaps:      &GapsConfig{},
		HyParView: hyparview.Config{JoinEvictionsPerShuffle: 1}, // hyparview/doc.go, deviation 12
		Plumtree: plumtree.Config{NeighborUpAnnouncements: DefaultNeighborUpAnnouncements, MinGraftTimeout: DefaultMinGraftTimeout,
			CalmPayloadRetention: DefaultCalmPayloadRetention},
		Members: &MembersConfig{
			Meta:           meta,
			SyncInterval:   DefaultSyncInterval,
			RejoinInterval: DefaultRejoinInterval,
		},
	}
}

// Validate reports the first impossible setting of either core or of the
// member list.
func (c Config) Validate() error {
	if err := c.HyParView.Validate(); err != nil {
		return err
	}
	if err := c.Plumtree.Validate(); err != nil {
		return err
	}
	if c.Budgets != nil {
		if err := c.Budgets.Validate(); err != nil {
			return err
		}
	}
	if c.Gaps != nil {
		if err := c.Gaps.Validate(); err != nil {
			return err
		}
	}
	if c.Members != nil {
		if c.Members.Auth != nil && c.Plumtree.IDPolicy == plumtree.IDContentHash {
			return ErrOriginsNeedSequenceIDs
		}
		return c.Members.Validate()
	}
	return nil
}

// Validate reports an impossible setting of the member list.
func (c *MembersConfig) Validate() error {
	if c.SyncInterval < 0 {
		return fmt.Errorf("gossip: negative SyncInterval %v", c.SyncInterval)
	}
	if c.RejoinInterval < 0 {
		return fmt.Errorf("gossip: negative RejoinInterval %v", c.RejoinInterval)
	}
	if c.ProbeTimeout < 0 || c.IndirectProbes < 0 {
		return fmt.Errorf("gossip: negative ProbeTimeout %v or IndirectProbes %d", c.ProbeTimeout, c.IndirectProbes)
	}
	if c.Roster.Auth != nil {
		return errors.New("gossip: set MembersConfig.Auth, which the engine hands to the roster, not Roster.Auth")
	}
	if c.CheckReachability && (c.Auth == nil || c.BehindNAT) {
		return errors.New("gossip: CheckReachability needs signatures (MembersConfig.Auth) and excludes BehindNAT")
	}
	if c.ReachInterval < 0 || c.ReachTimeout < 0 {
		return fmt.Errorf("gossip: negative ReachInterval %v or ReachTimeout %v", c.ReachInterval, c.ReachTimeout)
	}
	if c.BehindNAT && c.Auth == nil {
		return errors.New("gossip: BehindNAT needs signatures (MembersConfig.Auth): the rendezvous is signed into the record")
	}
	return c.Roster.Validate()
}
