package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAFailedJoinPrintsTheMetrics checks that a join that does not
// complete within its bound returns its error after printing what moved
// until then, rather than nothing: at 384 nodes and more the join does not
// complete, and that is what the tool must then show.
func TestAFailedJoinPrintsTheMetrics(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	runErr := run(3, time.Second, 0, time.Nanosecond, true)
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	require.ErrorContains(t, runErr, "deadline exceeded")
	require.True(t, strings.HasPrefix(string(out), "-- the join failed"), "output: %q", out)
	require.NotContains(t, string(out), "active view sizes", "nothing of the idle watch after a failed join")
}
