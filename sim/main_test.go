package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func runSim(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(slices.Concat(args, []string{"-quiet"}), &stdout, &stderr), "stderr: %s", stderr.String())
	return stdout.String()
}

// runSims runs the simulator once per argument list, all at once (a run
// is single-threaded and shares nothing with another), and returns their
// outputs in order.
func runSims(t *testing.T, argLists ...[]string) []string {
	t.Helper()
	outs := make([]string, len(argLists))
	errs := make([]error, len(argLists))
	var wg sync.WaitGroup
	for i, args := range argLists {
		wg.Go(func() {
			var stdout, stderr bytes.Buffer
			if err := run(slices.Concat(args, []string{"-quiet"}), &stdout, &stderr); err != nil {
				errs[i] = fmt.Errorf("%v: %w; stderr: %s", args, err, stderr.String())
			}
			outs[i] = stdout.String()
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return outs
}

// TestSameSeedSameBytes: the same seed and flags give byte-identical output,
// and another seed another output (shown on one scenario, the broadcast
// one, which takes a tenth of the time of all of them).
func TestSameSeedSameBytes(t *testing.T) {
	t.Parallel()
	args := []string{"-nodes", "300", "-stabilisation", "5", "-cycles", "20", "-fail", "30,60", "-messages", "20", "-seed", "7"}
	one := append(slices.Clone(args), "-scenario", "broadcast")
	outs := runSims(t, args, args, one, append(slices.Clone(one[:len(args)-1]), "8", "-scenario", "broadcast"))
	first, second := outs[0], outs[1]
	require.Equal(t, first, second)
	require.Contains(t, first, "30.00%")
	require.Contains(t, first, "60.00%")
	require.Contains(t, first, strings.TrimSpace(outs[2]), "the broadcast scenario alone prints what it prints among all")
	require.NotEqual(t, outs[2], outs[3], "a different seed should give a different run")
}

func TestRejectsBadFlags(t *testing.T) {
	cases := map[string][]string{
		"percentage out of range": {"-scenario", "failure", "-fail", "100"},
		"unknown scenario":        {"-scenario", "nope"},
		"zero duration":           {"-scenario", "continuous", "-duration", "0s"},
		"negative rate":           {"-scenario", "continuous", "-rate", "-1"},
		"not a number":            {"-fail", "ten"},
		"too few nodes":           {"-nodes", "1"},
		"stray argument":          {"extra"},
		"unknown flag":            {"-nope"},
		"negative sources":        {"-scenario", "graph", "-sources", "-1"},
		"heap profile elsewhere":  {"-scenario", "graph", "-memprofile", "heap.prof"},
		"link delay not a time":   {"-scenario", "graph", "-link-delay", "fast"},
		"link delay backwards":    {"-scenario", "graph", "-link-delay", "9ms..1ms"},
		"link delay of zero":      {"-scenario", "graph", "-link-delay", "0s"},
		"per message, no range":   {"-scenario", "graph", "-link-delay", "5ms", "-delay-per-message"},
		"per message, no delay":   {"-scenario", "graph", "-delay-per-message"},
		"seeds elsewhere":         {"-scenario", "members", "-seeds", "2"},
		"seeds of scale":          {"-scenario", "scale", "-seeds", "2"},
		"join batch elsewhere":    {"-scenario", "failure", "-join-batch", "4"},
		"join batch of zero":      {"-scenario", "scale", "-join-batch", "0"},
		"no seed":                 {"-scenario", "failure", "-seeds", "0"},
		"negative spacing":        {"-scenario", "failure", "-spacing", "-1ms"},
		"floor above timeout1":    {"-scenario", "continuous", "-min-graft-timeout", "100ms"},
		"floor above its flag":    {"-scenario", "continuous", "-graft-timeout", "30ms", "-min-graft-timeout", "40ms"},
		"negative floor":          {"-scenario", "continuous", "-min-graft-timeout", "-1ms"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(args, &stdout, &stderr)
			require.Error(t, err)
			require.Empty(t, strings.TrimSpace(stdout.String()))
		})
	}
}

// TestOutWritesTheSameFilesTwice: -out with the same seed writes
// byte-identical files; the index shows every plot; every SVG is XML and
// every CSV parses.
func TestOutWritesTheSameFilesTwice(t *testing.T) {
	args := []string{"-nodes", "200", "-stabilisation", "5", "-cycles", "10", "-fail", "30,60", "-messages", "20", "-seed", "3"}
	t.Parallel()
	first, second := filepath.Join(t.TempDir(), "a", "new"), t.TempDir()
	outs := runSims(t, append(slices.Clone(args), "-out", first), append(slices.Clone(args), "-out", second))
	require.Contains(t, outs[0], "HyParView overlay after stabilisation", "all includes the graph scenario")
	require.Equal(t, outs[0], outs[1])

	files := dirFiles(t, first)
	require.Equal(t, files, dirFiles(t, second))
	for _, want := range []string{"index.html", "failure-reliability.csv", "failure-recovery.svg", "failure-healing.svg",
		"failure-healing-cycles.csv", "failure-healing-cycles-cyclon.svg", "massive-ldh-cycles.csv", "massive-rmr-cycles.svg",
		"broadcast-rmr.svg", "broadcast-ldh.csv", "broadcast-reliability.svg", "graph-in-degree.svg"} {
		require.Contains(t, files, want)
	}
	index, err := os.ReadFile(filepath.Join(first, "index.html"))
	require.NoError(t, err)
	for _, name := range files {
		a, err := os.ReadFile(filepath.Join(first, name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(second, name))
		require.NoError(t, err)
		require.Equal(t, a, b, "%s differs between two runs", name)
		switch filepath.Ext(name) {
		case ".svg":
			require.Contains(t, string(index), `src="`+name+`"`)
			d := xml.NewDecoder(bytes.NewReader(a))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				require.NoError(t, err, name)
			}
		case ".csv":
			require.Contains(t, string(index), `href="`+name+`"`)
			rows, err := csv.NewReader(bytes.NewReader(a)).ReadAll()
			require.NoError(t, err, name)
			require.Greater(t, len(rows), 1, "%s has a header and data", name)
		}
	}

	// The recovery curve: one column per failure rate, one row per message.
	recovery, err := os.ReadFile(filepath.Join(first, "failure-recovery.csv"))
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(recovery)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"message", "30% failed", "60% failed"}, rows[0])
	require.Len(t, rows, 1+20)
}

