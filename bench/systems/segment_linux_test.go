package systems

import (
	"encoding/binary"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// segmentOOB is a control message naming a segment size, as quic-go
// writes it for generic segmentation offload, with dataLen bytes of data
// (2 for a whole size).
func segmentOOB(level, typ int32, size uint16, dataLen int) []byte {
	b := make([]byte, syscall.CmsgSpace(2))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(syscall.CmsgLen(dataLen))
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
		{"a segment size", segmentOOB(syscall.IPPROTO_UDP, udpSegment, 1200, 2), 1200},
		{"another option", segmentOOB(syscall.IPPROTO_IP, syscall.IP_TOS, 2, 2), 0},
		{"a size of one byte", segmentOOB(syscall.IPPROTO_UDP, udpSegment, 1200, 1), 0},
		{"a header cut short", segmentOOB(syscall.IPPROTO_UDP, udpSegment, 1200, 2)[:8], 0},
	} {
		require.Equal(t, tc.want, segmentSize(tc.oob), tc.name)
	}
}

// A write with segmentation offload counts one packet per segment, the
// last one short; any other write one packet.
func TestPacketsIn(t *testing.T) {
	seg := segmentOOB(syscall.IPPROTO_UDP, udpSegment, 1200, 2)
	for _, tc := range []struct {
		name string
		n    int
		oob  []byte
		want uint64
	}{
		{"a plain write", 1300, nil, 1},
		{"three whole segments", 3600, seg, 3},
		{"two and a short one", 2500, seg, 3},
		{"one short segment", 100, seg, 1},
		{"a failed write", 0, seg, 1},
	} {
		require.Equal(t, tc.want, packetsIn(tc.n, tc.oob), tc.name)
	}
}
