package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runSim(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(append(args, "-quiet"), &stdout, &stderr), "stderr: %s", stderr.String())
	return stdout.String()
}

// TestSameSeedSameBytes: the same seed and flags give byte-identical output.
func TestSameSeedSameBytes(t *testing.T) {
	args := []string{"-nodes", "300", "-stabilisation", "5", "-cycles", "20", "-fail", "30,60", "-messages", "20", "-seed", "7"}
	first := runSim(t, args...)
	second := runSim(t, args...)
	require.Equal(t, first, second)
	require.Contains(t, first, "30.00%")
	require.Contains(t, first, "60.00%")

	other := runSim(t, append(args[:len(args)-1], "8")...)
	require.NotEqual(t, first, other, "a different seed should give a different run")
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
	first, second := filepath.Join(t.TempDir(), "a", "new"), t.TempDir()
	stdout := runSim(t, append(args, "-out", first)...)
	require.Contains(t, stdout, "HyParView overlay after stabilisation", "all includes the graph scenario")
	runSim(t, append(args, "-out", second)...)

	files := dirFiles(t, first)
	require.Equal(t, files, dirFiles(t, second))
	for _, want := range []string{"index.html", "failure-reliability.csv", "failure-recovery.svg", "failure-healing.svg",
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
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 1 // every allocation, so that a small run shows
	defer func() { runtime.MemProfileRate = rate }()
	args := []string{"-scenario", "members", "-nodes", "40"}
	plain := runSim(t, args...)
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
