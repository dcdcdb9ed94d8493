//go:build !linux

package systems

// segmentSize: quic-go offloads segmentation on Linux only, so a write is
// one packet.
func segmentSize([]byte) int { return 0 }
