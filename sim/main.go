// Command sim runs plumview's protocol cores on thousands of simulated nodes
// and reproduces the experiments of the HyParView and Plumtree papers.
//
// Usage:
//
//	go run ./sim                                  # both experiments on 2,000 nodes
//	go run ./sim -scenario failure -nodes 10000 -fail 10,20,30,40,50,60,70,80,90,95 -messages 1000
//	go run ./sim -scenario broadcast -nodes 10000 -constant 50
//
// The same seed and flags print the same bytes. Progress for long phases
// goes to stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/plumview/plumview/sim/scenario"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(2)
	}
}

// options are the command's flags.
type options struct {
	scenario       string
	nodes          int
	seed           uint64
	stabilisation  int
	cycles         int
	fail           string
	messages       int
	constant       int
	constantCycles int
	check          bool
	quiet          bool
}

const usage = `usage: go run ./sim [flags]

Runs the HyParView and Plumtree papers' experiments on simulated nodes that
run the real protocol cores, and prints a table per experiment.

scenarios:
  failure    HyParView under massive failure (S1 §5.3): reliability of the
             broadcasts after 10%%..95%% of nodes fail at once, and healing time
  broadcast  Plumtree against eager push gossip (S2 §4): reliability, RMR,
             LDH, messages per cycle, single and multiple senders
  all        both (the default)

flags:
`

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "all", "experiment to run: failure, broadcast or all")
	fs.IntVar(&o.nodes, "nodes", 2000, "number of simulated nodes")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed and flags give the same output")
	fs.IntVar(&o.stabilisation, "stabilisation", 50, "membership cycles after the joins before anything is measured")
	fs.IntVar(&o.cycles, "cycles", 200, "broadcast: measured cycles, one broadcast each")
	fs.StringVar(&o.fail, "fail", "20,50,80", "failure: comma-separated percentages of nodes that fail at once")
	fs.IntVar(&o.messages, "messages", 200, "failure: broadcasts after the failure, before the next membership cycle")
	fs.IntVar(&o.constant, "constant", 0, "broadcast: nodes that fail in each cycle after stabilisation (the paper: 50)")
	fs.IntVar(&o.constantCycles, "constant-cycles", 100, "broadcast: cycles with -constant failures")
	fs.BoolVar(&o.check, "check", false, "check every node's invariants after each step (slower)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
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
	if o.nodes < 2 {
		return fmt.Errorf("-nodes must be at least 2, got %d", o.nodes)
	}
	if o.stabilisation < 0 || o.cycles < 1 || o.messages < 1 {
		return fmt.Errorf("-stabilisation must be at least 0, -cycles and -messages at least 1")
	}
	var progress *scenario.Progress
	if !o.quiet {
		progress = scenario.NewProgress(stderr)
	}
	switch o.scenario {
	case "failure":
		return runFailure(o, progress, stdout)
	case "broadcast":
		return runBroadcast(o, progress, stdout)
	case "all":
		if err := runFailure(o, progress, stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		return runBroadcast(o, progress, stdout)
	default:
		return fmt.Errorf("unknown -scenario %q: want failure, broadcast or all", o.scenario)
	}
}

func runFailure(o options, progress *scenario.Progress, stdout io.Writer) error {
	rates, err := parsePercentages(o.fail)
	if err != nil {
		return err
	}
	opts := scenario.PaperFailureOptions(o.nodes)
	opts.Seed, opts.Cycles, opts.Rates, opts.Messages = o.seed, o.stabilisation, rates, o.messages
	opts.FirstMessages = min(opts.FirstMessages, o.messages)
	opts.Check, opts.Progress = o.check, progress
	rows, err := scenario.RunFailure(opts)
	if err != nil {
		return err
	}
	return scenario.WriteFailureTable(stdout, opts, rows)
}

func runBroadcast(o options, progress *scenario.Progress, stdout io.Writer) error {
	opts := scenario.PaperBroadcastOptions(o.nodes)
	opts.Seed, opts.Stabilisation, opts.Cycles = o.seed, o.stabilisation, o.stabilisation+o.cycles
	if o.constant > 0 {
		opts.ConstantFailures, opts.ConstantFailureCycles = o.constant, min(o.constantCycles, o.cycles)
	}
	opts.Check, opts.Progress = o.check, progress
	rows, err := scenario.RunBroadcast(opts)
	if err != nil {
		return err
	}
	return scenario.WriteBroadcastTable(stdout, opts, rows)
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
