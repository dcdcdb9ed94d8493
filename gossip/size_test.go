package gossip

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A simulator holds a million engines, each allocated in a size class of
// Go's allocator: the engine without the member list's and the optional
// features' state (allocated apart, when on) must fit the 2,048-byte
// class, where it took 3,072 bytes with its counters and its measure of
// lags inline (docs/benchmarks.md, "The engine in a smaller size class").
// A field that pushes it over costs every simulated node 640 bytes or
// more: move it behind a pointer allocated when its feature is on.
func TestEngineFitsTheTwoKilobyteSizeClass(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(Engine{}), uintptr(2048))
}
