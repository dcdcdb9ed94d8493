package main

import (
	"bytes"
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
		"not a number":            {"-fail", "ten"},
		"too few nodes":           {"-nodes", "1"},
		"stray argument":          {"extra"},
		"unknown flag":            {"-nope"},
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
