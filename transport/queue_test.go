package transport

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The send queue keeps frames in order, refuses a frame over its bound,
// and does not keep a burst's memory once drained.
func TestFrameQueue(t *testing.T) {
	q := newFrameQueue(1000)
	require.Zero(t, cap(q.frames), "an idle queue holds no memory")
	for i := 0; i < 1000; i++ {
		require.True(t, q.push(outFrame{b: []byte{byte(i)}}))
	}
	require.False(t, q.push(outFrame{}), "the bound is enforced")
	require.Equal(t, 1000, q.len())
	select {
	case <-q.ready:
	default:
		t.Fatal("push must leave a token for the writer")
	}
	for i := 0; i < 1000; i++ {
		f, ok := q.pop()
		require.True(t, ok)
		require.Equal(t, byte(i), f.b[0], "frames come out in order")
	}
	_, ok := q.pop()
	require.False(t, ok)
	require.Zero(t, cap(q.frames), "a drained burst's memory is released")
	require.True(t, q.push(outFrame{b: []byte{7}}), "room again after draining")
}
