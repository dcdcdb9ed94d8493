package engine

import "unsafe"

// prefetch asks the processor to bring the cache line at addr in without
// waiting for it. It never reads through addr, so any value is safe.
//
//go:noescape
func prefetch(addr unsafe.Pointer)

// prefetchPair asks for the cache line at addr and the one after it. The
// second address is formed by the instruction, not in Go, so it may lie
// past the end of addr's allocation (a short slice's backing array)
// without the race detector's pointer checks objecting: nothing is read.
//
//go:noescape
func prefetchPair(addr unsafe.Pointer)
