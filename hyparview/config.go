package hyparview

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxTTL bounds the TTL of ForwardJoin and Shuffle walks, in our
// configuration and in received messages. Walks in S1 are a handful of hops
// (ARWL 6, S1 §5.1); a larger TTL from a peer is treated as malformed.
const MaxTTL = 32

// Config holds the protocol parameters. A zero field means its default;
// DefaultConfig lists them with their origin.
type Config struct {
	// ActiveViewSize bounds the active view. Default 5: log10(n)+c with
	// c = 1 and n = 10,000 (S1 §4.1, §5.1).
	ActiveViewSize int
	// PassiveViewSize bounds the passive view. Default 30: k·(log10(n)+c)
	// with k = 6 (S1 §4.1, §5.1).
	PassiveViewSize int
	// ActiveRandomWalkLength (ARWL) is the TTL a contact gives ForwardJoin.
	// Default 6 (S1 §5.1).
	ActiveRandomWalkLength int
	// PassiveRandomWalkLength (PRWL) is the TTL at which a ForwardJoin puts
	// the new node in the passive view. Default 3 (S1 §5.1).
	PassiveRandomWalkLength int
	// ShuffleActiveCount (ka) is how many active members a Shuffle carries.
	// Default 3 (S1 §5.1), or ActiveViewSize if smaller.
	ShuffleActiveCount int
	// ShufflePassiveCount (kp) is how many passive members a Shuffle
	// carries. Default 4 (S1 §5.1), or PassiveViewSize if smaller. With
	// the origin itself, a Shuffle carries at most 1+ka+kp = 8 peers.
	ShufflePassiveCount int
	// ShuffleTTL is the walk length of a Shuffle. S1 §4.4 only says it
	// travels "just like the ForwardJoin"; default 6 (= ARWL) is a guess to
	// validate.
	ShuffleTTL int
	// ShuffleInterval is the period of the shuffle, jittered by ±10%. S1
	// shuffles once per simulation cycle and gives no time; default 10s is
	// a guess to validate.
	ShuffleInterval time.Duration
	// NeighborRequestTimeout is the first wait for a NeighborReply; an
	// unanswered peer is treated as unreachable (S1 §4.3 relies on TCP
	// connection set-up instead), and the waits that follow double, up
	// to 16 times this, while requests go unanswered (doc.go, deviation
	// 6). Default 500ms is a guess to validate.
	NeighborRequestTimeout time.Duration
	// JoinTimeout is the first wait for a contact's answer to Join before
	// the next contact is tried; it backs off as NeighborRequestTimeout
	// does. Default 1s is a guess to validate.
	JoinTimeout time.Duration
	// JoinEvictionsPerShuffle is the node's join eviction budget: how many
	// established neighbours, links made before its current shuffle
	// period, it may drop per shuffle period to make room for newcomers, that
	// is for a Join it receives as a contact or for a join walk that ends
	// here (S1 §4.2, Algorithm 1). The budget refills to this value
	// whenever the shuffle timer starts a period (every ShuffleInterval;
	// the early ticks of doc.go, deviation 14, start none), so no clock
	// is read. Setting it also changes which neighbour a full node drops:
	// for a newcomer, a link made since the period began goes first, at no
	// cost; no drop takes a neighbour that started a join walk through us
	// since then (a newcomer's contact) while another can go. A newcomer
	// that would need an established neighbour dropped once the budget is
	// spent is served without a link: a Join is refused but its join walks
	// still start, a join walk ending here puts the newcomer in the passive
	// view. High-priority Neighbor requests, the repair of isolated nodes
	// (S1 §4.3), are never refused; they spend the budget too, and once it
	// is spent drop a link made since the period began first. See doc.go,
	// deviation 12, for the rules and their measurements.
	// Zero means unlimited, S1's behaviour and the default, which the
	// simulator's reproductions of the papers run; gossip.ProductionConfig
	// sets 1.
	JoinEvictionsPerShuffle int
	// WithoutRefresh turns off the random refresh of doc.go, deviation 7:
	// a connected node never forces a link to a seed contact or a passive
	// peer by chance (shouldRefresh). S1 has no such step; the
	// simulator's paper mode sets it. Closed islands then persist unless
	// something else breaks them (the member list's island check, package
	// gossip). False, the default, keeps the refresh.
	WithoutRefresh bool
	// WithoutEscalation turns off the escalation of starved nodes (doc.go,
	// deviation 7): a node with at most half its slots filled whose
	// passive peers all refused it asks no one with high priority. S1 uses
	// high priority only for an empty active view (§4.3). False, the
	// default, keeps the escalation.
	WithoutEscalation bool
	// WithoutTickRepair turns off the repair on every shuffle tick
	// (doc.go, deviation 5): the active view is refilled only when a
	// neighbour fails, leaves or refuses, as in S1 §4.3, so a node refused
	// by full peers stays short of neighbours until the next such event,
	// and a node that a DISCONNECT leaves with no neighbour asks with high
	// priority at once (doc.go, deviation 4), since no tick would.
	// False, the default, keeps the repair.
	WithoutTickRepair bool
	// WithoutBackoff keeps the request timeouts fixed (doc.go, deviation
	// 6): a request unanswered within NeighborRequestTimeout or
	// JoinTimeout never makes the next ones wait longer. The papers'
	// simulated links answer within milliseconds, and S1Only sets it so
	// that their experiments run as before the backoff. False, the
	// default, backs off.
	WithoutBackoff bool
	// WithoutEarlyTicks turns off a young node's early ticks (doc.go,
	// deviation 14): by default its first five shuffle ticks after its
	// first InputJoin come at a tenth of ShuffleInterval, within its first
	// period, so that an island closed by a burst of joins opens within
	// seconds. S1 has one period from the start, and S1Only sets it.
	// False, the default, ticks early.
	WithoutEarlyTicks bool
}

