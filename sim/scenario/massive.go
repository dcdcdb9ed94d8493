package scenario

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/plumview/plumview/sim/engine"
)

// MassiveOptions sets up the Plumtree paper's massive-failure scenario
// (S2 §4; docs/simulation.md, Experiment 3, "Massive failure"): after
// stabilisation a share of the nodes fails at once, then the cycles go on,
// one broadcast from a random live node each, failures detected in the
// membership step.
type MassiveOptions struct {
	Nodes         int
	Seed          uint64
	Stabilisation int
	Rates         []float64
	Protocols     []Protocol
	// MaxCycles bounds the cycles run after the failure.
	MaxCycles int
	// AfterCycles is how many cycles after healing the RMR is averaged over.
	AfterCycles int
	// Latency is the links' delay (zero: 1 ms on every link, the papers'
	// uniform delay; engine.Latency.PerMessage draws one per message).
	Latency engine.Latency
	// S1Only runs HyParView without the project's switchable additions
	// (hyparview.Config.S1Only), as the paper describes it.
	S1Only bool
	// RejoinStranded gives, before each cycle after the first broadcast
	// that follows the failure, every live node that knows no peer at all
	// a random live node to join through (CycleCluster.RejoinStranded).
	RejoinStranded bool
	Check          bool
	Progress       *Progress
}

// PaperMassiveOptions returns the scenario for n nodes: 50 cycles of
// stabilisation, failures of 10 % to 95 %, the three protocols.
func PaperMassiveOptions(n int) MassiveOptions {
	return MassiveOptions{
		Nodes:         n,
		Stabilisation: 50,
		Rates:         []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95},
		Protocols:     []Protocol{Eager, Plumtree, PlumtreeOptimized},
		MaxCycles:     30,
		AfterCycles:   20,
	}
}

// MassiveRow is the outcome of one protocol at one failure rate.
type MassiveRow struct {
	Protocol Protocol
	Rate     float64
	// First is the reliability of the first broadcast after the failure.
	First float64
	// HealingCycles is the number of cycles after the failure until a
	// broadcast reaches every live node again (0: the first one did); -1 if
	// none did within MaxCycles.
	HealingCycles int
	// RMR is the mean RMR of the AfterCycles broadcasts after healing.
	RMR float64
	// PeakRMR is the highest RMR of a broadcast from the failure up to and
	// including the one that healed (NaN when none had one): the cost of
	// the repairs, which the mean after healing leaves out.
	PeakRMR float64
	// Samples holds every cycle after the failure, in order (S2 §4's
	// curves of reliability, RMR and LDH after the failure).
	Samples []CycleSample
}

