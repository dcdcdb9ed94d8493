package systems

import (
	"encoding/binary"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// segmentOOB is a control message naming a segment size, as quic-go
// writes it for generic segmentation offload.
func segmentOOB(level, typ int32, size uint16) []byte {
	b := make([]byte, syscall.CmsgSpace(2))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[syscall.CmsgLen(0):], size)
	return b
}

// The counted socket reads the segment size of a write that carries
// several packets, so that it counts each packet.
func TestSegmentSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		oob  []byte
		want int
	}{
		{"no control message", nil, 0},
		{"a segment size", segmentOOB(syscall.IPPROTO_UDP, udpSegment, 1200), 1200},
		{"another option", segmentOOB(syscall.IPPROTO_IP, syscall.IP_TOS, 2), 0},
		{"truncated", segmentOOB(syscall.IPPROTO_UDP, udpSegment, 1200)[:8], 0},
	} {
		require.Equal(t, tc.want, segmentSize(tc.oob), tc.name)
	}
}