// sameFiles checks that two directories hold the same files with the same
// bytes, and returns their names.
func sameFiles(t *testing.T, first, second string) []string {
	t.Helper()
	files := dirFiles(t, first)
	require.Equal(t, files, dirFiles(t, second))
	for _, name := range files {
		a, err := os.ReadFile(filepath.Join(first, name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(second, name))
		require.NoError(t, err)
		require.Equal(t, a, b, "%s differs between two runs", name)
	}
	return files
}

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestOutRejectsAnUnwritablePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	var stdout, stderr bytes.Buffer
	err := run([]string{"-scenario", "graph", "-nodes", "50", "-quiet", "-out", filepath.Join(file, "dir")}, &stdout, &stderr)
	require.ErrorContains(t, err, "-out: report: cannot create output directory")
	require.Empty(t, stdout.String(), "nothing runs before the directory is ready")
}

func TestGraphScenario(t *testing.T) {
	out := runSim(t, "-scenario", "graph", "-nodes", "300", "-stabilisation", "10")
	require.Regexp(t, `components\s+1\s+\(largest 300 nodes\)`, out)
	require.Contains(t, out, "exact, from all 300 nodes")
	require.NotContains(t, out, "massive failure")
}

// TestMemProfileOfTheMembersRun: -memprofile writes heap profiles (a
// gzipped protocol buffer), at the end and once the lists are complete, that records the member lists' allocations,
// without changing the table.
func TestMemProfileOfTheMembersRun(t *testing.T) {
	args := []string{"-scenario", "members", "-nodes", "40"}
	plain := runSim(t, args...)
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 1 // every allocation, so that a small run shows; not for the plain run, which it would slow
	defer func() { runtime.MemProfileRate = rate }()
	path := filepath.Join(t.TempDir(), "heap.prof")
	require.Equal(t, plain, runSim(t, append(args, "-memprofile", path)...))
	for _, p := range []string{path, path + "-joined"} { // at the end, and at the peak
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		z, err := gzip.NewReader(f)
		require.NoError(t, err)
		raw, err := io.ReadAll(z)
		require.NoError(t, err)
		require.Contains(t, string(raw), "roster.(*Roster).store", p)
	}
}