// RunMassive runs every protocol at every rate, each on its own copy of the
// same overlay.
func RunMassive(o MassiveOptions) ([]MassiveRow, error) {
	if o.Nodes < 2 || o.Stabilisation < 0 || len(o.Rates) == 0 || len(o.Protocols) == 0 || o.MaxCycles < 1 || o.AfterCycles < 1 {
		return nil, fmt.Errorf("scenario: massive failure needs nodes, rates, protocols and positive cycle counts")
	}
	for _, r := range o.Rates {
		if r <= 0 || r >= 1 {
			return nil, fmt.Errorf("scenario: failure rate %v is outside (0, 1)", r)
		}
	}
	// One stabilised overlay per protocol, then a copy of it per rate.
	bases := make([]*CycleCluster, len(o.Protocols))
	err := forEach(len(bases), "massive failure: stabilising", o.Progress, func(i int) error {
		var err error
		bases[i], err = o.stabilised(o.Protocols[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	rows := make([]MassiveRow, len(o.Rates)*len(o.Protocols))
	err = forEach(len(rows), "massive failure", o.Progress, func(i int) error {
		var err error
		base := bases[i%len(o.Protocols)]
		rows[i], err = o.run(&CycleCluster{Sim: base.Clone()}, o.Protocols[i%len(o.Protocols)], o.Rates[i/len(o.Protocols)])
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// stabilised builds the overlay for protocol p and runs the stabilisation
// cycles, one broadcast each.
func (o *MassiveOptions) stabilised(p Protocol) (*CycleCluster, error) {
	bo := BroadcastOptions{Nodes: o.Nodes, Seed: o.Seed, Check: o.Check, Progress: o.Progress, S1Only: o.S1Only, Latency: o.Latency}
	c, err := bo.cluster(p, true)
	if err != nil {
		return nil, err
	}
	for cycle := 0; cycle < o.Stabilisation; cycle++ {
		if _, err := c.broadcastCycle(c.pickSender(0, true), cycle); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// run fails a copy of the stabilised overlay at rate and follows the
// broadcasts until reliability heals and for AfterCycles more.
func (o *MassiveOptions) run(c *CycleCluster, p Protocol, rate float64) (MassiveRow, error) {
	row := MassiveRow{Protocol: p, Rate: rate, HealingCycles: -1, PeakRMR: math.NaN()}
	cycle := o.Stabilisation
	c.CrashFraction(rate)
	var rmr float64
	var nRMR, after int
	for k := 0; k < o.MaxCycles+o.AfterCycles && after < o.AfterCycles; k++ {
		if k > 0 && o.RejoinStranded {
			c.RejoinStranded()
		}
		s, err := c.broadcastCycle(c.pickSender(0, true), cycle+k)
		if err != nil {
			return MassiveRow{}, err
		}
		row.Samples = append(row.Samples, s)
		if k == 0 {
			row.First = s.Reliability
		}
		if row.HealingCycles < 0 && s.RMR == s.RMR && !(s.RMR <= row.PeakRMR) {
			row.PeakRMR = s.RMR // up to and including the healing cycle
		}
		switch {
		case row.HealingCycles < 0 && s.Reliability == 1:
			row.HealingCycles = k
		case row.HealingCycles >= 0:
			after++
			if s.RMR == s.RMR {
				rmr += s.RMR
				nRMR++
			}
		}
		if row.HealingCycles < 0 && k >= o.MaxCycles {
			break
		}
	}
	if nRMR > 0 {
		row.RMR = rmr / float64(nRMR)
	}
	return row, nil
}

// writeMassiveSetting prints the lines that describe how the scenario ran.
func writeMassiveSetting(w io.Writer, o MassiveOptions) {
	fmt.Fprintf(w, "Plumtree under massive failure: %d nodes, %d cycles of stabilisation, then a share of the nodes fails at once;\n", o.Nodes, o.Stabilisation)
	fmt.Fprintf(w, "one broadcast per cycle from a random live node, failures detected in the membership step\n")
	if o.RejoinStranded {
		fmt.Fprintln(w, "before each cycle after the failure's first, a live node that knows no peer at all joins through a random live node (a re-resolved seed)")
	}
	writeModelNotes(w, o.S1Only, o.Latency)
}

// WriteMassiveTable prints one line per failure rate, the protocols side by
// side.
func WriteMassiveTable(w io.Writer, o MassiveOptions, rows []MassiveRow) error {
	writeMassiveSetting(w, o)
	fmt.Fprintf(w, "(first = reliability of the first broadcast after the failure; healing = cycles until a broadcast reaches every live node; peak = highest RMR from the failure to healing; RMR = mean over the %d cycles after healing)\n\n", o.AfterCycles)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"failed"}
	for _, p := range o.Protocols {
		head = append(head, p.String()+" first", "healing", "peak", "RMR")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for i := 0; i < len(rows); i += len(o.Protocols) {
		cells := []string{pct(rows[i].Rate)}
		for _, r := range rows[i : i+len(o.Protocols)] {
			heal := fmt.Sprint(r.HealingCycles)
			if r.HealingCycles < 0 {
				heal = fmt.Sprintf(">%d", o.MaxCycles)
			}
			peak := "-"
			if r.PeakRMR == r.PeakRMR {
				peak = fmt.Sprintf("%.3f", r.PeakRMR)
			}
			cells = append(cells, pct(r.First), heal, peak, fmt.Sprintf("%.3f", r.RMR))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}
