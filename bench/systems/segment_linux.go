package systems

import (
	"encoding/binary"
	"syscall"
)

// segmentSize returns the segment size a UDP_SEGMENT control message in
// oob names (Linux's generic segmentation offload, which quic-go uses to
// write several packets of a connection at once), or 0.
func segmentSize(oob []byte) int {
	if len(oob) == 0 {
		return 0
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.IPPROTO_UDP && m.Header.Type == udpSegment && len(m.Data) >= 2 {
			return int(binary.NativeEndian.Uint16(m.Data))
		}
	}
	return 0
}

// udpSegment is Linux's UDP_SEGMENT socket option.
const udpSegment = 103
