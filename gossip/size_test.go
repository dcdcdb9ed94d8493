package gossip

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
)

// A simulator holds a million engines, each allocated in a size class of
// Go's allocator: the engine without the member list's and the optional
// features' state (allocated apart, when on) must fit the 2,048-byte
// class, where it took 3,072 bytes with its counters and its measure of
// lags inline (docs/benchmarks.md, "The engine in a smaller size class").
// A field that pushes it over costs every simulated node 256 bytes or
// more (the next class is 2,304 bytes): move it behind a pointer
// allocated when its feature is on.
func TestEngineFitsTheTwoKilobyteSizeClass(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(Engine{}), uintptr(2048))
}

// An engine without the member list counts nothing of its own in the
// usual course (a join, a neighbour, a broadcast, its invariants checked
// after each step), so its counters are never allocated; the first count
// allocates them, and Counters reads them.
func TestCountersAreAllocatedOnTheFirstCount(t *testing.T) {
	e := newEngine(t, 1)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	do(t, e, func(out *Ready) { e.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	do(t, e, func(out *Ready) {
		_, err := e.Broadcast(t0, "", []byte("hello"), out)
		require.NoError(t, err)
	})
	require.Nil(t, e.counters, "nothing counted, nothing allocated")
	require.Zero(t, e.Counters().Engine)

	do(t, e, func(out *Ready) { e.TimerFired(t0, Timer{}, out) })
	require.NotNil(t, e.counters)
	require.Equal(t, uint64(1), e.Counters().Engine.UnknownTimers)
}
