package plumtree

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the tunables of one core. A zero field means its default
// (DefaultConfig); every default below says where it came from.
type Config struct {
	// GraftTimeout1 is timeout1 of S2 §3.5: how long a node waits, after the
	// first IHAVE for a message it lacks, before it sends a GRAFT. The paper
	// gives no number ("considering the diameter of the overlay and a target
	// maximum recovery latency"). Default 80ms, a guess to validate.
	GraftTimeout1 time.Duration

	// MinGraftTimeout, when positive, lets timeout1 follow the lags this
	// node observes instead of staying at GraftTimeout1 (doc.go, deviation
	// 15): twice the longest recent lag between a message's first IHAVE
	// and its payload arriving on an eager link, within [MinGraftTimeout,
	// GraftTimeout1]. On a fast network a message that lost its eager path
	// (a tree link replaced, a prune that crossed another) is grafted
	// after a few lags instead of GraftTimeout1. Zero, the default, keeps
	// the paper's fixed timeout1; the production configuration
	// (gossip.ProductionConfig) sets it.
	MinGraftTimeout time.Duration

	// GraftTimeout2 is timeout2 of S2 §3.5: how long a node waits for the
	// payload after each GRAFT before it grafts the next announcer. The paper
	// says "smaller than the first, in the order of an average round trip
	// time to a neighbor". Default 40ms, a guess to validate.
	GraftTimeout2 time.Duration

	// LazyPushDelay is the IHAVE batching window: announcements for one peer
	// are collected for up to this long and sent as one IHave. The paper only
	// requires that every announcement is eventually sent (S2 §3.4).
	// Default 5ms, a guess to validate.
	//
	// A negative value sends every announcement at once, one IHave per
	// message per lazy peer, as in the paper's simulations (S2 §4.1).
	LazyPushDelay time.Duration

	// MaxIHaveEntries caps the announcements in one IHave: a peer's queue is
	// flushed early when it reaches this many, and a received IHave with more
	// entries is dropped as invalid, so every node of a cluster must use the
	// same value (or raise it on receivers first). Default 64, a guess that
	// keeps an encoded IHave near one Ethernet MTU.
	MaxIHaveEntries int

	// OptimizationThreshold is the round difference at which a node swaps an
	// eager link for a lazy one that announced the message at a lower round
	// (S2 §3.8, Algorithm 4: round − r >= threshold). Default 7, the paper's
	// value for multiple senders sharing one tree, close to the overlay's
	// diameter (S2 §4.1); 3 is its single-sender value.
	OptimizationThreshold int

	// DisableOptimization turns Algorithm 4 off.
	DisableOptimization bool

	// Flood turns the tree off: every payload is pushed to every neighbour
	// but the sender and duplicates are never pruned, so no link becomes
	// lazy. This is plain eager push gossip over the same overlay, the
	// baseline Plumtree is measured against (S2 §4, "eager"). For
	// experiments; a deployment wants the tree.
	Flood bool

	// IDPolicy chooses how Broadcast names messages. Default IDOriginSequence.
	IDPolicy IDPolicy

	// FirstSequence is the sequence number of this node's first broadcast
	// under IDOriginSequence. A restarted node should pass a value it never
	// used before (wall-clock nanoseconds, say) so that peers which still
	// remember its old IDs do not take new broadcasts for duplicates.
	// Default 1.
	FirstSequence uint64

	// PayloadRetention is how long a delivered payload stays cached to answer
	// GRAFTs (S2 treats purging as out of scope; doc.go, deviation 7). A
	// GRAFT that arrives later is counted as missed. Default 30s, a guess to
	// validate: far above any repair delay (timeout1 plus a few timeout2).
	PayloadRetention time.Duration

	// CalmPayloadRetention is how long a delivered payload stays cached
	// while no repair is expected: a payload is released after it unless
	// an InputHoldPayloads came while it was held, or came less than
	// PayloadRetention before it was delivered; such a payload is held for
	// the whole PayloadRetention (doc.go, deviation 16). Default
	// PayloadRetention: every payload is held that long, as before the
	// field existed. Must be <= PayloadRetention.
	CalmPayloadRetention time.Duration

	// SeenRetention is how long a delivered ID is remembered to recognise
	// duplicates (the paper's receivedMsgs). A copy of a message arriving
	// after this is delivered again. Must be >= PayloadRetention.
	// Default 90s (three times PayloadRetention), a guess to validate.
	SeenRetention time.Duration

	// MaxCachedPayloads caps the payloads held for GRAFTs; the oldest is
	// evicted first. Default 10,000, a guess.
	MaxCachedPayloads int

	// MaxCachedBytes caps the total size of held payloads; the oldest is
	// evicted first. Default 64 MiB, a guess. Must be >= MaxPayloadBytes.
	MaxCachedBytes int

	// MaxSeenIDs caps the remembered IDs; the oldest is forgotten first (and
	// a copy of it arriving later would be delivered again). Default 100,000,
	// a guess. Must be >= MaxCachedPayloads and at most 2^30.
	MaxSeenIDs int

	// MaxMissing caps the announcements held for messages not yet received,
	// counting an ID whose announcements are all used up (it waits for its
	// last GRAFT's answer) as one. The oldest ID is forgotten first. It is
	// what bounds memory under an IHAVE flood. Default 10,000, a guess.
	MaxMissing int

	// MaxPayloadBytes caps one payload: a larger Broadcast is an error, a
	// larger received Gossip is dropped and counted. Default 1 MiB, a guess.
	MaxPayloadBytes int

	// NeighborUpAnnouncements is anti-entropy for broadcasts, our addition
	// to S2: when a neighbour comes up, the node announces to it (in IHaves
	// of round 0) the IDs of up to this many of the most recent messages
	// whose payloads it still holds, so a node that was cut off (a
	// partition, a restart) GRAFTs what it missed while the payloads are
	// retained. Zero, the default, turns it off so that the papers'
	// experiments are unchanged; the runtime turns it on. A repaired
	// message is delivered with Hops 1, as the announcement carries no
	// round.
	NeighborUpAnnouncements int
}

