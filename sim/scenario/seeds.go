package scenario

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Runs over several seeds. The papers report means over several runs; one
// seed says little where a figure depends on a few random draws (which
// sender a massive failure leaves cut off, how many triangles a sparse
// overlay happens to hold). A table over seeds prints, per cell, the mean
// and the sample standard deviation over the seeds; each seed's run is
// the same as a run with -seed alone, so the table is as deterministic as
// they are.

// Spread is the mean and the sample standard deviation of some values.
type Spread struct {
	Mean, SD float64
	N        int
}

// SpreadOf returns the spread of xs (SD 0 for fewer than two values).
func SpreadOf(xs []float64) Spread {
	s := Spread{N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// pctSpread renders a spread of shares as "99.50 ± 0.20%".
func pctSpread(s Spread) string {
	return fmt.Sprintf("%.2f ± %.2f%%", 100*s.Mean, 100*s.SD)
}

// WriteFailureSeedsTable prints the failure experiment run once per seed
// (runs[i] the rows of seeds[i], every run with the same options but the
// seed): per rate, the mean ± standard deviation over the seeds of the
// reliability before, after, and of each of the first messages, and the
// healing cycles over the seeds that healed, with how many never did.
func WriteFailureSeedsTable(w io.Writer, o FailureOptions, seeds []uint64, runs [][]FailureRow) error {
	if len(runs) == 0 || len(runs) != len(seeds) {
		return fmt.Errorf("scenario: %d runs for %d seeds", len(runs), len(seeds))
	}
	fmt.Fprintf(w, "HyParView under massive failure: %d nodes joined through one contact, %d cycles, then %d broadcasts from random live nodes\n",
		o.Nodes, o.Cycles, o.Messages)
	writeFailureSetting(w, o)
	fmt.Fprintf(w, "means ± sample standard deviations over %d seeds (%s); healing: mean over the seeds that healed, and how many never did within %d cycles\n",
		len(seeds), seedList(seeds), o.MaxHealingCycles)
	fmt.Fprintf(w, "(reliability = share of live nodes that deliver; healing = cycles of %d broadcasts until reliability is back to its level before the failure;\n", o.PerCycle)
	fmt.Fprintf(w, " parts = [fewest, most] connected parts of the survivors' active views when the healing run ends, largest = share of survivors in the largest)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"failed", "crashed", "before", "mean after"}
	for i := 0; i < o.FirstMessages; i++ {
		head = append(head, fmt.Sprintf("msg %d", i+1))
	}
	head = append(head, "healing", "never healed", "parts", "largest")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for i, r := range runs[0] {
		column := func(f func(FailureRow) float64) Spread { return SpreadOf(collect(runs, i, f)) }
		cells := []string{pct(r.Rate), fmt.Sprint(r.Crashed),
			pctSpread(column(func(r FailureRow) float64 { return r.Before })),
			pctSpread(column(func(r FailureRow) float64 { return r.Mean }))}
		for k := range r.First {
			cells = append(cells, pctSpread(column(func(r FailureRow) float64 { return r.First[k] })))
		}
		var healed []float64
		never := 0
		for _, rows := range runs {
			if h := rows[i].HealingCycles; h >= 0 {
				healed = append(healed, float64(h))
			} else {
				never++
			}
		}
		heal := "-"
		if len(healed) > 0 {
			s := SpreadOf(healed)
			heal = fmt.Sprintf("%.1f ± %.1f", s.Mean, s.SD)
		}
		cells = append(cells, heal, fmt.Sprintf("%d of %d", never, len(runs)))
		lo, hi := rowSpan(runs, i, func(r FailureRow) int { return r.Parts })
		cells = append(cells, fmt.Sprintf("[%d, %d]", lo, hi), pctSpread(column(func(r FailureRow) float64 { return r.Largest })))
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

// rowSpan returns the lowest and highest f of row i over the runs.
func rowSpan[R any](runs [][]R, i int, f func(R) int) (lo, hi int) {
	lo, hi = f(runs[0][i]), f(runs[0][i])
	for _, rows := range runs[1:] {
		if i < len(rows) {
			lo, hi = min(lo, f(rows[i])), max(hi, f(rows[i]))
		}
	}
	return lo, hi
}

// seedList renders seeds compactly: "1..5" when consecutive.
func seedList(seeds []uint64) string {
	consecutive := true
	for i := 1; i < len(seeds); i++ {
		if seeds[i] != seeds[i-1]+1 {
			consecutive = false
		}
	}
	if consecutive && len(seeds) > 1 {
		return fmt.Sprintf("%d..%d", seeds[0], seeds[len(seeds)-1])
	}
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ", ")
}

// WriteGraphSeedsTable prints the overlay's graph measured once per seed
// (results[i] of seeds[i]): each figure as the mean ± standard deviation
// over the seeds, the extremes (minimum in-degree, diameter, components)
// as the range they took.
func WriteGraphSeedsTable(w io.Writer, o GraphOptions, seeds []uint64, results []GraphResult) error {
	if len(results) == 0 || len(results) != len(seeds) {
		return fmt.Errorf("scenario: %d results for %d seeds", len(results), len(seeds))
	}
	fmt.Fprintf(w, "HyParView overlay after stabilisation: %d nodes joined through one contact, %d cycles; graph of the active views (S1 §2.3)\n",
		o.Nodes, o.Cycles)
	writeModelNotes(w, o.S1Only, o.Latency)
	fmt.Fprintf(w, "means ± sample standard deviations over %d seeds (%s); [lowest, highest] for the extremes\n\n", len(seeds), seedList(seeds))
	of := func(f func(GraphResult) float64) Spread {
		xs := make([]float64, len(results))
		for i, r := range results {
			xs[i] = f(r)
		}
		return SpreadOf(xs)
	}
	span := func(f func(GraphResult) int) string {
		lo, hi := f(results[0]), f(results[0])
		for _, r := range results[1:] {
			lo, hi = min(lo, f(r)), max(hi, f(r))
		}
		return fmt.Sprintf("[%d, %d]", lo, hi)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, s Spread, digits int) {
		fmt.Fprintf(tw, "%s\t%.*f ± %.*f\n", name, digits, s.Mean, digits, s.SD)
	}
	row("links", of(func(r GraphResult) float64 { return float64(r.Links) }), 1)
	row("in-degree mean", of(func(r GraphResult) float64 { return r.InDegree.Mean }), 3)
	fmt.Fprintf(tw, "in-degree min\t%s\n", span(func(r GraphResult) int { return r.InDegree.Min }))
	row("clustering coefficient", of(func(r GraphResult) float64 { return r.Clustering }), 5)
	row("average path length", of(func(r GraphResult) float64 { return r.Paths.Mean }), 4)
	fmt.Fprintf(tw, "diameter\t%s\n", span(func(r GraphResult) int { return r.Paths.Diameter }))
	fmt.Fprintf(tw, "components\t%s\n", span(func(r GraphResult) int { return r.Components }))
	row("symmetric links, %", of(func(r GraphResult) float64 { return 100 * r.Symmetric }), 2)
	if len(results[0].Broadcasts) > 0 {
		row("LDH mean", of(func(r GraphResult) float64 { _, m, _ := r.LDH(); return m }), 2)
	}
	return tw.Flush()
}

// WriteBroadcastSeedsTable prints the broadcast experiment run once per
// seed (runs[i] the rows of seeds[i]): each row's means over its measured
// cycles, as the mean ± standard deviation over the seeds.
func WriteBroadcastSeedsTable(w io.Writer, o BroadcastOptions, seeds []uint64, runs [][]BroadcastRow) error {
	if len(runs) == 0 || len(runs) != len(seeds) {
		return fmt.Errorf("scenario: %d runs for %d seeds", len(runs), len(seeds))
	}
	writeBroadcastSetting(w, o)
	fmt.Fprintf(w, "means ± sample standard deviations over %d seeds (%s) of each run's means over its measured cycles\n", len(seeds), seedList(seeds))
	fmt.Fprintf(w, "(RMR = payload messages / (receivers - 1) - 1; LDH = hops to the last delivery)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"protocol", "senders", "reliability", "RMR", "LDH", "payload/cycle", "control/cycle"}, "\t")+"\t")
	for i, r := range runs[0] {
		var rel, rmr, ldh, pay, ctl []float64
		for _, rows := range runs {
			a, b, c, d, e := rows[i].Mean()
			rel, rmr, ldh, pay, ctl = append(rel, a), append(rmr, b), append(ldh, c), append(pay, d), append(ctl, e)
		}
		f := func(xs []float64, digits int) string {
			s := SpreadOf(xs)
			return fmt.Sprintf("%.*f ± %.*f", digits, s.Mean, digits, s.SD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Protocol, r.senders(), pctSpread(SpreadOf(rel)), f(rmr, 3), f(ldh, 2), f(pay, 0), f(ctl, 0))
	}
	return tw.Flush()
}

// WriteMassiveSeedsTable prints the massive-failure scenario run once per
// seed (runs[i] the rows of seeds[i]): per rate and protocol, the first
// broadcast's reliability, the peak RMR and the RMR after healing as the
// mean ± standard deviation over the seeds (the RMR over the seeds that
// healed), and the healing cycles over the seeds that healed, with how
// many never did.
func WriteMassiveSeedsTable(w io.Writer, o MassiveOptions, seeds []uint64, runs [][]MassiveRow) error {
	if len(runs) == 0 || len(runs) != len(seeds) {
		return fmt.Errorf("scenario: %d runs for %d seeds", len(runs), len(seeds))
	}
	writeMassiveSetting(w, o)
	fmt.Fprintf(w, "means ± sample standard deviations over %d seeds (%s); healing and RMR after it over the seeds that healed within %d cycles, and how many never did\n",
		len(seeds), seedList(seeds), o.MaxCycles)
	fmt.Fprintf(w, "(first = reliability of the first broadcast after the failure; healing = cycles until a broadcast reaches every live node; peak = highest RMR from the failure to healing; RMR = mean over the %d cycles after healing)\n\n", o.AfterCycles)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"failed", "protocol", "first", "healing", "never healed", "peak", "RMR"}, "\t")+"\t")
	for i, r := range runs[0] {
		var first, healing, peak, rmr []float64
		never := 0
		for _, rows := range runs {
			if i >= len(rows) {
				continue
			}
			x := rows[i]
			first = append(first, x.First)
			if x.PeakRMR == x.PeakRMR {
				peak = append(peak, x.PeakRMR)
			}
			if x.HealingCycles < 0 {
				never++
				continue
			}
			healing, rmr = append(healing, float64(x.HealingCycles)), append(rmr, x.RMR)
		}
		f := func(xs []float64, digits int) string {
			if len(xs) == 0 {
				return "-"
			}
			s := SpreadOf(xs)
			return fmt.Sprintf("%.*f ± %.*f", digits, s.Mean, digits, s.SD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d of %d\t%s\t%s\t\n", pct(r.Rate), r.Protocol, pctSpread(SpreadOf(first)),
			f(healing, 1), never, len(runs), f(peak, 3), f(rmr, 3))
	}
	return tw.Flush()
}

// WriteContinuousSeedsTable prints the continuous-time experiment run once
// per seed (runs[i] the rows of seeds[i]): per condition, the delivery
// ratio, the latency percentiles, RMR and bytes per delivery as the mean ±
// standard deviation over the seeds, and the times to a connected overlay,
// to healed views and to settled trees over the seeds where they happened,
// with how many runs they never did.
func WriteContinuousSeedsTable(w io.Writer, o ContinuousOptions, seeds []uint64, runs [][]ContinuousRow) error {
	if len(runs) == 0 || len(runs) != len(seeds) {
		return fmt.Errorf("scenario: %d runs for %d seeds", len(runs), len(seeds))
	}
	fmt.Fprintf(w, "Continuous time: %d nodes, link delay %v..%v, %.0f broadcasts/s of %d B for %v, drained %v\n",
		o.Nodes, o.Latency.Min, o.Latency.Max, o.Rate, payloadSize, o.Duration, o.Drain)
	writeGraftTimers(w, o.Plumtree)
	fmt.Fprintf(w, "means ± sample standard deviations over %d seeds (%s); a time that some runs never reached is averaged over the others, \"(k never)\" after it\n", len(seeds), seedList(seeds))
	fmt.Fprintf(w, "(delivery = deliveries / live nodes at each broadcast; latency from broadcast to delivery, in ms; bytes as the runtime encodes and frames them)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"condition", "delivery", "p50", "p90", "p99", "max", "RMR", "bytes/delivery", "connected after", "views healed", "trees settled"}, "\t")+"\t")
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for i, r := range runs[0] {
		column := func(f func(ContinuousRow) float64, digits int) string {
			s := SpreadOf(collect(runs, i, f))
			return fmt.Sprintf("%.*f ± %.*f", digits, s.Mean, digits, s.SD)
		}
		// when averages a time over the runs where it happened (>= 0).
		when := func(f func(ContinuousRow) time.Duration) string {
			var xs []float64
			never := 0
			for _, rows := range runs {
				if i >= len(rows) {
					continue
				}
				if d := f(rows[i]); d >= 0 {
					xs = append(xs, d.Seconds())
				} else {
					never++
				}
			}
			out := "never"
			if len(xs) > 0 {
				s := SpreadOf(xs)
				out = fmt.Sprintf("%.1f ± %.1f s", s.Mean, s.SD)
			}
			if never > 0 && len(xs) > 0 {
				out += fmt.Sprintf(" (%d never)", never)
			}
			return out
		}
		healed := "-"
		if r.Condition.Partition {
			healed = when(func(r ContinuousRow) time.Duration { return r.ViewsHealed })
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Condition.Name,
			pctSpread(SpreadOf(collect(runs, i, func(r ContinuousRow) float64 { return r.DeliveryRatio }))),
			column(func(r ContinuousRow) float64 { return ms(r.P50) }, 0),
			column(func(r ContinuousRow) float64 { return ms(r.P90) }, 0),
			column(func(r ContinuousRow) float64 { return ms(r.P99) }, 0),
			column(func(r ContinuousRow) float64 { return ms(r.Max) }, 0),
			column(func(r ContinuousRow) float64 { return r.RMR }, 3),
			column(func(r ContinuousRow) float64 { return r.BytesPerDelivery }, 0),
			when(func(r ContinuousRow) time.Duration { return r.Connected }),
			healed,
			when(func(r ContinuousRow) time.Duration { return r.TreesSettled }))
	}
	return tw.Flush()
}

// collect returns f of row i of every run that has one.
func collect[R any](runs [][]R, i int, f func(R) float64) []float64 {
	xs := make([]float64, 0, len(runs))
	for _, rows := range runs {
		if i < len(rows) {
			xs = append(xs, f(rows[i]))
		}
	}
	return xs
}
