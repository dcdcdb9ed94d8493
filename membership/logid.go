package membership

import "go.uber.org/zap"

// hexID renders a node ID as logs, gossipd's CLI and its /debug/ page
// show it: sixteen hexadecimal digits.
func hexID(id uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[id&0xf]
		id >>= 4
	}
	return string(b[:])
}

// peerField is the log field of a peer's node ID, in hexadecimal.
func peerField[T ~uint64](id T) zap.Field { return zap.String("peer", hexID(uint64(id))) }
