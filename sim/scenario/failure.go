package scenario

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plumview/plumview/plumtree"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/sim/engine"
)

// FailureOptions sets up the HyParView massive-failure experiment
// (S1 §5.1 to §5.3; docs/simulation.md, Experiment 1).
type FailureOptions struct {
	Nodes int
	Seed  uint64
	// Cycles of stabilisation before the failure (the paper: 50).
	Cycles int
	// Rates are the shares of nodes that fail at once (the paper: 0.1 to
	// 0.95).
	Rates []float64
	// Messages broadcast from random live nodes after the failure, before
	// the next membership round (the paper: 1,000).
	Messages int
	// FirstMessages is how many of the first messages' reliabilities to
	// report one by one.
	FirstMessages int
	// PerCycle is the number of broadcasts per healing cycle (the paper: 10).
	PerCycle int
	// MaxHealingCycles bounds the healing phase.
	MaxHealingCycles int
	// DetectAfter, when positive, adds keep-alive failure detection to the
	// paper's detection while forwarding: a crash is noticed by its
	// neighbours this long after it happens.
	DetectAfter time.Duration
	// Latency is the links' delay (zero: 1 ms on every link, the papers'
	// uniform delay; engine.Latency.PerMessage draws one per message).
	Latency engine.Latency
	// S1Only runs HyParView without the project's switchable additions
	// (hyparview.Config.S1Only), as the paper describes it.
	S1Only bool
	// RejoinStranded gives, before each healing cycle, every live node
	// that knows no peer at all a random live node to join through
	// (CycleCluster.RejoinStranded): without it, a survivor whose only
	// seed contact died stays cut off for good.
	RejoinStranded bool
	// Spacing, when positive, sends the Messages broadcasts after the
	// failure this far apart in virtual time, each running alongside the
	// next, instead of each to quiescence: repairs then take the time
	// they take, and the reliability of message k shows the overlay k
	// spacings after the failure (S1 Fig. 3's curve).
	Spacing  time.Duration
	Check    bool
	Progress *Progress
}

// FailureRow is the outcome for one failure rate.
type FailureRow struct {
	Rate    float64
	Crashed int
	// Before is the mean reliability of PerCycle broadcasts before the
	// failure.
	Before float64
	// Mean is the mean reliability of the Messages broadcasts after it.
	Mean float64
	// First holds the reliability of each of the first messages.
	First []float64
	// Series holds the reliability of every message after the failure, in
	// the order they were sent.
	Series []float64
	// HealingCycles is the number of membership cycles, each with PerCycle
	// broadcasts, until their mean reliability is back to Before: 0 when
	// the first cycle after the failure already is, -1 if it never was
	// within MaxHealingCycles.
	HealingCycles int
	// Healing holds the mean reliability of each healing cycle's PerCycle
	// broadcasts, in order, from cycle 0 (right after the failure, before
	// any membership cycle) to the cycle that healed or the last one run.
	Healing []float64
	// Parts is the number of connected components of the survivors'
	// active views at the end of the healing job, and Largest the share
	// of the live nodes in the largest of them (0 and 0 where the
	// overlay has no active views, as in the Cyclon baseline). Reliability
	// is measured against every live node (S1 §2.5: "the percentage of
	// active nodes that deliver"), so survivors cut off in a part of
	// their own keep it below 100 %; Largest says how much of that is
	// islands.
	Parts   int
	Largest float64
}

// PaperFailureOptions returns the experiment as S1 §5 sets it up, for n
// nodes: 50 cycles of stabilisation, failures of 10 % to 95 %, 1,000
// messages, healing measured with 10 broadcasts per cycle.
func PaperFailureOptions(n int) FailureOptions {
	return FailureOptions{
		Nodes:            n,
		Cycles:           50,
		Rates:            []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95},
		Messages:         1000,
		FirstMessages:    5,
		PerCycle:         10,
		MaxHealingCycles: 100,
	}
}

func (o *FailureOptions) validate() error {
	switch {
	case o.Nodes < 2:
		return fmt.Errorf("scenario: need at least 2 nodes, got %d", o.Nodes)
	case o.Cycles < 0:
		return fmt.Errorf("scenario: negative number of cycles %d", o.Cycles)
	case len(o.Rates) == 0:
		return fmt.Errorf("scenario: no failure rate given")
	case o.Messages < 1 || o.PerCycle < 1:
		return fmt.Errorf("scenario: need at least one message and one broadcast per cycle")
	case o.FirstMessages < 0 || o.FirstMessages > o.Messages:
		return fmt.Errorf("scenario: FirstMessages %d is outside [0, Messages]", o.FirstMessages)
	case o.MaxHealingCycles < 0:
		return fmt.Errorf("scenario: negative MaxHealingCycles %d", o.MaxHealingCycles)
	}
	for _, rate := range o.Rates {
		if rate <= 0 || rate >= 1 {
			return fmt.Errorf("scenario: failure rate %v is outside (0, 1)", rate)
		}
	}
	return nil
}

