package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/plumview/plumview/bench/harness"
)

// runChild runs one system in this process and prints its result as one
// line of JSON on stdout; it returns the exit code.
func runChild(ctx context.Context, f flags) int {
	sys, err := harness.New(f.child)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 2
	}
	res := harness.RunSystem(ctx, sys, f.opts)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	return 0
}

// childBudget bounds a subprocess: every phase's timeout plus slack for
// starting and stopping.
func childBudget(o harness.Options) time.Duration {
	phases := 3 + 2*len(o.Sizes) // join, latency per size (and its settle), sustained and drain, failure
	return time.Duration(phases)*o.Timeout + o.Sustain + o.IdleWarmup + o.Idle + time.Minute
}

// runSubprocess runs one system in a subprocess of this binary and returns
// its result; if the subprocess fails, every row says why.
func runSubprocess(ctx context.Context, name string, f flags) harness.Result {
	fail := func(format string, args ...any) harness.Result {
		res := harness.Result{System: name}
		for _, row := range harness.Rows(f.opts) {
			res.Set(row.Key, harness.Failed(format, args...))
		}
		return res
	}
	exe, err := os.Executable()
	if err != nil {
		return fail("cannot find own executable: %v", err)
	}
	o := f.opts
	args := childArgs(name, f)
	budget := childBudget(o)
	cctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, args...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if cctx.Err() == context.DeadlineExceeded {
		return fail("subprocess killed after %s", budget)
	}
	if err != nil {
		return fail("subprocess: %v", err)
	}
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	var res harness.Result
	if err := json.Unmarshal(lines[len(lines)-1], &res); err != nil {
		return fail("subprocess output: %v", err)
	}
	return res
}

// childArgs is the command line of the child running system name with
// f's options: every option of a run, so that parseFlags gives the child
// the options its parent has.
func childArgs(name string, f flags) []string {
	o := f.opts
	sizes := make([]string, len(o.Sizes))
	for i, s := range o.Sizes {
		sizes[i] = strconv.Itoa(s)
	}
	args := []string{"-child", name,
		"-nodes", strconv.Itoa(o.Nodes), "-messages", strconv.Itoa(o.Messages),
		"-sizes", strings.Join(sizes, ","), "-timeout", o.Timeout.String(),
		"-msg-timeout", o.MsgTimeout.String(), "-sustain", o.Sustain.String(),
		"-window", strconv.Itoa(o.Window), "-settle", o.Settle.String(), "-idle", o.Idle.String(), "-idle-warmup", o.IdleWarmup.String(),
		"-seed", strconv.FormatInt(o.Seed, 10), "-systems", name,
		"-join-rate", strconv.FormatFloat(o.JoinRate, 'g', -1, 64),
	}
	if o.ProfileDir != "" {
		args = append(args, "-profile", o.ProfileDir)
	}
	if f.quiet {
		args = append(args, "-quiet")
	}
	return args
}
