package engine

import "unsafe"

// prefetch asks the processor to bring the cache line at addr in without
// waiting for it. It never reads through addr, so any value is safe.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
