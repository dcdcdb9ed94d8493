//go:build !amd64

package plumtree

import "unsafe"

// prefetch does nothing where the package has no prefetch instruction.
func prefetch(addr unsafe.Pointer) {}
