// Command sim runs plumview's protocol cores on thousands of simulated nodes
// and reproduces the experiments of the HyParView and Plumtree papers.
//
// Usage:
//
//	go run ./sim                                  # both experiments on 2,000 nodes
//	go run ./sim -scenario failure -nodes 10000 -fail 10,20,30,40,50,60,70,80,90,95 -messages 1000
//	go run ./sim -scenario broadcast -nodes 10000 -constant 50
//	go run ./sim -scenario graph -nodes 10000
//	go run ./sim -out results                     # also CSV files, SVG plots and results/index.html
//
// The same seed and flags print the same bytes, and write the same files.
// Progress for long phases goes to stderr.
package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/sim/engine"
	"github.com/plumview/plumview/sim/report"
	"github.com/plumview/plumview/sim/scenario"
)

func main() {
	setMemoryLimit()
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(2)
	}
}

// paperKeepAlive is how long after a crash its neighbours notice it in the
// paper mode of the failure experiment, as a TCP connection's reset or
// keep-alive would tell them.
const paperKeepAlive = time.Second

// options are the command's flags.
type options struct {
	scenario        string
	nodes           int
	seed            uint64
	stabilisation   int
	cycles          int
	fail            string
	messages        int
	constant        int
	constantCycles  int
	sources         int
	keepalive       time.Duration
	duration        time.Duration
	rate            float64
	out             string
	check           bool
	quiet           bool
	cpuProfile      string
	workers         int
	joinBatch       int
	memProfile      string
	hugePages       bool
	baseline        bool
	graftTimeout    time.Duration
	minGraftTimeout time.Duration
	syncInterval    time.Duration
	rejoinInterval  time.Duration
	probeInterval   time.Duration
	islandCheckAge  time.Duration
	s1Only          bool
	paper           bool
	linkDelay       string
	perMessage      bool
	seeds           int
	spacing         time.Duration
}