// -link-delay reaches the papers' experiments: the table names the delays,
// and per-message delays give another run than per-link ones, each
// deterministic.
func TestLinkDelayFlags(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "broadcast", "-nodes", "200", "-stabilisation", "5", "-cycles", "10", "-link-delay", "5ms..100ms"}
	perMessage := append(slices.Clone(args), "-delay-per-message")
	outs := runSims(t, args, perMessage, perMessage)
	require.Contains(t, outs[0], "each link takes 5ms to 100ms")
	require.Contains(t, outs[1], "drawn per message")
	require.NotEqual(t, outs[0], outs[1])
	require.Equal(t, outs[1], outs[2])
}

// -min-graft-timeout runs the continuous experiment with the adaptive
// timeout1 (plumtree/doc.go, deviation 15), says so in the table's header,
// and changes the run; the default header names no timers.
func TestMinGraftTimeoutFlag(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "continuous", "-nodes", "100", "-duration", "5s"}
	outs := runSims(t, args, append(slices.Clone(args), "-min-graft-timeout", "20ms"))
	require.NotContains(t, outs[0], "Plumtree:")
	require.Contains(t, outs[1], "Plumtree: timeout1 following the measured lags between 20ms and 80ms, timeout2 40ms")
	rows := func(s string) string { return s[strings.Index(s, "no loss"):] }
	require.NotEqual(t, rows(outs[0]), rows(outs[1]))
	for _, bad := range [][]string{{"-min-graft-timeout", "100ms"}, {"-graft-timeout", "30ms", "-min-graft-timeout", "40ms"}} {
		var stdout, stderr bytes.Buffer
		err := run(slices.Concat(args, bad), &stdout, &stderr)
		require.ErrorContains(t, err, "-min-graft-timeout", "%v: refused by the flag's own check, before any run", bad)
	}
}

// -seeds runs the failure experiment once per seed, side by side, and
// prints means and spreads; the table is the same whichever run ends
// first.
func TestFailureOverSeeds(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "failure", "-nodes", "300", "-stabilisation", "5", "-fail", "50,80", "-messages", "20", "-seeds", "3", "-seed", "4"}
	outs := runSims(t, args, args)
	require.Equal(t, outs[0], outs[1])
	require.Contains(t, outs[0], "over 3 seeds (4..6)")
	require.Contains(t, outs[0], " ± ")
	require.Contains(t, outs[0], "never healed")
}

// Charts over seeds: with -out, each chart is the mean over the seeds
// with a -spread chart of the standard deviations beside it, written the
// same twice.
func TestChartsOverSeeds(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "failure", "-nodes", "200", "-stabilisation", "5", "-fail", "50,80", "-messages", "10", "-seeds", "2"}
	first, second := t.TempDir(), t.TempDir()
	outs := runSims(t, append(slices.Clone(args), "-out", first), append(slices.Clone(args), "-out", second))
	require.Equal(t, outs[0], outs[1])
	files := sameFiles(t, first, second)
	for _, want := range []string{"failure-reliability.csv", "failure-reliability-spread.csv", "failure-recovery.svg",
		"failure-recovery-spread.svg", "failure-healing.csv", "failure-healing-cycles-spread.csv"} {
		require.Contains(t, files, want)
	}
	healing, err := os.ReadFile(filepath.Join(first, "failure-healing.csv"))
	require.NoError(t, err)
	require.Contains(t, string(healing), " ± ", "each bar's note: mean ± spread")
	svg, err := os.ReadFile(filepath.Join(first, "failure-reliability.svg"))
	require.NoError(t, err)
	require.Contains(t, string(svg), "mean over seeds 1..2")
}

// The graph over seeds: the same table twice, with spreads and ranges
// (the production overlay, which is connected after five cycles on every
// seed; S1's rules alone leave a few of 300 nodes with active views of 3
// cut off, docs/simulation.md, experiment 2).
func TestGraphOverSeeds(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "graph", "-nodes", "300", "-stabilisation", "5", "-seeds", "3", "-paper=false"}
	outs := runSims(t, args, args)
	require.Equal(t, outs[0], outs[1])
	require.Contains(t, outs[0], "over 3 seeds (1..3)")
	require.Regexp(t, `clustering coefficient +0\.\d+ ± 0\.\d+`, outs[0])
	require.Regexp(t, `components +\[1, 1\]`, outs[0])
}

