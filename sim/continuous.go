package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/plumview/plumview/sim/report"
	"github.com/plumview/plumview/sim/scenario"
)

// runContinuous runs the continuous-time experiment: real timers, per-link
// latency, loss, a partition and churn.
func runContinuous(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	opts := scenario.PaperlessContinuousOptions(o.nodes)
	opts.Seed, opts.Duration, opts.Rate = o.seed, o.duration, o.rate
	if o.graftTimeout > 0 {
		opts.Plumtree.GraftTimeout1, opts.Plumtree.GraftTimeout2 = o.graftTimeout, o.graftTimeout/2
	}
	opts.Plumtree.MinGraftTimeout = o.minGraftTimeout
	opts.Check, opts.Progress = o.check, progress
	if o.seeds > 1 {
		return printOverSeeds(o, progress, stdout, rep, "continuous", "Continuous time, over seeds", false,
			func(seed uint64) ([]scenario.ContinuousRow, error) {
				so := opts
				so.Seed, so.Progress = seed, nil
				return scenario.RunContinuous(so)
			},
			func(w io.Writer, seeds []uint64, runs [][]scenario.ContinuousRow) error {
				return scenario.WriteContinuousSeedsTable(w, opts, seeds, runs)
			},
			func(sink report.Sink, rows []scenario.ContinuousRow) error { return continuousCharts(sink, opts, rows) })
	}
	rows, err := scenario.RunContinuous(opts)
	if err != nil {
		return err
	}
	err = printTable(stdout, rep, "Continuous time", func(w io.Writer) error {
		return scenario.WriteContinuousTable(w, opts, rows)
	})
	if err != nil || rep == nil {
		return err
	}
	return continuousCharts(rep, opts, rows)
}

// continuousCharts adds the delivery latency percentiles and the delivery
// ratio of each condition.
func continuousCharts(rep report.Sink, o scenario.ContinuousOptions, rows []scenario.ContinuousRow) error {
	lat := report.BarChart{
		Title:  fmt.Sprintf("p99 delivery latency by condition (%d nodes, %v..%v links)", o.Nodes, o.Latency.Min, o.Latency.Max),
		XLabel: "condition", YLabel: "p99 latency (ms)",
	}
	ratio := report.BarChart{
		Title:  fmt.Sprintf("Delivery ratio by condition (%d nodes)", o.Nodes),
		XLabel: "condition", YLabel: "delivered (%)",
	}
	for _, r := range rows {
		lat.Bars = append(lat.Bars, report.Bar{Label: r.Condition.Name, Value: float64(r.P99) / float64(time.Millisecond)})
		ratio.Bars = append(ratio.Bars, report.Bar{Label: r.Condition.Name, Value: 100 * r.DeliveryRatio})
	}
	if err := rep.AddBars("continuous-p99-latency", lat); err != nil {
		return err
	}
	return rep.AddBars("continuous-delivery", ratio)
}

// runScale joins o.nodes nodes, runs five cycles and one broadcast, and
// prints the cost. Its wall-clock lines differ between runs, so it is not
// part of -scenario all.
func runScale(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	res, err := scenario.RunScale(scenario.ScaleOptions{Nodes: o.nodes, Seed: o.seed, Cycles: 5, Progress: progress, Workers: o.workers, JoinBatch: o.joinBatch})
	if err != nil {
		return err
	}
	return printTable(stdout, rep, "Scale", func(w io.Writer) error { return scenario.WriteScale(w, res) })
}

