//go:build !linux

package main

// physicalMemory returns 0 where the simulator does not read the machine's
// memory: no soft limit is set there unless GOMEMLIMIT sets one.
func physicalMemory() int64 { return 0 }