// S1Only returns c with the additions to S1 that are switchable turned
// off (WithoutRefresh, WithoutEscalation, WithoutTickRepair,
// WithoutBackoff, WithoutEarlyTicks) and no join
// eviction budget: the protocol as S1 describes it, as far as the core
// can run it (the other deviations of doc.go stand in for TCP or fill
// gaps of the paper's text). The simulator's paper mode uses it.
func (c Config) S1Only() Config {
	c.WithoutRefresh, c.WithoutEscalation, c.WithoutTickRepair, c.WithoutBackoff = true, true, true, true
	c.WithoutEarlyTicks = true
	c.JoinEvictionsPerShuffle = 0
	return c
}

// Defaults, with their origin.
const (
	defaultActiveViewSize          = 5                      // S1 §4.1, §5.1
	defaultPassiveViewFactor       = 6                      // k, S1 §4.1
	defaultActiveRandomWalkLength  = 6                      // S1 §5.1
	defaultPassiveRandomWalkLength = 3                      // S1 §5.1
	defaultShuffleActiveCount      = 3                      // ka, S1 §5.1
	defaultShufflePassiveCount     = 4                      // kp, S1 §5.1
	defaultShuffleTTL              = 6                      // a guess to validate
	defaultShuffleInterval         = 10 * time.Second       // a guess to validate
	defaultNeighborRequestTimeout  = 500 * time.Millisecond // a guess to validate
	defaultJoinTimeout             = time.Second            // a guess to validate
)

// DefaultConfig returns the settings of the paper's simulations (S1 §5.1)
// and our guesses for what the paper leaves open.
func DefaultConfig() Config {
	return Config{
		ActiveViewSize:          defaultActiveViewSize,
		PassiveViewSize:         defaultPassiveViewFactor * defaultActiveViewSize,
		ActiveRandomWalkLength:  defaultActiveRandomWalkLength,
		PassiveRandomWalkLength: defaultPassiveRandomWalkLength,
		ShuffleActiveCount:      defaultShuffleActiveCount,
		ShufflePassiveCount:     defaultShufflePassiveCount,
		ShuffleTTL:              defaultShuffleTTL,
		ShuffleInterval:         defaultShuffleInterval,
		NeighborRequestTimeout:  defaultNeighborRequestTimeout,
		JoinTimeout:             defaultJoinTimeout,
	}
}

