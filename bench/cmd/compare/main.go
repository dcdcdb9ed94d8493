// Command compare measures gossip systems side by side on this machine: for
// each system it starts a cluster on 127.0.0.1, measures join convergence,
// broadcast latency, bytes per delivery, sustained deliveries per second,
// failure detection (membership systems), CPU and memory, and prints one
// table with a column per system and ratio columns versus the first.
//
//	cd bench && go run ./cmd/compare -nodes 64 -systems plumview,memberlist,gossipsub -out ../docs/benchmarks.md
//
// Each system runs in its own subprocess of this binary (unless -inprocess),
// so its CPU time, heap and peak RSS are its own and nothing it leaks can
// disturb the next system; the subprocess is killed if it overruns the sum
// of its phase timeouts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/plumview/plumview/bench/harness"
	_ "github.com/plumview/plumview/bench/systems"
)

// flags are the command line.
type flags struct {
	opts      harness.Options
	systems   []string
	out       string
	inProcess bool
	child     string
	quiet     bool
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.IntVar(&f.opts.Nodes, "nodes", 64, "nodes per system")
	fs.IntVar(&f.opts.Messages, "messages", 100, "messages per payload size in the latency phases")
	sizes := fs.String("sizes", "256,4096", "payload sizes in bytes, comma-separated")
	systems := fs.String("systems", "plumview,memberlist,gossipsub", "systems to compare, comma-separated; ratios are versus the first")
	fs.StringVar(&f.out, "out", "", "markdown file to append the table to")
	fs.DurationVar(&f.opts.Timeout, "timeout", 3*time.Minute, "bound on every phase")
	fs.DurationVar(&f.opts.MsgTimeout, "msg-timeout", 10*time.Second, "bound on one message's delivery")
	fs.DurationVar(&f.opts.Sustain, "sustain", 10*time.Second, "duration of the sustained phase")
	fs.IntVar(&f.opts.Window, "window", 256, "messages in flight in the sustained phase")
	fs.DurationVar(&f.opts.Settle, "settle", time.Second, "pause after each phase, counted in its bytes")
	fs.DurationVar(&f.opts.Idle, "idle", 10*time.Second, "idle phase after the join (no broadcasts: the cost of membership alone); 0 skips it")
	fs.DurationVar(&f.opts.IdleWarmup, "idle-warmup", 15*time.Second, "time the cluster runs after the join, not measured, before the idle phase: the join's aftermath is not what membership costs")
	fs.Float64Var(&f.opts.JoinRate, "join-rate", 0, "joins started per second after the first node, as a rolling deployment adds nodes; 0: all at once")
	fs.Int64Var(&f.opts.Seed, "seed", 1, "seed for payloads and random dials")
	fs.StringVar(&f.opts.ProfileDir, "profile", "", "directory receiving a CPU profile of each phase of each system (<system>-<phase>.pprof) and heap profiles after the join and the sustained phase (<system>-heap-after-<phase>.pprof)")
	fs.BoolVar(&f.inProcess, "inprocess", false, "run the systems one after the other in this process")
	fs.StringVar(&f.child, "child", "", "internal: run this one system and print its result as JSON")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return f, fmt.Errorf("-sizes: %w", err)
		}
		f.opts.Sizes = append(f.opts.Sizes, n)
	}
	for _, s := range strings.Split(*systems, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, err := harness.New(s); err != nil {
				return f, err
			}
			f.systems = append(f.systems, s)
		}
	}
	if len(f.systems) == 0 {
		return f, fmt.Errorf("-systems: none given (have %v)", harness.Names())
	}
	if !f.quiet {
		f.opts.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
	}
	return f, f.opts.Validate()
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if f.child != "" {
		os.Exit(runChild(ctx, f))
	}
	if err := compare(ctx, f, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// compare runs every system and prints the table.
func compare(ctx context.Context, f flags, args []string) error {
	at, m := time.Now(), harness.ThisMachine()
	var results []harness.Result
	for _, name := range f.systems {
		t0 := time.Now()
		var res harness.Result
		if f.inProcess {
			sys, err := harness.New(name)
			if err != nil {
				return err
			}
			res = harness.RunSystem(ctx, sys, f.opts)
		} else {
			res = runSubprocess(ctx, name, f)
		}
		if f.opts.Logf != nil {
			f.opts.Logf("%s: done in %s", name, time.Since(t0).Round(time.Millisecond))
		}
		results = append(results, res)
	}
	table := harness.Table(harness.Rows(f.opts), results)
	fmt.Printf("\n%s, %d nodes, %s\n\n", at.Format("2006-01-02 15:04 MST"), f.opts.Nodes, m)
	if err := harness.WriteText(os.Stdout, table); err != nil {
		return err
	}
	fmt.Println()
	for _, n := range harness.Notes(results) {
		fmt.Println("- " + n)
	}
	if f.out == "" {
		return nil
	}
	out, err := os.OpenFile(f.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	command := "cd bench && go run ./cmd/compare " + shellJoin(args)
	return errors.Join(harness.Report(out, strings.TrimSpace(command), m, at, table, results), out.Close())
}

// shellJoin quotes args for a POSIX shell where needed.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`|&;<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
