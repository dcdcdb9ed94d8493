package transport

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// largestWrite is a UDP socket that quic-go drives as a bare one (its
// optimisations on: the don't-fragment bit, without which it never
// probes the path's MTU, ECN, segmentation offload), recording the
// largest packet written.
type largestWrite struct {
	*net.UDPConn
	largest atomic.Int64
}

func (c *largestWrite) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.note(len(p))
	return c.UDPConn.WriteTo(p, addr)
}

func (c *largestWrite) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	size := len(b)
	if msgs, err := syscall.ParseSocketControlMessage(oob); err == nil {
		for _, m := range msgs {
			if m.Header.Level == syscall.IPPROTO_UDP && m.Header.Type == 103 && len(m.Data) >= 2 { // Linux's UDP_SEGMENT option
				size = min(size, int(binary.NativeEndian.Uint16(m.Data)))
			}
		}
	}
	c.note(size)
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

func (c *largestWrite) note(n int) {
	for {
		old := c.largest.Load()
		if int64(n) <= old || c.largest.CompareAndSwap(old, int64(n)) {
			return
		}
	}
}

// The transport does not probe the path's MTU: QUIC's packets keep
// quic-go's initial size, UDP payloads of 1,280 bytes, so no connection
// pays the probes (about 5.6 KB each on loopback, where they would all
// succeed) for frames that are mostly a few hundred bytes
// (docs/benchmarks.md, "Path MTU discovery off"). With discovery on,
// quic-go sends its first probe, a larger payload, within a few round
// trips of the handshake.
func TestNoPathMTUProbes(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	sock := &largestWrite{UDPConn: udp}
	a, b := newQUIC(t, Config{PacketConn: sock}), newQUIC(t, Config{})
	ca, cb := connect(t, a, b)
	payload := make([]byte, 16<<10)
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline) && sock.largest.Load() <= maxQUICPacket; i++ {
		require.NoError(t, ca.Send(payload))
		require.Len(t, receive(t, cb), len(payload))
		if i > 100 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	require.Positive(t, sock.largest.Load(), "the connection's packets went through the socket")
	require.LessOrEqual(t, sock.largest.Load(), int64(maxQUICPacket), "no packet above QUIC's initial size: no MTU probe")
}

// maxQUICPacket is quic-go's initial packet size, a UDP payload of 1,280
// bytes.
const maxQUICPacket = 1280