// -spacing sends the broadcasts after the failure apart in virtual time:
// another run than to quiescence, as deterministic, and the table says so.
func TestFailureSpacedBroadcasts(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "failure", "-nodes", "300", "-stabilisation", "5", "-fail", "80", "-messages", "50", "-keepalive", "1s", "-baseline=false"}
	spaced := append(slices.Clone(args), "-spacing", "10ms")
	outs := runSims(t, args, spaced, spaced)
	require.Contains(t, outs[1], "sent 10ms apart in virtual time")
	require.NotEqual(t, outs[0], outs[1])
	require.Equal(t, outs[1], outs[2])
}

// The broadcast experiment over seeds.
func TestBroadcastOverSeeds(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "broadcast", "-nodes", "200", "-stabilisation", "5", "-cycles", "10", "-seeds", "2"}
	outs := runSims(t, args, args)
	require.Equal(t, outs[0], outs[1])
	require.Contains(t, outs[0], "over 2 seeds (1..2)")
	require.Regexp(t, `plumtree +single +\d+\.\d+ ± \d+\.\d+% +0\.\d+ ± 0\.\d+`, outs[0])
}

// The papers' experiments run in the paper mode unless -paper=false: the
// table says which mode ran, the paper mode's settings (S1's rules only,
// crashes noticed after 1 s, stranded survivors rejoining) are named and
// change the run, and a -keepalive given explicitly wins, 0 included.
func TestPaperModeIsTheDefault(t *testing.T) {
	t.Parallel()
	args := []string{"-scenario", "failure", "-nodes", "300", "-stabilisation", "5", "-fail", "80", "-messages", "20", "-baseline=false"}
	outs := runSims(t, args, append(slices.Clone(args), "-paper=false"), append(slices.Clone(args), "-keepalive", "0"),
		[]string{"-scenario", "massive", "-nodes", "200", "-stabilisation", "5", "-fail", "80"},
		[]string{"-scenario", "massive", "-nodes", "200", "-stabilisation", "5", "-fail", "80", "-paper=false"})
	paper, production, noKeepAlive, massive, massiveProduction := outs[0], outs[1], outs[2], outs[3], outs[4]
	require.Contains(t, paper, "paper mode (the default")
	require.Contains(t, paper, "as S1 describes it")
	require.Contains(t, paper, "notice a crash 1s after it")
	require.Contains(t, paper, "knows no peer at all joins through a random live node")
	require.Contains(t, production, "production mode (-paper=false)")
	require.NotContains(t, production, "as S1 describes it")
	require.NotContains(t, production, "notice a crash")
	require.NotContains(t, production, "knows no peer at all")
	require.NotContains(t, noKeepAlive, "notice a crash")
	require.Contains(t, noKeepAlive, "as S1 describes it")
	require.Contains(t, massive, "paper mode (the default")
	require.Contains(t, massive, "knows no peer at all joins through a random live node")
	require.Contains(t, massiveProduction, "production mode (-paper=false)")
	tableOf := func(s string) string { return s[strings.Index(s, "failed"):] }
	require.NotEqual(t, tableOf(paper), tableOf(production))
	require.NotEqual(t, tableOf(paper), tableOf(noKeepAlive))
}

// The massive-failure and continuous experiments over seeds: the same
// table twice, with spreads.
func TestMassiveAndContinuousOverSeeds(t *testing.T) {
	t.Parallel()
	massive := []string{"-scenario", "massive", "-nodes", "200", "-stabilisation", "5", "-fail", "50,90", "-seeds", "3"}
	continuous := []string{"-scenario", "continuous", "-nodes", "60", "-duration", "5s", "-seeds", "2"}
	outs := runSims(t, massive, massive, continuous, continuous)
	require.Equal(t, outs[0], outs[1])
	require.Contains(t, outs[0], "over 3 seeds (1..3)")
	require.Regexp(t, `50\.00% +plumtree +\d+\.\d+ ± \d+\.\d+%`, outs[0])
	require.Contains(t, outs[0], "never healed")
	require.Equal(t, outs[2], outs[3])
	require.Contains(t, outs[2], "over 2 seeds (1..2)")
	require.Regexp(t, `no loss +\d+\.\d+ ± \d+\.\d+% +\d+ ± \d+`, outs[2])
}
