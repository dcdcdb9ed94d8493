//go:build !amd64

package engine

import "unsafe"

// prefetch does nothing where the simulator has no prefetch instruction.
func prefetch(addr unsafe.Pointer) {}

// prefetchPair does nothing where the simulator has no prefetch instruction.
func prefetchPair(addr unsafe.Pointer) {}
