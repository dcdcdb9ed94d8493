// Command sim runs plumview's protocol cores on thousands of simulated nodes
// and reproduces the experiments of the HyParView and Plumtree papers.
//
// Usage:
//
//	go run ./sim                      # default: 2,000 nodes, 50% fail at once
//	go run ./sim -nodes 10000 -fail 10,20,30,40,50,60,70,80,90,95
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

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		nodes    = fs.Int("nodes", 2000, "number of simulated nodes")
		seed     = fs.Uint64("seed", 1, "random seed: the same seed and flags give the same output")
		cycles   = fs.Int("cycles", 50, "membership cycles of stabilisation before the failure")
		fail     = fs.String("fail", "50", "comma-separated percentages of nodes that fail at once")
		messages = fs.Int("messages", 200, "broadcasts after the failure, before the next membership cycle")
		check    = fs.Bool("check", false, "check every node's invariants after each step (slower)")
		quiet    = fs.Bool("quiet", false, "no progress lines on stderr")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./sim [flags]\n\nRuns the HyParView massive-failure experiment on simulated nodes.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	rates, err := parsePercentages(*fail)
	if err != nil {
		return err
	}
	if *nodes < 2 {
		return fmt.Errorf("-nodes must be at least 2, got %d", *nodes)
	}
	if *cycles < 0 || *messages < 1 {
		return fmt.Errorf("-cycles must be at least 0 and -messages at least 1")
	}
	var progress *scenario.Progress
	if !*quiet {
		progress = scenario.NewProgress(stderr)
	}
	opts := scenario.PaperFailureOptions(*nodes)
	opts.Seed, opts.Cycles, opts.Rates, opts.Messages = *seed, *cycles, rates, *messages
	opts.FirstMessages = min(opts.FirstMessages, *messages)
	opts.Check, opts.Progress = *check, progress
	rows, err := scenario.RunFailure(opts)
	if err != nil {
		return err
	}
	return scenario.WriteFailureTable(stdout, opts, rows)
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