const usage = `usage: go run ./sim [flags]

Runs the HyParView and Plumtree papers' experiments on simulated nodes that
run the real protocol cores, and prints a table per experiment.

scenarios:
  failure    HyParView under massive failure (S1 §5.3): reliability of the
             broadcasts after 10%%..95%% of nodes fail at once, and healing time
  broadcast  Plumtree against eager push gossip (S2 §4): reliability, RMR,
             LDH, messages per cycle, single and multiple senders
  massive    Plumtree and eager gossip after -fail %% of the nodes fail at once
             (S2 §4): first broadcast's reliability, healing cycles, RMR after
  graph      the overlay after stabilisation (S1 §2.3, Table 1): in- and
             out-degree, clustering, path lengths, diameter, connectivity,
             symmetric links and the hops of a few flooded broadcasts
  continuous continuous time (our own setting; the papers have none): link
             delays of 5..100 ms, no loss, 1%% and 5%% loss, a partition into
             halves healed after 30 s, steady churn: delivery ratio, latency
             percentiles, RMR, bytes per delivery, time to a connected overlay
  members    the member list (ours; the papers keep none): time until every
             node lists every node after a burst of joins, until a metadata
             change reaches all, until 10%% crashed nodes are suspected and
             declared failed everywhere; bytes per node
  scale      join -nodes nodes, five cycles, one broadcast: time and memory
             (wall-clock figures: not part of all, not reproducible bytes)
  all        failure, broadcast, massive, graph and continuous (the default)

The papers' experiments (failure, broadcast, massive, graph) run in the paper
mode unless -paper=false: HyParView with S1's rules only, crashes noticed as a
TCP connection would notice them, survivors that know no peer rejoining
through a random live node. -paper=false runs the production settings. Each
table says which mode ran; -seeds N prints means and spreads over N seeds.

With -out DIR, each experiment's series also go to DIR as CSV files and SVG
plots, with DIR/index.html showing them all.

Memory: unless GOMEMLIMIT is set, the simulator sets a soft memory limit of
85%% of the machine's physical memory (runtime/debug.SetMemoryLimit), so that
the collector runs more often near it rather than let the heap reach twice
what is live; the members scenario's live heap grows with the square of
the nodes (docs/simulation.md, "Memory").

flags:
`

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "all", "experiment to run: failure, broadcast, massive, graph, continuous, members, scale or all")
	fs.IntVar(&o.nodes, "nodes", 2000, "number of simulated nodes")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed and flags give the same output")
	fs.IntVar(&o.seeds, "seeds", 1, "failure, broadcast, massive, graph, continuous: run seeds -seed .. -seed+N-1, side by side on the available cores, and print means ± standard deviations over them (failure: without the Cyclon baseline); with -out each chart is the mean over the seeds, beside a NAME-spread chart of the standard deviations")
	fs.IntVar(&o.stabilisation, "stabilisation", 50, "membership cycles after the joins before anything is measured")
	fs.IntVar(&o.cycles, "cycles", 200, "broadcast: measured cycles, one broadcast each")
	fs.StringVar(&o.fail, "fail", "20,50,80", "failure, massive: comma-separated percentages of nodes that fail at once")
	fs.DurationVar(&o.spacing, "spacing", 0, "failure: send the broadcasts after the failure this far apart in virtual time, each alongside the next, instead of each run to quiescence (0)")
	fs.IntVar(&o.messages, "messages", 200, "failure: broadcasts after the failure, before the next membership cycle")
	fs.IntVar(&o.constant, "constant", 0, "broadcast: nodes that fail in each cycle after stabilisation (the paper: 50)")
	fs.IntVar(&o.constantCycles, "constant-cycles", 100, "broadcast: cycles with -constant failures")
	fs.IntVar(&o.sources, "sources", 1000, fmt.Sprintf("graph: random nodes to measure shortest paths from above %d nodes (0: every node)", scenario.ExactPathsUpTo))
	fs.BoolVar(&o.s1Only, "s1-only", false, "failure, broadcast, massive, graph: run HyParView as S1 describes it, without the project's switchable additions (refresh, escalation of starved nodes, repair on every cycle, request backoff; hyparview.Config.S1Only)")
	fs.StringVar(&o.linkDelay, "link-delay", "", "failure, broadcast, massive, graph: the links' one-way delay, D or MIN..MAX (log-uniform, one per link); empty keeps 1ms on every link")
	fs.BoolVar(&o.perMessage, "delay-per-message", false, "failure, broadcast, massive, graph: with -link-delay MIN..MAX, draw each message's delay afresh, keeping each link in order, so floods do not follow the same shortest paths every time")
	fs.BoolVar(&o.paper, "paper", true, fmt.Sprintf("failure, broadcast, massive, graph: the paper mode, the default of these experiments: HyParView with S1's rules only (-s1-only); for failure also neighbours that notice a crash %v after it as a TCP connection would (-keepalive, unless given); for failure and massive, survivors that know no peer at all rejoining through a random live node before each cycle after the failure. -paper=false runs the production settings: the project's HyParView with its additions, crashes found only while forwarding", paperKeepAlive))
	fs.BoolVar(&o.baseline, "baseline", true, "failure: also run the Cyclon baseline of S1 §5.1")
	fs.DurationVar(&o.keepalive, "keepalive", 0, fmt.Sprintf("failure: neighbours also notice a crash this long after it, as keep-alives or a TCP connection would (0: only while forwarding; default %v in the paper mode, 0 with -paper=false)", paperKeepAlive))
	fs.DurationVar(&o.duration, "duration", time.Minute, "continuous: virtual time of the measured phase")
	fs.DurationVar(&o.graftTimeout, "graft-timeout", 0, "continuous: Plumtree's timeout1 before a GRAFT (timeout2 is half of it); 0 keeps the default, 80ms")
	fs.DurationVar(&o.minGraftTimeout, "min-graft-timeout", 0, "continuous: when positive, timeout1 follows the lags each node measures, from this up to -graft-timeout (plumtree/doc.go, deviation 15; the runtime's default is 20ms); 0 keeps timeout1 fixed, as the paper")
	fs.Float64Var(&o.rate, "rate", 5, "continuous: broadcasts per second of virtual time")
	fs.DurationVar(&o.syncInterval, "sync-interval", 0, "members: mean time between a node's periodic digest exchanges with a random neighbour; 0 keeps the default, 30s")
	fs.DurationVar(&o.islandCheckAge, "island-check-age", 0, "members: how old a broadcast named in a ping must be before a node that lacks it asks the pinger for a link (the island check); 0 keeps the default, 5s; negative turns it off")
	fs.DurationVar(&o.probeInterval, "probe-interval", 0, "members: period of the liveness probes (each node pings one member, round-robin); 0 keeps the default, 1s; negative turns them off")
	fs.DurationVar(&o.rejoinInterval, "rejoin-interval", 0, "members: period of the partition-healing tick (an isolated node rejoins, a connected one contacts members it lost); 0 keeps the default, 3s")
	fs.StringVar(&o.out, "out", "", "directory to write CSV files, SVG plots and index.html to (created if missing)")
	fs.BoolVar(&o.check, "check", false, "check every node's invariants after each step (slower)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&o.hugePages, "hugepages", true, "ask the kernel to back the heap with transparent huge pages where it gives them only on request (Linux; faster above a few thousand nodes)")
	fs.IntVar(&o.joinBatch, "join-batch", 1, "scale: nodes joining node 0 at a time, the run going to quiescence after each batch (1: one by one, the papers' procedure; above 16, S1's overlay degenerates: docs/benchmarks.md)")
	fs.IntVar(&o.workers, "workers", 1, "scale: goroutines that step the engines of the membership cycles' large instants, the outputs carried out in the sequential order; the counts do not depend on it (docs/benchmarks.md: not shown faster on a shared 2-core machine)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	fs.StringVar(&o.memProfile, "memprofile", "", "members: write a heap profile to this file at the end of the run, its simulation still held, and to this file with -joined appended once every list is complete after the joins, where the heap peaks (for go tool pprof -sample_index=inuse_space)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as -name value)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.paper {
		o.s1Only = true
		if !given["keepalive"] {
			o.keepalive = paperKeepAlive
		}
	}
	if o.nodes < 2 {
		return fmt.Errorf("-nodes must be at least 2, got %d", o.nodes)
	}
	if o.stabilisation < 0 || o.cycles < 1 || o.messages < 1 || o.sources < 0 {
		return fmt.Errorf("-stabilisation and -sources must be at least 0, -cycles and -messages at least 1")
	}
	if o.spacing < 0 {
		return fmt.Errorf("-spacing must not be negative, got %v", o.spacing)
	}
	if o.duration <= 0 || !(o.rate > 0) || o.keepalive < 0 || o.graftTimeout < 0 || o.minGraftTimeout < 0 || o.syncInterval < 0 || o.rejoinInterval < 0 {
		return fmt.Errorf("-duration and -rate must be positive, -keepalive, -graft-timeout, -min-graft-timeout, -sync-interval and -rejoin-interval not negative")
	}
	if limit := cmp.Or(o.graftTimeout, plumtree.DefaultGraftTimeout1); o.minGraftTimeout > limit {
		return fmt.Errorf("-min-graft-timeout %v is above timeout1 (%v): it is the floor timeout1 follows the lags from", o.minGraftTimeout, limit)
	}
	experiments := map[string][]experiment{
		"failure":    {runFailure},
		"broadcast":  {runBroadcast},
		"graph":      {runGraph},
		"massive":    {runMassive},
		"continuous": {runContinuous},
		"scale":      {runScale},
		"members":    {runMembers},
		"all":        {runFailure, runBroadcast, runMassive, runGraph, runContinuous},
	}[o.scenario]
	if experiments == nil {
		return fmt.Errorf("unknown -scenario %q: want failure, broadcast, massive, graph, continuous, members, scale or all", o.scenario)
	}
	if o.memProfile != "" && o.scenario != "members" {
		return fmt.Errorf("-memprofile is for -scenario members, got %q", o.scenario)
	}
	if _, err := parsePercentages(o.fail); err != nil {
		return err
	}
	if _, err := parseLinkDelay(o.linkDelay, o.perMessage); err != nil {
		return err
	}
	if o.joinBatch < 1 || (o.joinBatch > 1 && o.scenario != "scale") {
		return fmt.Errorf("-join-batch must be at least 1, and above 1 only with -scenario scale (got %d with %q)", o.joinBatch, o.scenario)
	}
	if o.seeds < 1 || (o.seeds > 1 && (o.scenario == "members" || o.scenario == "scale")) {
		return fmt.Errorf("-seeds must be at least 1, and above 1 only with -scenario failure, broadcast, massive, graph, continuous or all (got %d with %q)", o.seeds, o.scenario)
	}
	var rep *report.Report
	if o.out != "" {
		if err := report.PrepareDir(o.out); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		rep = report.New(fmt.Sprintf("plumview simulator: %d nodes, seed %d", o.nodes, o.seed))
	}
	var progress *scenario.Progress
	if !o.quiet {
		progress = scenario.NewProgress(stderr)
	}
	if o.hugePages {
		startHugePages(100 * time.Millisecond)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for i, e := range experiments {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := e(o, progress, stdout, rep); err != nil {
			return err
		}
	}
	if rep != nil {
		return rep.Write(o.out)
	}
	return nil
}

// experiment runs one scenario, prints its table to stdout and, when rep
// is not nil, adds the table and its charts to rep.
type experiment func(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error

// writeMode prints the line that says in which mode one of the papers'
// experiments ran.
func writeMode(w io.Writer, o options) {
	switch {
	case o.paper:
		fmt.Fprintln(w, "paper mode (the default of the papers' experiments; -paper=false runs the production settings)")
	case o.s1Only:
		fmt.Fprintln(w, "production mode (-paper=false) with S1's rules only (-s1-only)")
	default:
		fmt.Fprintln(w, "production mode (-paper=false): the project's HyParView with its additions to S1, crashes found only while forwarding unless -keepalive")
	}
}

// printTable writes a table to stdout and adds it to rep.
func printTable(stdout io.Writer, rep *report.Report, title string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	if rep != nil {
		rep.AddTable(title, buf.String())
	}
	_, err := stdout.Write(buf.Bytes())
	return err
}

func runFailure(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	rates, err := parsePercentages(o.fail)
	if err != nil {
		return err
	}
	opts := scenario.PaperFailureOptions(o.nodes)
	opts.Seed, opts.Cycles, opts.Rates, opts.Messages = o.seed, o.stabilisation, rates, o.messages
	opts.FirstMessages = min(opts.FirstMessages, o.messages)
	opts.DetectAfter, opts.RejoinStranded, opts.Spacing = o.keepalive, o.paper, o.spacing
	opts.Check, opts.Progress, opts.S1Only = o.check, progress, o.s1Only
	opts.Latency, _ = parseLinkDelay(o.linkDelay, o.perMessage) // checked in run
	if o.seeds > 1 {
		return runFailureSeeds(o, opts, stdout, rep)
	}
	// The baseline runs beside HyParView's experiment, without a progress
	// line of its own: it keeps the second core busy while HyParView's
	// overlay is built and stabilised, which takes one.
	var cyclon []scenario.FailureRow
	var cyclonErr error
	var wg sync.WaitGroup
	if o.baseline {
		baseline := opts
		baseline.Progress = nil
		wg.Add(1)
		go func() {
			defer wg.Done()
			cyclon, cyclonErr = scenario.RunCyclonFailure(baseline)
		}()
	}
	rows, err := scenario.RunFailure(opts)
	wg.Wait()
	if err != nil {
		return err
	}
	if cyclonErr != nil {
		return cyclonErr
	}
	err = printTable(stdout, rep, "HyParView under massive failure", func(w io.Writer) error {
		writeMode(w, o)
		return scenario.WriteFailureTable(w, opts, rows, cyclon)
	})
	if err != nil || rep == nil {
		return err
	}
	return failureCharts(rep, opts, rows, cyclon)
}

func runBroadcast(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	opts := scenario.PaperBroadcastOptions(o.nodes)
	opts.Seed, opts.Stabilisation, opts.Cycles = o.seed, o.stabilisation, o.stabilisation+o.cycles
	if o.constant > 0 {
		opts.ConstantFailures, opts.ConstantFailureCycles = o.constant, min(o.constantCycles, o.cycles)
	}
	opts.Check, opts.Progress, opts.S1Only = o.check, progress, o.s1Only
	opts.Latency, _ = parseLinkDelay(o.linkDelay, o.perMessage) // checked in run
	if o.seeds > 1 {
		return printOverSeeds(o, progress, stdout, rep, "broadcast", "Plumtree against eager push gossip, over seeds", true,
			func(seed uint64) ([]scenario.BroadcastRow, error) {
				so := opts
				so.Seed, so.Progress = seed, nil
				return scenario.RunBroadcast(so)
			},
			func(w io.Writer, seeds []uint64, runs [][]scenario.BroadcastRow) error {
				return scenario.WriteBroadcastSeedsTable(w, opts, seeds, runs)
			},
			func(sink report.Sink, rows []scenario.BroadcastRow) error { return broadcastCharts(sink, opts, rows) })
	}
	rows, err := scenario.RunBroadcast(opts)
	if err != nil {
		return err
	}
	err = printTable(stdout, rep, "Plumtree against eager push gossip", func(w io.Writer) error {
		writeMode(w, o)
		return scenario.WriteBroadcastTable(w, opts, rows)
	})
	if err != nil || rep == nil {
		return err
	}
	return broadcastCharts(rep, opts, rows)
}

func runGraph(o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report) error {
	opts := scenario.PaperGraphOptions(o.nodes)
	opts.Seed, opts.Cycles, opts.Sources = o.seed, o.stabilisation, o.sources
	opts.Check, opts.Progress, opts.S1Only = o.check, progress, o.s1Only
	opts.Latency, _ = parseLinkDelay(o.linkDelay, o.perMessage) // checked in run
	if o.seeds > 1 {
		return printOverSeeds(o, progress, stdout, rep, "graph", "HyParView overlay after stabilisation, over seeds", true,
			func(seed uint64) (scenario.GraphResult, error) {
				so := opts
				so.Seed, so.Progress = seed, nil
				return scenario.RunGraph(so)
			},
			func(w io.Writer, seeds []uint64, results []scenario.GraphResult) error {
				return scenario.WriteGraphSeedsTable(w, opts, seeds, results)
			},
			func(sink report.Sink, r scenario.GraphResult) error { return graphCharts(sink, opts, r) })
	}
	res, err := scenario.RunGraph(opts)
	if err != nil {
		return err
	}
	err = printTable(stdout, rep, "HyParView overlay after stabilisation", func(w io.Writer) error {
		writeMode(w, o)
		return scenario.WriteGraphTable(w, opts, res)
	})
	if err != nil || rep == nil {
		return err
	}
	return graphCharts(rep, opts, res)
}

// parsePercentages reads "10,50,95" as 0.10, 0.50, 0.95.
func parsePercentages(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v >= 100 {
			return nil, fmt.Errorf("-fail: %q is not a percentage in (0, 100)", f)
		}
		out = append(out, v/100)
	}
	return out, nil
}

// recoveryMessages caps the messages drawn one by one in the recovery
// curve after a failure.
const recoveryMessages = 200

// failureCharts adds reliability against the failure rate, the recovery
// curve of the first messages after the failure, and the healing cycles.
func failureCharts(rep report.Sink, o scenario.FailureOptions, rows, cyclon []scenario.FailureRow) error {
	byRate := report.LineChart{
		Title:  fmt.Sprintf("Reliability after the failure (%d nodes, %d messages)", o.Nodes, o.Messages),
		XLabel: "failed nodes (%)", YLabel: "reliability (%)",
		Series: []report.Series{{Name: "HyParView mean after"}, {Name: "HyParView first message"}},
	}
	if cyclon != nil {
		mean, first := report.Series{Name: "Cyclon mean after"}, report.Series{Name: "Cyclon first message"}
		for _, r := range cyclon {
			mean.X, mean.Y = append(mean.X, 100*r.Rate), append(mean.Y, 100*r.Mean)
			first.X, first.Y = append(first.X, 100*r.Rate), append(first.Y, 100*r.Series[0])
		}
		byRate.Series = append(byRate.Series, mean, first)
	}
	n := min(o.Messages, recoveryMessages)
	recovery := report.LineChart{
		Title:  fmt.Sprintf("Reliability of each of the first %d messages after the failure", n),
		XLabel: "message", YLabel: "reliability (%)",
	}
	healing := report.BarChart{
		Title:  fmt.Sprintf("Healing: cycles of %d broadcasts until reliability is back", o.PerCycle),
		XLabel: "failed nodes (%)", YLabel: "cycles",
	}
	for _, r := range rows {
		rate := 100 * r.Rate
		byRate.Series[0].X = append(byRate.Series[0].X, rate)
		byRate.Series[0].Y = append(byRate.Series[0].Y, 100*r.Mean)
		byRate.Series[1].X = append(byRate.Series[1].X, rate)
		byRate.Series[1].Y = append(byRate.Series[1].Y, 100*r.Series[0])

		s := report.Series{Name: fmt.Sprintf("%s%% failed", number(rate))}
		for i, rel := range r.Series[:min(n, len(r.Series))] {
			s.X = append(s.X, float64(i+1))
			s.Y = append(s.Y, 100*rel)
		}
		recovery.Series = append(recovery.Series, s)

		healing.Bars = append(healing.Bars, healingBar(o, r))
	}
	if err := rep.AddLine("failure-reliability", byRate); err != nil {
		return err
	}
	if err := rep.AddLine("failure-recovery", recovery); err != nil {
		return err
	}
	if err := rep.AddBars("failure-healing", healing); err != nil {
		return err
	}
	if err := rep.AddLine("failure-healing-cycles", healingCurve(o, "HyParView", rows)); err != nil || cyclon == nil {
		return err
	}
	healing.Title = "Cyclon baseline: " + healing.Title
	healing.Bars = nil
	for _, r := range cyclon {
		healing.Bars = append(healing.Bars, healingBar(o, r))
	}
	if err := rep.AddBars("failure-healing-cyclon", healing); err != nil {
		return err
	}
	return rep.AddLine("failure-healing-cycles-cyclon", healingCurve(o, "Cyclon baseline", cyclon))
}

// healingCurve is the mean reliability of each healing cycle's broadcasts
// after the failure, one series per failure rate (S1 §5.3's healing
// measure, cycle by cycle).
func healingCurve(o scenario.FailureOptions, name string, rows []scenario.FailureRow) report.LineChart {
	c := report.LineChart{
		Title:  fmt.Sprintf("%s: reliability of the %d broadcasts of each membership cycle after the failure", name, o.PerCycle),
		XLabel: "membership cycles after the failure", YLabel: "reliability (%)",
	}
	for _, r := range rows {
		s := report.Series{Name: fmt.Sprintf("%s%% failed", number(100*r.Rate))}
		for k, rel := range r.Healing {
			s.X, s.Y = append(s.X, float64(k)), append(s.Y, 100*rel)
		}
		c.Series = append(c.Series, s)
	}
	return c
}

// healingBar is one failure rate's bar in a healing chart.
func healingBar(o scenario.FailureOptions, r scenario.FailureRow) report.Bar {
	bar := report.Bar{Label: number(100 * r.Rate), Value: float64(r.HealingCycles)}
	if r.HealingCycles < 0 {
		bar.Value = float64(o.MaxHealingCycles + 1)
		bar.Note = fmt.Sprintf(">%d (not healed)", o.MaxHealingCycles)
	}
	return bar
}

// broadcastCharts adds RMR, LDH and reliability per cycle, one series per
// protocol and sender mode.
func broadcastCharts(rep report.Sink, o scenario.BroadcastOptions, rows []scenario.BroadcastRow) error {
	charts := []struct {
		name, title, label string
		value              func(scenario.CycleSample) float64
	}{
		{"broadcast-rmr", "Relative message redundancy per cycle", "RMR", func(s scenario.CycleSample) float64 { return s.RMR }},
		{"broadcast-ldh", "Last delivery hop per cycle", "LDH (hops)", func(s scenario.CycleSample) float64 { return float64(s.LDH) }},
		{"broadcast-reliability", "Reliability per cycle", "reliability (%)", func(s scenario.CycleSample) float64 { return 100 * s.Reliability }},
	}
	for _, ch := range charts {
		c := report.LineChart{Title: fmt.Sprintf("%s (%d nodes)", ch.title, o.Nodes), XLabel: "cycle", YLabel: ch.label}
		for _, r := range rows {
			mode := "single"
			if r.MultipleSenders {
				mode = "multiple"
			}
			s := report.Series{Name: fmt.Sprintf("%s, %s", r.Protocol, mode)}
			for _, sample := range r.Samples {
				s.X = append(s.X, float64(sample.Cycle))
				s.Y = append(s.Y, ch.value(sample))
			}
			c.Series = append(c.Series, s)
		}
		if err := rep.AddLine(ch.name, c); err != nil {
			return err
		}
	}
	return nil
}

// graphCharts adds the in-degree histogram.
func graphCharts(rep report.Sink, o scenario.GraphOptions, r scenario.GraphResult) error {
	c := report.BarChart{
		Title:  fmt.Sprintf("In-degree of the active views after %d cycles (%d nodes)", o.Cycles, r.Nodes),
		XLabel: "in-degree", YLabel: "nodes",
	}
	for d := r.InDegree.Min; d < len(r.InDegreeHistogram); d++ {
		c.Bars = append(c.Bars, report.Bar{Label: strconv.Itoa(d), Value: float64(r.InDegreeHistogram[d])})
	}
	return rep.AddBars("graph-in-degree", c)
}

// number formats a percentage without needless decimals: 20, 92.5.
func number(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// parseLinkDelay reads -link-delay: "" (the default, 1 ms on every link),
// a duration, or MIN..MAX.
func parseLinkDelay(s string, perMessage bool) (engine.Latency, error) {
	if s == "" {
		if perMessage {
			return engine.Latency{}, fmt.Errorf("-delay-per-message needs -link-delay MIN..MAX")
		}
		return engine.Latency{}, nil
	}
	from, to, isRange := strings.Cut(s, "..")
	lo, err := time.ParseDuration(from)
	if err != nil {
		return engine.Latency{}, fmt.Errorf("-link-delay %q: %v", s, err)
	}
	hi := lo
	if isRange {
		if hi, err = time.ParseDuration(to); err != nil {
			return engine.Latency{}, fmt.Errorf("-link-delay %q: %v", s, err)
		}
	}
	if lo <= 0 || hi < lo {
		return engine.Latency{}, fmt.Errorf("-link-delay %q: want a positive delay, or MIN..MAX with 0 < MIN <= MAX", s)
	}
	if perMessage && lo == hi {
		return engine.Latency{}, fmt.Errorf("-delay-per-message needs a range, -link-delay MIN..MAX")
	}
	return engine.Latency{Min: lo, Max: hi, PerMessage: perMessage}, nil
}

// runFailureSeeds runs the failure experiment once per seed and prints
// the table over the seeds.
func runFailureSeeds(o options, opts scenario.FailureOptions, stdout io.Writer, rep *report.Report) error {
	return printOverSeeds(o, opts.Progress, stdout, rep, "failure", "HyParView under massive failure, over seeds", true,
		func(seed uint64) ([]scenario.FailureRow, error) {
			so := opts
			so.Seed, so.Progress = seed, nil
			return scenario.RunFailure(so)
		},
		func(w io.Writer, seeds []uint64, runs [][]scenario.FailureRow) error {
			return scenario.WriteFailureSeedsTable(w, opts, seeds, runs)
		},
		func(sink report.Sink, rows []scenario.FailureRow) error { return failureCharts(sink, opts, rows, nil) })
}

// printOverSeeds runs an experiment once per seed (overSeeds) and prints
// the table that write makes of the results, after the mode line of the
// papers' experiments when withMode is set. With -out, charts makes each
// seed's charts, and the report gets their means and spreads
// (report.MergeRuns).
func printOverSeeds[T any](o options, progress *scenario.Progress, stdout io.Writer, rep *report.Report, name, title string, withMode bool,
	run func(seed uint64) (T, error), write func(w io.Writer, seeds []uint64, results []T) error,
	charts func(sink report.Sink, result T) error) error {
	seeds, results, err := overSeeds(o, progress, name, run)
	if err != nil {
		return err
	}
	err = printTable(stdout, rep, title, func(w io.Writer) error {
		if withMode {
			writeMode(w, o)
		}
		return write(w, seeds, results)
	})
	if err != nil || rep == nil || charts == nil {
		return err
	}
	runs := make([]*report.Collector, len(results))
	for i, r := range results {
		runs[i] = new(report.Collector)
		if err := charts(runs[i], r); err != nil {
			return err
		}
	}
	return report.MergeRuns(rep, runs, fmt.Sprintf("seeds %d..%d", seeds[0], seeds[len(seeds)-1]))
}

// overSeeds runs one experiment per seed, -seed to -seed+N-1, at most as
// many at once as there are cores, and returns the seeds and their
// results in seed order: each is the run of its seed alone, whichever
// finishes first.
func overSeeds[T any](o options, progress *scenario.Progress, name string, run func(seed uint64) (T, error)) ([]uint64, []T, error) {
	seeds := make([]uint64, o.seeds)
	for i := range seeds {
		seeds[i] = o.seed + uint64(i)
	}
	results := make([]T, len(seeds))
	errs := make([]error, len(seeds))
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	progress.StartJobs(fmt.Sprintf("%s: %d seeds", name, len(seeds)), len(seeds))
	for i, seed := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = run(seed)
			progress.JobDone(i)
		}()
	}
	wg.Wait()
	progress.JobsDone()
	return seeds, results, errors.Join(errs...)
}