// RunFailure builds and stabilises the overlay once, measures the
// reliability of PerCycle broadcasts on it, then runs two jobs per rate,
// each on its own copy of that overlay: the Messages broadcasts sent
// after the failure, before the next membership round, with HyParView's
// reactive repair running during them (S1 §5.1); and the number of cycles
// until reliability heals.
func RunFailure(o FailureOptions) ([]FailureRow, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	base, err := o.stabilised()
	if err != nil {
		return nil, err
	}
	before, err := broadcasts(base, o.PerCycle, "before", nil)
	if err != nil {
		return nil, err
	}
	target := meanReliability(before)
	rows := make([]FailureRow, len(o.Rates))
	err = forEachWeighted(o.jobWeights(), "failure experiment", o.Progress, func(j int, report func(float64)) error {
		rate, row := o.Rates[j/2], &rows[j/2]
		c := &CycleCluster{Sim: base.Clone()}
		if j%2 == 1 {
			var err error
			row.HealingCycles, row.Healing, err = o.healing(c, rate, target, report)
			if err == nil {
				var largest int
				row.Parts, largest = componentSizes(c.Sim)
				row.Largest = float64(largest) / float64(max(1, c.LiveCount()))
			}
			return err
		}
		row.Before = target
		return o.messages(c, rate, row, report)
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// jobWeights returns the expected share of the work of each of the
// experiment's jobs, for the progress line: job 2i sends the messages after
// failure rate i, job 2i+1 measures its healing; both cost about the number
// of live nodes times the broadcasts, healing taking a few cycles.
func (o *FailureOptions) jobWeights() []float64 {
	const typicalHealingCycles = 5
	w := make([]float64, 2*len(o.Rates))
	for i, rate := range o.Rates {
		w[2*i] = (1 - rate) * float64(o.Messages)
		w[2*i+1] = (1 - rate) * float64(o.PerCycle*typicalHealingCycles)
	}
	return w
}

// messages fails a stabilised overlay at rate and records the reliability
// of the broadcasts after, reporting the share sent.
func (o *FailureOptions) messages(c *CycleCluster, rate float64, row *FailureRow, report func(float64)) error {
	row.Rate = rate
	row.Crashed = c.CrashFraction(rate)
	send := broadcasts
	if o.Spacing > 0 {
		send = func(c *CycleCluster, k int, phase string, report func(float64)) ([]engine.Broadcast, error) {
			return spacedBroadcasts(c, k, o.Spacing, phase, report)
		}
	}
	after, err := send(c, o.Messages, "after", report)
	if err != nil {
		return err
	}
	row.Mean = meanReliability(after)
	row.Series = make([]float64, len(after))
	for i, b := range after {
		row.Series[i] = b.Reliability()
	}
	row.First = row.Series[:min(o.FirstMessages, len(after))]
	return nil
}

// stabilised builds the overlay and runs the stabilisation cycles.
func (o *FailureOptions) stabilised() (*CycleCluster, error) {
	c, err := NewCycleCluster(CycleOptions{Nodes: o.Nodes, Seed: o.Seed, DetectOnSend: true, DetectAfter: o.DetectAfter, Latency: o.Latency,
		Check: o.Check, Engine: o.engineConfig(), Progress: o.Progress, Meter: o.Progress.Meter()})
	if err != nil {
		return nil, err
	}
	return c, c.Cycles(o.Cycles, "stabilising")
}

// engineConfig is the paper's configuration for the experiment: its
// gossip floods each message to every active neighbour but the one it came
// from (fanout 4 with an active view of 5, S1 §5.1), which is Plumtree's
// Flood mode.
func (o *FailureOptions) engineConfig() gossip.Config {
	return s1Flood(s1Only(PaperEngineConfig(o.Nodes, 0), o.S1Only))
}

// healing fails a copy of the stabilised overlay at rate and counts the
// cycles, each followed by PerCycle broadcasts, until their mean
// reliability reaches target (S1 §5.3), reporting the share of
// MaxHealingCycles run.
func (o *FailureOptions) healing(c *CycleCluster, rate, target float64, report func(float64)) (int, []float64, error) {
	c.CrashFraction(rate)
	var curve []float64
	for cycle := 0; cycle <= o.MaxHealingCycles; cycle++ {
		if cycle > 0 {
			if o.RejoinStranded {
				c.RejoinStranded()
			}
			if err := c.Cycles(1, "healing"); err != nil {
				return 0, nil, err
			}
		}
		bs, err := broadcasts(c, o.PerCycle, fmt.Sprint("heal", cycle), nil)
		if err != nil {
			return 0, nil, err
		}
		if report != nil {
			report(float64(cycle+1) / float64(o.MaxHealingCycles+1))
		}
		mean := meanReliability(bs)
		curve = append(curve, mean)
		if mean >= target {
			return cycle, curve, nil
		}
	}
	return -1, curve, nil
}

// broadcasts sends k broadcasts from random live nodes, each run to
// quiescence, and reports the share sent to report if it is not nil.
func broadcasts(c *CycleCluster, k int, phase string, report func(float64)) ([]engine.Broadcast, error) {
	out := make([]engine.Broadcast, 0, k)
	for i := 0; i < k; i++ {
		b, err := c.BroadcastFromRandom(payload(phase, i))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		if report != nil {
			report(float64(i+1) / float64(k))
		}
	}
	return out, nil
}

// spacedBroadcasts sends k broadcasts from random live nodes, spacing
// apart in virtual time, then runs to quiescence and returns their
// records in the order sent.
func spacedBroadcasts(c *CycleCluster, k int, spacing time.Duration, phase string, report func(float64)) ([]engine.Broadcast, error) {
	ids := make([]plumtree.MessageID, 0, k)
	for i := 0; i < k; i++ {
		live := c.LiveCount()
		if live == 0 {
			return nil, fmt.Errorf("scenario: no live node to broadcast from")
		}
		id, err := c.Broadcast(c.LiveNode(c.Rand().IntN(live)), payload(phase, i))
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		if err := c.Run(c.Now() + spacing); err != nil {
			return nil, err
		}
		if report != nil {
			report(float64(i+1) / float64(k))
		}
	}
	if err := c.Quiesce(quiesceLimit); err != nil {
		return nil, err
	}
	out := make([]engine.Broadcast, len(ids))
	for i, id := range ids {
		out[i], _ = c.BroadcastByID(id)
	}
	return out, nil
}

// WriteFailureTable prints HyParView's rows and, when given, the Cyclon
// baseline's rows for the same experiment.
func WriteFailureTable(w io.Writer, o FailureOptions, rows, cyclon []FailureRow) error {
	fmt.Fprintf(w, "HyParView under massive failure: %d nodes joined through one contact, %d cycles, then %d broadcasts from random live nodes\n",
		o.Nodes, o.Cycles, o.Messages)
	writeFailureSetting(w, o)
	fmt.Fprintf(w, "(reliability = share of live nodes that deliver; healing = cycles of %d broadcasts until reliability is back to its level before the failure;\n", o.PerCycle)
	fmt.Fprintf(w, " parts, largest = connected parts of the survivors' active views when the healing run ends, and the share of survivors in the largest)\n\n")
	if err := writeFailureRows(w, o, rows); err != nil {
		return err
	}
	if cyclon == nil {
		return nil
	}
	fmt.Fprintf(w, "\nCyclon baseline, the same experiment: view %d, shuffles of %d, joins by random walks of %d, gossip to %d random view entries, no failure detector\n\n",
		cyclonViewSize, cyclonShuffleLen, cyclonWalkTTL, cyclonFanout)
	return writeFailureRows(w, o, cyclon)
}

func writeFailureRows(w io.Writer, o FailureOptions, rows []FailureRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"failed", "crashed", "before", "mean after"}
	for i := 0; i < o.FirstMessages; i++ {
		head = append(head, fmt.Sprintf("msg %d", i+1))
	}
	head = append(head, "healing", "parts", "largest")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, r := range rows {
		cells := []string{pct(r.Rate), fmt.Sprint(r.Crashed), pct(r.Before), pct(r.Mean)}
		for _, f := range r.First {
			cells = append(cells, pct(f))
		}
		heal := fmt.Sprint(r.HealingCycles)
		if r.HealingCycles < 0 {
			heal = fmt.Sprintf(">%d", o.MaxHealingCycles)
		}
		parts, largest := "-", "-"
		if r.Parts > 0 {
			parts, largest = fmt.Sprint(r.Parts), pct(r.Largest)
		}
		cells = append(cells, heal, parts, largest)
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// writeFailureSetting prints a line for each setting that departs from
// the default run.
func writeFailureSetting(w io.Writer, o FailureOptions) {
	if o.DetectAfter > 0 {
		fmt.Fprintf(w, "neighbours also notice a crash %v after it (keep-alive), besides while forwarding\n", o.DetectAfter)
	}
	if o.Spacing > 0 {
		fmt.Fprintf(w, "the broadcasts after the failure are sent %v apart in virtual time, not each run to quiescence\n", o.Spacing)
	}
	if o.RejoinStranded {
		fmt.Fprintln(w, "before each healing cycle, a live node that knows no peer at all joins through a random live node (a re-resolved seed)")
	}
	writeModelNotes(w, o.S1Only, o.Latency)
}
