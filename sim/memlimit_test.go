package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// The simulator sets a soft memory limit from the physical memory, unless
// GOMEMLIMIT sets one.
func TestMemoryLimitFromPhysicalMemoryUnlessGOMEMLIMIT(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	t.Setenv("GOMEMLIMIT", "1GiB")
	require.Zero(t, setMemoryLimit(), "GOMEMLIMIT rules")
	require.Equal(t, before, debug.SetMemoryLimit(-1))

	t.Setenv("GOMEMLIMIT", "")
	limit := setMemoryLimit()
	if runtime.GOOS != "linux" {
		require.Zero(t, limit)
		return
	}
	total := physicalMemory()
	require.Positive(t, total)
	require.Equal(t, int64(float64(total)*memoryLimitShare), limit)
	require.Equal(t, limit, debug.SetMemoryLimit(-1))
	require.Less(t, limit, int64(math.MaxInt64))
}
