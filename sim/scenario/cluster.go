package scenario

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/sim/engine"
)

// quiesceLimit bounds one "run until no more messages are traveling" step
// (S2 §4.1) in virtual time; nothing in a healthy cycle comes near it.
const quiesceLimit = 10 * time.Minute

// CycleCluster is a cluster run in the papers' cycle model: joins one by
// one, membership rounds driven by Cycle, broadcasts run to quiescence.
type CycleCluster struct {
	*engine.Sim
	progress *Progress
}

// CycleOptions sets up a CycleCluster.
type CycleOptions struct {
	Nodes int
	Seed  uint64
	// DetectOnSend is the HyParView paper's failure model (found while
	// forwarding); without it failures are found only by DetectFailures,
	// the Plumtree paper's membership step.
	DetectOnSend bool
	// DetectAfter, when positive, tells a crashed node's neighbours after
	// this long, as a keep-alive would.
	DetectAfter time.Duration
	// Latency is the links' delay (zero: 1 ms on every link, the papers'
	// uniform delay; engine.Latency.PerMessage draws one per message).
	Latency engine.Latency
	// Check runs every node's invariants after each step.
	Check bool
	// Engine configures the cores; the zero value gives the papers'
	// settings for Nodes nodes.
	Engine gossip.Config
	// Progress, if set, reports long phases.
	Progress *Progress
	// Meter, if set, counts the run's events and those of its clones,
	// for the progress of parallel jobs (Progress.Meter).
	Meter *atomic.Uint64
	// Workers, above 1, steps the engines of large instants on that many
	// goroutines (engine.Config.Workers): the same run, faster on idle
	// cores.
	Workers int
	// JoinBatch, above 1, joins the nodes after the first that many at
	// once through node 0, the run going to quiescence after each batch
	// rather than after each join (a burst of joiners, as a deployment may
	// start them): a different run, and a different overlay.
	JoinBatch int
}

// PaperEngineConfig is the cores' configuration the papers simulate for
// n nodes: active log10(n)+1, passive 6 times that, ARWL 6, PRWL 3
// (S1 §5.1), and IHAVEs sent at once without batching (S2 §4.1).
func PaperEngineConfig(n int, optimizationThreshold int) gossip.Config {
	cfg := gossip.Config{HyParView: hyparview.ConfigForClusterSize(n)}
	cfg.Plumtree.LazyPushDelay = -1
	if optimizationThreshold > 0 {
		cfg.Plumtree.OptimizationThreshold = optimizationThreshold
	} else {
		cfg.Plumtree.DisableOptimization = true
	}
	return cfg
}

// s1Flood turns cfg's broadcast into S1's gossip: every payload flooded
// to every active neighbour but its sender (Plumtree's Flood mode). A
// flooding node holds one payload, the fewest its configuration allows
// (plumtree.Config.MaxCachedPayloads): held payloads answer GRAFTs, and
// with no tree and no announcements (NeighborUpAnnouncements is 0 in
// PaperEngineConfig) no IHave is ever sent, so no GRAFT ever comes. The
// tables do not change; each delivery writes one ring fewer.
func s1Flood(cfg gossip.Config) gossip.Config {
	cfg.Plumtree.Flood = true
	cfg.Plumtree.MaxCachedPayloads = 1
	cfg.Plumtree.NeighborUpAnnouncements = 0 // what makes one enough
	return cfg
}

// S1OnlyNote is the line a table prints when it ran with S1Only: the
// project's switchable additions to HyParView off.
const S1OnlyNote = "HyParView as S1 describes it: no refresh, no escalation, no repair on every cycle, no join eviction budget (hyparview.Config.S1Only)"

// writeModelNotes prints the lines of a table that say how its HyParView
// and its links departed from the default: S1OnlyNote and the links'
// delays.
func writeModelNotes(w io.Writer, s1Only bool, l engine.Latency) {
	if s1Only {
		fmt.Fprintln(w, S1OnlyNote)
	}
	if note := latencyNote(l); note != "" {
		fmt.Fprintln(w, note)
	}
}

// latencyNote is the line a table prints when its links are not the
// default's 1 ms each, or "" for the default.
func latencyNote(l engine.Latency) string {
	switch {
	case l == (engine.Latency{}):
		return ""
	case l.Min == l.Max:
		return fmt.Sprintf("every message takes %v on every link", l.Min)
	case l.PerMessage:
		return fmt.Sprintf("each message takes %v to %v (log-uniform, drawn per message, in order on each link)", l.Min, l.Max)
	}
	return fmt.Sprintf("each link takes %v to %v (log-uniform, drawn once per link)", l.Min, l.Max)
}

// s1Only applies hyparview.Config.S1Only to cfg when on.
func s1Only(cfg gossip.Config, on bool) gossip.Config {
	if on {
		cfg.HyParView = cfg.HyParView.S1Only()
	}
	return cfg
}

