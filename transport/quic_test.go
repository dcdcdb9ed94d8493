package transport

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A crashed peer is noticed by the silence watch (silence.go); QUIC's idle
// timeout, a minute here, is only the backstop.
func TestQUICCrashedPeerNoticed(t *testing.T) {
	// QUIC's own timer takes the smaller of the two ends' backstops.
	a, b := newQUIC(t, Config{MaxSilence: time.Minute}), newQUIC(t, Config{MaxSilence: time.Minute})
	ca, cb := connect(t, a, b)
	_ = ca
	start := time.Now()
	require.NoError(t, a.udp.Close()) // no CONNECTION_CLOSE reaches b
	err := waitDone(t, cb, time.Minute)
	assert.ErrorIs(t, err, ErrIdleTimeout)
	assert.EqualValues(t, 1, b.Stats().SilenceTimeouts, "the watch, not QUIC's idle timeout, ended it")
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

// The accepting end of a connection waits a quarter longer than the
// dialler before it sends a keep-alive of its own, within half the idle
// timeout: on an idle link the dialler's PINGs keep both ends alive.
func TestAcceptorKeepAlive(t *testing.T) {
	for _, tc := range []struct{ period, idle, want time.Duration }{
		{200 * time.Millisecond, DefaultIdleTimeout, 250 * time.Millisecond},
		{400 * time.Millisecond, DefaultIdleTimeout, 500 * time.Millisecond},
		{100 * time.Millisecond, 500 * time.Millisecond, 125 * time.Millisecond},
		{400 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond},
	} {
		assert.Equal(t, tc.want, acceptorKeepAlive(tc.period, tc.idle), "%v, idle %v", tc.period, tc.idle)
	}
}

// Without a KeepAlivePeriod the keep-alives follow the idle timeout: the
// dialler pings after a fifth of it, the acceptor a quarter later, so
// that a faster failure detector (a shorter idle timeout) keeps as many
// keep-alives within it without a second setting; a period given is kept.
func TestKeepAliveFollowsTheIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		cfg               Config
		dialler, acceptor time.Duration
	}{
		{Config{}, 200 * time.Millisecond, 250 * time.Millisecond},
		{Config{IdleTimeout: 500 * time.Millisecond}, 100 * time.Millisecond, 125 * time.Millisecond},
		{Config{IdleTimeout: 5 * time.Second}, time.Second, 1250 * time.Millisecond},
		{Config{KeepAlivePeriod: 400 * time.Millisecond}, 400 * time.Millisecond, 500 * time.Millisecond},
	} {
		q := newQUIC(t, tc.cfg)
		assert.Equal(t, tc.dialler, q.clientQUIC.KeepAlivePeriod, "%+v", tc.cfg)
		assert.Equal(t, tc.acceptor, q.serverQUIC.KeepAlivePeriod, "%+v", tc.cfg)
	}
}