// Defaults. See the Config fields for where each value came from.
const (
	DefaultGraftTimeout1         = 80 * time.Millisecond
	DefaultGraftTimeout2         = 40 * time.Millisecond
	DefaultLazyPushDelay         = 5 * time.Millisecond
	DefaultMaxIHaveEntries       = 64
	DefaultOptimizationThreshold = 7
	DefaultFirstSequence         = 1
	DefaultPayloadRetention      = 30 * time.Second
	DefaultSeenRetention         = 90 * time.Second
	DefaultMaxCachedPayloads     = 10_000
	DefaultMaxCachedBytes        = 64 << 20
	DefaultMaxSeenIDs            = 100_000
	DefaultMaxMissing            = 10_000
	DefaultMaxPayloadBytes       = 1 << 20
)

// DefaultConfig returns the configuration a zero Config stands for.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	setDuration(&c.GraftTimeout1, DefaultGraftTimeout1)
	setDuration(&c.GraftTimeout2, DefaultGraftTimeout2)
	setDuration(&c.LazyPushDelay, DefaultLazyPushDelay)
	setDuration(&c.PayloadRetention, DefaultPayloadRetention)
	setDuration(&c.SeenRetention, DefaultSeenRetention)
	setDuration(&c.CalmPayloadRetention, c.PayloadRetention)
	setInt(&c.MaxIHaveEntries, DefaultMaxIHaveEntries)
	setInt(&c.OptimizationThreshold, DefaultOptimizationThreshold)
	setInt(&c.MaxCachedPayloads, DefaultMaxCachedPayloads)
	setInt(&c.MaxCachedBytes, DefaultMaxCachedBytes)
	setInt(&c.MaxSeenIDs, DefaultMaxSeenIDs)
	setInt(&c.MaxMissing, DefaultMaxMissing)
	setInt(&c.MaxPayloadBytes, DefaultMaxPayloadBytes)
	if c.FirstSequence == 0 {
		c.FirstSequence = DefaultFirstSequence
	}
	return c
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// Validate reports whether the configuration, with its zero fields replaced
// by their defaults, is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	positive := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("plumtree: %s must be positive, got %d", name, v))
		}
	}
	positive("GraftTimeout1", int64(c.GraftTimeout1))
	positive("GraftTimeout2", int64(c.GraftTimeout2))
	positive("MinGraftTimeout", int64(c.MinGraftTimeout))
	if c.MinGraftTimeout > c.GraftTimeout1 {
		errs = append(errs, fmt.Errorf("plumtree: MinGraftTimeout (%v) must be <= GraftTimeout1 (%v)", c.MinGraftTimeout, c.GraftTimeout1))
	}
	positive("PayloadRetention", int64(c.PayloadRetention))
	positive("SeenRetention", int64(c.SeenRetention))
	positive("CalmPayloadRetention", int64(c.CalmPayloadRetention))
	if c.CalmPayloadRetention > c.PayloadRetention {
		errs = append(errs, fmt.Errorf("plumtree: CalmPayloadRetention (%v) must be <= PayloadRetention (%v)", c.CalmPayloadRetention, c.PayloadRetention))
	}
	positive("MaxIHaveEntries", int64(c.MaxIHaveEntries))
	positive("OptimizationThreshold", int64(c.OptimizationThreshold))
	positive("MaxCachedPayloads", int64(c.MaxCachedPayloads))
	positive("MaxCachedBytes", int64(c.MaxCachedBytes))
	positive("MaxSeenIDs", int64(c.MaxSeenIDs))
	positive("MaxMissing", int64(c.MaxMissing))
	positive("MaxPayloadBytes", int64(c.MaxPayloadBytes))
	positive("NeighborUpAnnouncements", int64(c.NeighborUpAnnouncements))
	if c.IDPolicy != IDOriginSequence && c.IDPolicy != IDContentHash {
		errs = append(errs, fmt.Errorf("plumtree: unknown IDPolicy %d", c.IDPolicy))
	}
	if c.SeenRetention < c.PayloadRetention {
		errs = append(errs, fmt.Errorf("plumtree: SeenRetention (%v) must be >= PayloadRetention (%v)", c.SeenRetention, c.PayloadRetention))
	}
	if c.MaxSeenIDs < c.MaxCachedPayloads {
		errs = append(errs, fmt.Errorf("plumtree: MaxSeenIDs (%d) must be >= MaxCachedPayloads (%d)", c.MaxSeenIDs, c.MaxCachedPayloads))
	}
	if c.MaxSeenIDs > maxIndexSlots/2 {
		errs = append(errs, fmt.Errorf("plumtree: MaxSeenIDs (%d) must be <= %d", c.MaxSeenIDs, maxIndexSlots/2))
	}
	if c.MaxCachedBytes < c.MaxPayloadBytes {
		errs = append(errs, fmt.Errorf("plumtree: MaxCachedBytes (%d) must be >= MaxPayloadBytes (%d)", c.MaxCachedBytes, c.MaxPayloadBytes))
	}
	return errors.Join(errs...)
}