// NewCycleCluster joins opts.Nodes nodes one by one through node 0, with
// no membership rounds in between (S1 §5.1). HyParView runs without its
// early ticks there, as in every cycle model (engine.Config.ManualShuffle).
func NewCycleCluster(opts CycleOptions) (*CycleCluster, error) {
	if opts.Nodes < 2 {
		return nil, fmt.Errorf("scenario: need at least 2 nodes, got %d", opts.Nodes)
	}
	s, err := engine.New(engine.Config{
		Seed:            opts.Seed,
		Engine:          opts.Engine,
		ManualShuffle:   true,
		CheckInvariants: opts.Check,
		Network:         engine.NetworkConfig{DetectOnSend: opts.DetectOnSend, DetectAfter: opts.DetectAfter, Latency: opts.Latency},
		EventMeter:      opts.Meter,
		Workers:         opts.Workers,
	})
	if err != nil {
		return nil, err
	}
	c := &CycleCluster{Sim: s, progress: opts.Progress}
	if err := joinInBatches(s, opts.Nodes, max(opts.JoinBatch, 1), opts.Progress, "joining", func() error { return s.Quiesce(quiesceLimit) }); err != nil {
		return nil, err
	}
	return c, nil
}

// joinOneByOne adds n nodes to s, the first alone and each other through
// node 0 (the papers' single contact), running wait after each join.
func joinOneByOne(s *engine.Sim, n int, progress *Progress, phase string, wait func() error) error {
	return joinInBatches(s, n, 1, progress, phase, wait)
}

// joinInBatches is joinOneByOne with the nodes after the first joining
// batch at a time, wait running after the first node's join and after
// each batch.
func joinInBatches(s *engine.Sim, n, batch int, progress *Progress, phase string, wait func() error) error {
	progress.Start(phase, n)
	defer progress.Done()
	for i := 0; i < n; i++ {
		id, err := s.AddNode()
		if err != nil {
			return err
		}
		if id == 0 {
			s.Join(id)
		} else {
			s.Join(id, 0)
		}
		if i%batch == 0 || i == n-1 {
			if err := wait(); err != nil {
				return err
			}
		}
		progress.Tick(i+1, s)
	}
	return nil
}

// Cycles runs k membership rounds, each followed by quiescence.
func (c *CycleCluster) Cycles(k int, phase string) error {
	c.progress.Start(phase, k)
	for i := 0; i < k; i++ {
		if err := c.Cycle(); err != nil {
			return err
		}
		if err := c.Quiesce(quiesceLimit); err != nil {
			return err
		}
		c.progress.Tick(i+1, c.Sim)
	}
	c.progress.Done()
	return nil
}

// BroadcastFromRandom broadcasts one message from a random live node and
// runs to quiescence; it returns what the run observed of it.
func (c *CycleCluster) BroadcastFromRandom(payload []byte) (engine.Broadcast, error) {
	live := c.LiveCount()
	if live == 0 {
		return engine.Broadcast{}, fmt.Errorf("scenario: no live node to broadcast from")
	}
	return c.BroadcastFrom(c.LiveNode(c.Rand().IntN(live)), payload)
}

// BroadcastFrom broadcasts one message from node n and runs to quiescence.
func (c *CycleCluster) BroadcastFrom(n int, payload []byte) (engine.Broadcast, error) {
	id, err := c.Broadcast(n, payload)
	if err != nil {
		return engine.Broadcast{}, err
	}
	if err := c.Quiesce(quiesceLimit); err != nil {
		return engine.Broadcast{}, err
	}
	b, _ := c.BroadcastByID(id)
	return b, nil
}

// CrashFraction crashes the given share of the live nodes, chosen at
// random, all at once, and returns how many it crashed.
func (c *CycleCluster) CrashFraction(f float64) int {
	live := c.LiveNodes()
	k := int(f*float64(len(live)) + 0.5)
	perm := c.Rand().Perm(len(live))
	for _, i := range perm[:k] {
		c.Crash(live[i])
	}
	return k
}

// RejoinStranded gives every live node that knows no peer at all, active
// or passive, a random live node to join through, and returns how many it
// gave one. Such a node cannot repair by itself: its seed contacts are
// the only peers it could ask, and after a massive failure they may all
// be dead. A deployment re-resolves its seeds then (gossip's rejoin tick
// asks its driver for it, Ready.ResolveContacts); here a random live node
// stands in for a seed name that now points at a live agent. It is the
// driver's rule, not the protocol's.
func (c *CycleCluster) RejoinStranded() int {
	live := c.LiveNodes()
	if len(live) < 2 {
		return 0
	}
	var stranded []int
	var scratch []hyparview.Peer
	for _, n := range live {
		e := c.Engine(n)
		scratch = e.AppendActive(scratch[:0])
		if len(scratch) == 0 && len(e.Passive()) == 0 {
			stranded = append(stranded, n)
		}
	}
	for _, n := range stranded {
		contact := n
		for contact == n {
			contact = live[c.Rand().IntN(len(live))]
		}
		c.Join(n, contact)
	}
	return len(stranded)
}

// payload returns a distinct payload for the i-th message of a phase.
func payload(phase string, i int) []byte { return []byte(fmt.Sprintf("%s-%d", phase, i)) }

// meanReliability averages the reliability of the given broadcasts.
func meanReliability(bs []engine.Broadcast) float64 {
	if len(bs) == 0 {
		return 0
	}
	sum := 0.0
	for _, b := range bs {
		sum += b.Reliability()
	}
	return sum / float64(len(bs))
}
