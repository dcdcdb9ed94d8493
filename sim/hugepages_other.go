//go:build !(linux && (amd64 || arm64))

package main

import "time"

// startHugePages does nothing where the simulator does not ask the kernel
// for huge pages.
func startHugePages(interval time.Duration) {}
