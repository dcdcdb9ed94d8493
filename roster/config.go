package roster

import (
	"errors"
	"fmt"
	"time"

	"github.com/plumview/plumview/peer"
)

// Config holds the roster's parameters. A zero field means its default;
// DefaultConfig lists them with their origin.
type Config struct {
	// Incarnation is the node's first incarnation. The runtime seeds it
	// from the wall clock (Unix nanoseconds) at start, so that a node that
	// rejoins after failing or leaving supersedes its old records. Zero is
	// a valid incarnation (the simulator uses it) and needs no default.
	Incarnation uint64
	// MaxMetaBytes bounds a member's metadata, ours and in received
	// records. Default 512: HashiCorp memberlist's MetaMaxSize, so that a
	// record stays far below one datagram or frame.
	MaxMetaBytes int
	// SuspicionTimeout is how long a member stays Suspect before a node
	// that knows of the suspicion declares it Failed. SWIM (Das, Gupta,
	// Motivala 2002, §4.2) leaves it a parameter. Default 5s is a guess to
	// validate, of the order of memberlist's LAN profile (4 × 1s probe
	// interval × log10(n), floor 4s). It must exceed the time a suspected
	// member needs to hear of the suspicion and have its refutation
	// disseminated: a few Plumtree hops, or one anti-entropy exchange.
	SuspicionTimeout time.Duration
	// SuspicionMinTimeout is the timeout of a suspicion that
	// SuspicionConfirmations independent observers confirmed; between
	// none and that many, the timeout falls from SuspicionTimeout towards
	// it on a logarithmic curve (confirm.go, after Lifeguard §IV-B).
	// Default 3s: time enough for a live member stalled for a moment (an
	// overloaded host) to hear of the suspicion and refute; 2 s showed
	// live members failed at the heal of a partition in the fault lab at
	// 32 agents on two cores (docs/reliability.md). With signatures on, a
	// node that learns of a suspicion from others and checks it with a
	// ping of its own (package gossip) waits no longer than this either,
	// if it is longer than the ping's timeout. Negative turns confirmations off (every
	// suspicion lasts SuspicionTimeout); a value at or above
	// SuspicionTimeout does too.
	SuspicionMinTimeout time.Duration
	// SuspicionConfirmations is how many independent confirmations bring
	// a suspicion's timeout down to SuspicionMinTimeout. Default 3,
	// Lifeguard's and memberlist's (its indirect checks); negative turns
	// confirmations off.
	SuspicionConfirmations int
	// RetainDead is how long Failed and Left records are kept as tombstones
	// so that stale updates in flight cannot resurrect them. Default 1h is
	// a guess to validate: far longer than dissemination takes, long enough
	// for a partition of minutes to heal through anti-entropy (serf keeps
	// tombstones of left members for 24h).
	RetainDead time.Duration
	// ExpiryInterval is the period of the sweep that removes expired
	// tombstones; a tombstone lives between RetainDead and
	// RetainDead+ExpiryInterval. Default 1min is a guess to validate (serf
	// reaps every 15s).
	ExpiryInterval time.Duration
	// MaxMembers bounds the records the roster holds, this node's own and
	// tombstones included. A record of a new identity that would exceed it
	// is refused and counted (Counters.RefusedFull); records already held
	// are never evicted to make room, so a peer that invents identities
	// cannot push honest members out. Default 100,000: the largest cluster
	// the project claims a full member list for, about 60 MB of records at
	// the default metadata limit.
	MaxMembers int
	// RefreshInterval is how often this node re-announces its record under
	// a new incarnation, so that every node hears from it and keeps it
	// (SilenceTimeout). Default 15min, a guess: in a cluster of 10,000
	// members, about 11 record broadcasts a second in all.
	RefreshInterval time.Duration
	// SilenceTimeout is how long an Alive member may go without a new
	// record of its own before this node marks it Failed, without telling
	// anyone: a record that no live member stands behind (one invented by
	// a peer, or a member that died unnoticed) does not stay for ever.
	// Default 1h, four refreshes; it must exceed RefreshInterval.
	SilenceTimeout time.Duration
	// Auth, when set, turns signatures on (doc.go, "Signatures"): this
	// node signs its own records and its suspicions, and a received record
	// whose proof does not verify (VerifyRecord) is dropped and counted
	// (Counters.Forged). Nil, the default and the simulator's setting,
	// turns them off. The composition (package gossip) sets it from its
	// own configuration.
	Auth peer.Authenticator

	// Bodies, when set, shares the immutable part of the records held
	// (Body) with the other rosters that hold the same records: a
	// simulator of many nodes sets one for all of them, so that their
	// member lists cost 16 bytes and an index slot per record and node
	// (docs/benchmarks.md, "Member list memory, shared records"). Nil, the
	// default and the runtime's setting: each roster holds its own.
	Bodies Bodies
}

