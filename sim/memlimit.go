package main

import (
	"os"
	"runtime/debug"
)

// memoryLimitShare is the share of the machine's physical memory the
// simulator takes as its soft memory limit (runtime/debug.SetMemoryLimit)
// when GOMEMLIMIT does not set one. The collector lets the heap grow to
// twice what is live before it runs (GOGC=100): a member-list run of 5,000
// nodes, whose live heap grows with the square of the nodes, peaked at
// twice its live heap in RSS and ran out of memory. Under the limit the
// collector runs more often instead, so the run fits as long as what is
// live does (docs/simulation.md, "Memory").
const memoryLimitShare = 0.85

// setMemoryLimit sets the soft memory limit from the physical memory,
// unless GOMEMLIMIT is set or the memory cannot be read. It returns the
// limit set, 0 if none.
func setMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	total := physicalMemory()
	if total <= 0 {
		return 0
	}
	limit := int64(float64(total) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	return limit
}
