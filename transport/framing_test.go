package transport

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/wire"
)

// The simulator counts traffic with wire.StreamBytes; it must agree with
// the record header this package writes before every frame.
func TestStreamBytesMatchesTheRecordHeader(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 127, 128, 8191, 8192, 1 << 20, 1<<31 - 1} {
		require.Equal(t, len(appendHeader(nil, n, false))+n, wire.StreamBytes(n), "frame of %d bytes", n)
	}
}
