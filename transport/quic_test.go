package transport

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQUICCrashedPeerNoticed(t *testing.T) {
	a, b := newQUIC(t, Config{}), newQUIC(t, Config{})
	ca, cb := connect(t, a, b)
	_ = ca
	start := time.Now()
	require.NoError(t, a.udp.Close()) // no CONNECTION_CLOSE reaches b
	err := waitDone(t, cb, 2*time.Second)
	assert.ErrorIs(t, err, ErrIdleTimeout)
	t.Logf("crash noticed after %v", time.Since(start))
}

// countingConn counts the bytes written to a socket.
type countingConn struct {
	net.PacketConn
	written atomic.Int64
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	c.written.Add(int64(n))
	return n, err
}

// A socket given in Config.PacketConn carries the transport's traffic, so a
// wrapper sees every byte on the wire.
func TestQUICUsesGivenPacketConn(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	counted := &countingConn{PacketConn: udp}
	a, b := newQUIC(t, Config{PacketConn: counted}), newQUIC(t, Config{})
	require.Equal(t, udp.LocalAddr().String(), a.Addr())
	ca, cb := connect(t, a, b)
	payload := make([]byte, 3000)
	require.NoError(t, ca.Send(payload))
	require.Len(t, receive(t, cb), len(payload))
	assert.Greater(t, counted.written.Load(), int64(len(payload)), "the frame and the handshake went through the given socket")
}