// runMassive runs the Plumtree paper's massive-failure scenario at the
// -fail rates.
func runMassive(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	rates, err := parsePercentages(o.fail)
	if err != nil {
		return err
	}
	opts := scenario.PaperMassiveOptions(o.nodes)
	opts.Seed, opts.Stabilisation, opts.Rates = o.seed, o.stabilisation, rates
	opts.Check, opts.Progress, opts.S1Only = o.check, progress, o.s1Only
	opts.Latency, _ = parseLinkDelay(o.linkDelay, o.perMessage) // checked in run
	opts.RejoinStranded = o.paper
	if o.seeds > 1 {
		return printOverSeeds(o, progress, stdout, rep, "massive", "Plumtree under massive failure, over seeds", true,
			func(seed uint64) ([]scenario.MassiveRow, error) {
				so := opts
				so.Seed, so.Progress = seed, nil
				return scenario.RunMassive(so)
			},
			func(w io.Writer, seeds []uint64, runs [][]scenario.MassiveRow) error {
				return scenario.WriteMassiveSeedsTable(w, opts, seeds, runs)
			},
			func(sink report.Sink, rows []scenario.MassiveRow) error { return massiveCharts(sink, opts, rows) })
	}
	rows, err := scenario.RunMassive(opts)
	if err != nil {
		return err
	}
	err = printTable(stdout, rep, "Plumtree under massive failure", func(w io.Writer) error {
		writeMode(w, o)
		return scenario.WriteMassiveTable(w, opts, rows)
	})
	if err != nil || rep == nil {
		return err
	}
	return massiveCharts(rep, opts, rows)
}

// massiveCharts adds the first broadcast's reliability and the RMR after
// healing against the failure rate, one series per protocol.
func massiveCharts(rep report.Sink, o scenario.MassiveOptions, rows []scenario.MassiveRow) error {
	first := report.LineChart{
		Title:  fmt.Sprintf("Reliability of the first broadcast after a massive failure (%d nodes)", o.Nodes),
		XLabel: "nodes failed (%)", YLabel: "reliability (%)",
	}
	rmr := report.LineChart{
		Title:  fmt.Sprintf("RMR after healing from a massive failure (%d nodes)", o.Nodes),
		XLabel: "nodes failed (%)", YLabel: "RMR",
	}
	for _, p := range o.Protocols {
		f := report.Series{Name: p.String()}
		r := report.Series{Name: p.String()}
		for _, row := range rows {
			if row.Protocol != p {
				continue
			}
			f.X, f.Y = append(f.X, 100*row.Rate), append(f.Y, 100*row.First)
			y := row.RMR
			if row.HealingCycles < 0 {
				y = math.NaN() // never healed: no RMR after healing
			}
			r.X, r.Y = append(r.X, 100*row.Rate), append(r.Y, y)
		}
		first.Series = append(first.Series, f)
		rmr.Series = append(rmr.Series, r)
	}
	if err := rep.AddLine("massive-first", first); err != nil {
		return err
	}
	if err := rep.AddLine("massive-rmr", rmr); err != nil {
		return err
	}
	// Per cycle after the failure: the RMR peak of the repairs and its
	// decay, and reliability coming back (S2 §4).
	for _, ch := range []struct {
		name, title, label string
		value              func(scenario.CycleSample) float64
	}{
		{"massive-rmr-cycles", "RMR per cycle after a massive failure", "RMR", func(s scenario.CycleSample) float64 { return s.RMR }},
		{"massive-reliability-cycles", "Reliability per cycle after a massive failure", "reliability (%)", func(s scenario.CycleSample) float64 { return 100 * s.Reliability }},
		{"massive-ldh-cycles", "Last delivery hop per cycle after a massive failure", "LDH (hops)", func(s scenario.CycleSample) float64 { return float64(s.LDH) }},
	} {
		c := report.LineChart{Title: fmt.Sprintf("%s (%d nodes)", ch.title, o.Nodes), XLabel: "cycle after the failure", YLabel: ch.label}
		for _, row := range rows {
			s := report.Series{Name: fmt.Sprintf("%s, %s%% failed", row.Protocol, number(100*row.Rate))}
			for k, sample := range row.Samples {
				s.X, s.Y = append(s.X, float64(k)), append(s.Y, ch.value(sample))
			}
			c.Series = append(c.Series, s)
		}
		if err := rep.AddLine(ch.name, c); err != nil {
			return err
		}
	}
	return nil
}