// Defaults, with their origin (see Config).
const (
	defaultMaxMetaBytes     = 512              // memberlist's MetaMaxSize
	defaultSuspicionTimeout = 5 * time.Second  // a guess to validate
	defaultSuspicionMin     = 3 * time.Second  // see Config.SuspicionMinTimeout
	defaultConfirmations    = 3                // Lifeguard's K
	defaultRetainDead       = time.Hour        // a guess to validate
	defaultExpiryInterval   = time.Minute      // a guess to validate
	defaultMaxMembers       = 100_000          // the largest cluster claimed
	defaultRefreshInterval  = 15 * time.Minute // a guess to validate
	defaultSilenceTimeout   = time.Hour        // four refreshes
	maxMetaBytesLimit       = 64 << 10         // bigger metadata belongs in an application message
	maxDuration             = 365 * 24 * time.Hour
)

// DefaultConfig returns the defaults, each documented on Config.
func DefaultConfig() Config {
	return Config{
		MaxMetaBytes:           defaultMaxMetaBytes,
		SuspicionTimeout:       defaultSuspicionTimeout,
		SuspicionMinTimeout:    defaultSuspicionMin,
		SuspicionConfirmations: defaultConfirmations,
		RetainDead:             defaultRetainDead,
		ExpiryInterval:         defaultExpiryInterval,
		MaxMembers:             defaultMaxMembers,
		RefreshInterval:        defaultRefreshInterval,
		SilenceTimeout:         defaultSilenceTimeout,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxMetaBytes == 0 {
		c.MaxMetaBytes = d.MaxMetaBytes
	}
	if c.SuspicionTimeout == 0 {
		c.SuspicionTimeout = d.SuspicionTimeout
	}
	if c.SuspicionMinTimeout == 0 {
		c.SuspicionMinTimeout = d.SuspicionMinTimeout
	}
	if c.SuspicionConfirmations == 0 {
		c.SuspicionConfirmations = d.SuspicionConfirmations
	}
	if c.RetainDead == 0 {
		c.RetainDead = d.RetainDead
	}
	if c.ExpiryInterval == 0 {
		c.ExpiryInterval = d.ExpiryInterval
	}
	if c.MaxMembers == 0 {
		c.MaxMembers = d.MaxMembers
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = d.RefreshInterval
	}
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = d.SilenceTimeout
	}
	return c
}

// Validate reports every impossible setting of c, with its zero fields set
// to their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Incarnation > MaxIncarnation {
		errs = append(errs, fmt.Errorf("roster: Incarnation %d exceeds %d", c.Incarnation, uint64(MaxIncarnation)))
	}
	if c.MaxMetaBytes < 0 || c.MaxMetaBytes > maxMetaBytesLimit {
		errs = append(errs, fmt.Errorf("roster: MaxMetaBytes must be in [0, %d], got %d", maxMetaBytesLimit, c.MaxMetaBytes))
	}
	if c.SuspicionMinTimeout > maxDuration || c.SuspicionConfirmations > maxObservers-1 {
		errs = append(errs, fmt.Errorf("roster: SuspicionMinTimeout must be at most %v and SuspicionConfirmations at most %d, got %v and %d",
			maxDuration, maxObservers-1, c.SuspicionMinTimeout, c.SuspicionConfirmations))
	}
	if c.MaxMembers < 1 {
		errs = append(errs, fmt.Errorf("roster: MaxMembers must be at least 1, got %d", c.MaxMembers))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"SuspicionTimeout", c.SuspicionTimeout},
		{"RetainDead", c.RetainDead},
		{"ExpiryInterval", c.ExpiryInterval},
		{"RefreshInterval", c.RefreshInterval},
		{"SilenceTimeout", c.SilenceTimeout},
	} {
		if d.v < 0 || d.v > maxDuration {
			errs = append(errs, fmt.Errorf("roster: %s must be in (0, %v], got %v", d.name, maxDuration, d.v))
		}
	}
	if c.SilenceTimeout <= c.RefreshInterval {
		errs = append(errs, fmt.Errorf("roster: SilenceTimeout %v must exceed RefreshInterval %v", c.SilenceTimeout, c.RefreshInterval))
	}
	return errors.Join(errs...)
}
