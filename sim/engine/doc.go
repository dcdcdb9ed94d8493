// Package engine is the discrete-event simulator behind `go run ./sim`.
//
// A Sim holds many protocol.Engines (membership/protocol), the very cores
// that production runs, and drives them with a virtual clock: a priority
// queue of events ordered by (time, sequence number), one seeded random
// source for the run and one per node drawn from it in creation order, and
// a network model with per-link latency, random loss everywhere and per
// link, partitions, crashes and restarts. No goroutine, no wall clock and
// no map iteration decides anything, so the same seed and the same calls
// give the same run.
//
// Two ways to advance, because the two papers use both: continuous time
// (Run, Quiesce: every timer fires at its time), and the papers' cycle model
// (ManualShuffle with Cycle: one membership round per cycle, broadcasts run
// to quiescence in between, failures detected as each paper has it).
package engine