// ConfigForClusterSize returns DefaultConfig with the view sizes of S1 §4.1
// for an expected cluster of n nodes: active = floor(log10(n))+1, passive =
// 6·active. The active size is at least 2, because with one neighbour each
// the overlay is a set of disjoint pairs. ShuffleActiveCount is capped at the
// active size.
func ConfigForClusterSize(n int) Config {
	c := DefaultConfig()
	active := 1
	for m := n; m >= 10; m /= 10 {
		active++
	}
	active = max(active, 2)
	c.ActiveViewSize = active
	c.PassiveViewSize = defaultPassiveViewFactor * active
	c.ShuffleActiveCount = min(c.ShuffleActiveCount, active)
	return c
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ActiveViewSize == 0 {
		c.ActiveViewSize = d.ActiveViewSize
	}
	if c.PassiveViewSize == 0 {
		c.PassiveViewSize = defaultPassiveViewFactor * c.ActiveViewSize
	}
	setInt(&c.ActiveRandomWalkLength, d.ActiveRandomWalkLength)
	setInt(&c.PassiveRandomWalkLength, d.PassiveRandomWalkLength)
	setInt(&c.ShuffleActiveCount, min(d.ShuffleActiveCount, c.ActiveViewSize))
	setInt(&c.ShufflePassiveCount, min(d.ShufflePassiveCount, c.PassiveViewSize))
	setInt(&c.ShuffleTTL, d.ShuffleTTL)
	setDuration(&c.ShuffleInterval, d.ShuffleInterval)
	setDuration(&c.NeighborRequestTimeout, d.NeighborRequestTimeout)
	setDuration(&c.JoinTimeout, d.JoinTimeout)
	return c
}

func setInt(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

func setDuration(v *time.Duration, d time.Duration) {
	if *v == 0 {
		*v = d
	}
}

// maxViewSize keeps view sizes in a range where linear scans stay cheap and
// sizes fit in the arithmetic below.
const maxViewSize = 1 << 16

// Validate reports whether c, with its zero fields set to their defaults, is
// usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	positive := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("hyparview: %s must be positive, got %d", name, v))
		}
	}
	positive("ActiveViewSize", c.ActiveViewSize)
	positive("PassiveViewSize", c.PassiveViewSize)
	positive("ActiveRandomWalkLength", c.ActiveRandomWalkLength)
	positive("PassiveRandomWalkLength", c.PassiveRandomWalkLength)
	positive("ShuffleActiveCount", c.ShuffleActiveCount)
	positive("ShufflePassiveCount", c.ShufflePassiveCount)
	positive("ShuffleTTL", c.ShuffleTTL)
	positive("JoinEvictionsPerShuffle", c.JoinEvictionsPerShuffle)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ShuffleInterval", c.ShuffleInterval},
		{"NeighborRequestTimeout", c.NeighborRequestTimeout},
		{"JoinTimeout", c.JoinTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("hyparview: %s must be positive, got %v", d.name, d.v))
		}
	}
	if c.ActiveViewSize > maxViewSize || c.PassiveViewSize > maxViewSize {
		errs = append(errs, fmt.Errorf("hyparview: view sizes must be at most %d, got %d and %d",
			maxViewSize, c.ActiveViewSize, c.PassiveViewSize))
	}
	if c.PassiveRandomWalkLength > c.ActiveRandomWalkLength {
		errs = append(errs, fmt.Errorf("hyparview: PassiveRandomWalkLength (%d) must not exceed ActiveRandomWalkLength (%d)",
			c.PassiveRandomWalkLength, c.ActiveRandomWalkLength))
	}
	if c.ActiveRandomWalkLength > MaxTTL || c.ShuffleTTL > MaxTTL {
		errs = append(errs, fmt.Errorf("hyparview: ActiveRandomWalkLength (%d) and ShuffleTTL (%d) must be at most %d",
			c.ActiveRandomWalkLength, c.ShuffleTTL, MaxTTL))
	}
	if c.ShuffleActiveCount > c.ActiveViewSize {
		errs = append(errs, fmt.Errorf("hyparview: ShuffleActiveCount (%d) must not exceed ActiveViewSize (%d)",
			c.ShuffleActiveCount, c.ActiveViewSize))
	}
	if c.ShufflePassiveCount > c.PassiveViewSize {
		errs = append(errs, fmt.Errorf("hyparview: ShufflePassiveCount (%d) must not exceed PassiveViewSize (%d)",
			c.ShufflePassiveCount, c.PassiveViewSize))
	}
	if c.ShuffleInterval > math.MaxInt64/2 {
		errs = append(errs, fmt.Errorf("hyparview: ShuffleInterval %v is too large", c.ShuffleInterval))
	}
	return errors.Join(errs...)
}

// maxPeerList bounds the Peers of a received Shuffle or ShuffleReply:
// four times what our own Shuffle carries (1+ka+kp), so peers configured a
// little differently still interoperate while a flood is refused.
func (c Config) maxPeerList() int {
	return 4 * (1 + c.ShuffleActiveCount + c.ShufflePassiveCount)
}
