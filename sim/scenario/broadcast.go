package scenario

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/plumview/plumview/sim/engine"
)

// Protocol is the dissemination protocol an experiment runs on the
// HyParView overlay.
type Protocol uint8

// The protocols the Plumtree paper compares (S2 §4).
const (
	// Eager is plain push gossip: every payload to every neighbour.
	Eager Protocol = iota + 1
	// Plumtree is the tree with lazy links and GRAFT repair, without the
	// optimisation.
	Plumtree
	// PlumtreeOptimized adds Algorithm 4, which swaps in shorter lazy paths.
	PlumtreeOptimized
)

func (p Protocol) String() string {
	switch p {
	case Eager:
		return "eager"
	case Plumtree:
		return "plumtree"
	case PlumtreeOptimized:
		return "plumtree+opt"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// BroadcastOptions sets up the Plumtree paper's experiment (S2 §4.1;
// docs/simulation.md, Experiment 3).
type BroadcastOptions struct {
	Nodes int
	Seed  uint64
	// Cycles is the total number of cycles (the paper: 250), the first
	// Stabilisation of which are not measured (the paper: 50).
	Cycles        int
	Stabilisation int
	// Protocols and the sender modes to run; each pair is one row.
	Protocols []Protocol
	// MultipleSenders lists the modes: false is a single sender (s-s), true
	// a random sender each cycle sharing one tree (m-s).
	MultipleSenders []bool
	// ConstantFailures crashes this many nodes in each of the
	// ConstantFailureCycles cycles after stabilisation (the paper: 50 in
	// each of 100). Zero runs the stable scenario.
	ConstantFailures      int
	ConstantFailureCycles int
	// Latency is the links' delay (zero: 1 ms on every link, the papers'
	// uniform delay; engine.Latency.PerMessage draws one per message).
	Latency engine.Latency
	// S1Only runs HyParView without the project's switchable additions
	// (hyparview.Config.S1Only), as the paper describes it.
	S1Only   bool
	Check    bool
	Progress *Progress
}

// PaperBroadcastOptions returns the stable scenario as S2 §4.1 sets it up.
func PaperBroadcastOptions(n int) BroadcastOptions {
	return BroadcastOptions{
		Nodes:           n,
		Cycles:          250,
		Stabilisation:   50,
		Protocols:       []Protocol{Eager, Plumtree, PlumtreeOptimized},
		MultipleSenders: []bool{false, true},
	}
}

func (o *BroadcastOptions) validate() error {
	switch {
	case o.Nodes < 2:
		return fmt.Errorf("scenario: need at least 2 nodes, got %d", o.Nodes)
	case o.Stabilisation < 0 || o.Cycles <= o.Stabilisation:
		return fmt.Errorf("scenario: need Cycles > Stabilisation >= 0, got %d and %d", o.Cycles, o.Stabilisation)
	case len(o.Protocols) == 0 || len(o.MultipleSenders) == 0:
		return fmt.Errorf("scenario: no protocol or sender mode to run")
	case o.ConstantFailures < 0 || o.ConstantFailureCycles < 0:
		return fmt.Errorf("scenario: negative failure settings")
	case o.ConstantFailures*o.ConstantFailureCycles >= o.Nodes:
		return fmt.Errorf("scenario: %d failures in each of %d cycles would leave no node", o.ConstantFailures, o.ConstantFailureCycles)
	}
	return nil
}

// CycleSample is what one measured cycle's broadcast observed.
type CycleSample struct {
	Cycle       int
	Reliability float64
	RMR         float64 // NaN when fewer than two nodes delivered
	LDH         uint32
	Payload     uint64 // payload messages sent during the cycle
	Control     uint64 // IHAVE, GRAFT and PRUNE messages sent during the cycle
}

// BroadcastRow is the outcome of one protocol in one sender mode.
type BroadcastRow struct {
	Protocol        Protocol
	MultipleSenders bool
	Samples         []CycleSample
}

// Mean returns the means of the row's samples: reliability, RMR (over the
// samples where it is defined), LDH, payload and control messages per cycle.
func (r BroadcastRow) Mean() (rel, rmr, ldh, payload, control float64) {
	var nRMR int
	for _, s := range r.Samples {
		rel += s.Reliability
		if s.RMR == s.RMR { // not NaN
			rmr += s.RMR
			nRMR++
		}
		ldh += float64(s.LDH)
		payload += float64(s.Payload)
		control += float64(s.Control)
	}
	n := float64(len(r.Samples))
	if n == 0 {
		return
	}
	if nRMR > 0 {
		rmr /= float64(nRMR)
	}
	return rel / n, rmr, ldh / n, payload / n, control / n
}

// RunBroadcast runs every protocol in every sender mode on the same overlay
// (the same seed builds the same overlay) in the cycle model of S2 §4.1:
// each cycle a failure step, one broadcast run until no message travels,
// then a membership step that also detects failed neighbours.
func RunBroadcast(o BroadcastOptions) ([]BroadcastRow, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	rows := make([]BroadcastRow, len(o.MultipleSenders)*len(o.Protocols))
	err := forEach(len(rows), "broadcast experiment", o.Progress, func(i int) error {
		var err error
		rows[i], err = o.run(o.Protocols[i%len(o.Protocols)], o.MultipleSenders[i/len(o.Protocols)])
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// cluster builds the overlay for protocol p in the given sender mode.
func (o *BroadcastOptions) cluster(p Protocol, multi bool) (*CycleCluster, error) {
	threshold := 0
	if p == PlumtreeOptimized {
		threshold = 3 // S2 §4.1, single sender
		if multi {
			threshold = 7 // S2 §4.1, multiple senders: close to the diameter
		}
	}
	cfg := s1Only(PaperEngineConfig(o.Nodes, threshold), o.S1Only)
	cfg.Plumtree.Flood = p == Eager
	return NewCycleCluster(CycleOptions{Nodes: o.Nodes, Seed: o.Seed, Check: o.Check, Engine: cfg, Meter: o.Progress.Meter(), Latency: o.Latency})
}

// broadcastCycle runs the broadcast and membership steps of one cycle of
// S2 §4.1: one broadcast from node from, run until no message travels, then
// the periodic membership round and the detection of failed neighbours.
func (c *CycleCluster) broadcastCycle(from, cycle int) (CycleSample, error) {
	before := c.Stats()
	b, err := c.BroadcastFrom(from, payload("cycle", cycle))
	if err != nil {
		return CycleSample{}, err
	}
	after := c.Stats()
	sample := CycleSample{
		Cycle: cycle, Reliability: b.Reliability(), RMR: b.RMR(), LDH: b.LastHop,
		Payload: after.PayloadSent - before.PayloadSent,
		Control: after.ControlSent - before.ControlSent,
	}
	if err := c.Cycle(); err != nil {
		return CycleSample{}, err
	}
	c.DetectFailures()
	return sample, c.Quiesce(quiesceLimit)
}

// pickSender returns the fixed sender, or a random live node with multi.
func (c *CycleCluster) pickSender(sender int, multi bool) int {
	if !multi {
		return sender
	}
	return c.LiveNode(c.Rand().IntN(c.LiveCount()))
}

func (o *BroadcastOptions) run(p Protocol, multi bool) (BroadcastRow, error) {
	c, err := o.cluster(p, multi)
	if err != nil {
		return BroadcastRow{}, err
	}
	row := BroadcastRow{Protocol: p, MultipleSenders: multi}
	sender := c.Rand().IntN(o.Nodes)
	for cycle := 0; cycle < o.Cycles; cycle++ {
		// Failure step.
		if k := cycle - o.Stabilisation; k >= 0 && k < o.ConstantFailureCycles {
			c.crashRandom(o.ConstantFailures, sender)
		}
		sample, err := c.broadcastCycle(c.pickSender(sender, multi), cycle)
		if err != nil {
			return BroadcastRow{}, err
		}
		if cycle >= o.Stabilisation {
			row.Samples = append(row.Samples, sample)
		}
	}
	return row, nil
}

// crashRandom crashes k random live nodes other than keep.
func (c *CycleCluster) crashRandom(k, keep int) {
	live := c.LiveNodes()
	perm := c.Rand().Perm(len(live))
	for _, i := range perm {
		if k == 0 {
			return
		}
		if live[i] != keep {
			c.Crash(live[i])
			k--
		}
	}
}

// WriteBroadcastTable prints one line per protocol and sender mode.
func WriteBroadcastTable(w io.Writer, o BroadcastOptions, rows []BroadcastRow) error {
	writeBroadcastSetting(w, o)
	fmt.Fprintf(w, "(RMR = payload messages / (receivers - 1) - 1; LDH = hops to the last delivery; means over the measured cycles)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"protocol", "senders", "reliability", "RMR", "LDH", "payload/cycle", "control/cycle"}, "\t")+"\t")
	for _, r := range rows {
		rel, rmr, ldh, pay, ctl := r.Mean()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.2f\t%.0f\t%.0f\t\n", r.Protocol, r.senders(), pct(rel), rmr, ldh, pay, ctl)
	}
	return tw.Flush()
}

// senders names the row's sender mode.
func (r BroadcastRow) senders() string {
	if r.MultipleSenders {
		return "multiple"
	}
	return "single"
}

// writeBroadcastSetting prints the experiment's setting, a line for each
// departure from the default.
func writeBroadcastSetting(w io.Writer, o BroadcastOptions) {
	fmt.Fprintf(w, "Plumtree against eager push gossip: %d nodes, %d cycles (the first %d not measured), one broadcast per cycle run to quiescence\n",
		o.Nodes, o.Cycles, o.Stabilisation)
	writeModelNotes(w, o.S1Only, o.Latency)
	if o.ConstantFailures > 0 {
		fmt.Fprintf(w, "%d nodes fail in each of the %d cycles after stabilisation; failures are detected in the membership step\n",
			o.ConstantFailures, o.ConstantFailureCycles)
	}
}
