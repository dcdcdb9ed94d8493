package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/ipv4"
)

// faultyConn is a UDP socket on which every period-th datagram write fails
// with errno, as the kernel reports it (a *net.OpError around an
// *os.SyscallError), without sending the datagram; readErrs, if set, are
// returned by the next reads before any datagram. It keeps every method of
// *net.UDPConn, so quic-go sees a socket it can optimise.
type faultyConn struct {
	*net.UDPConn
	errno    syscall.Errno
	period   int64
	writes   atomic.Int64
	injected atomic.Int64
	oobWrite atomic.Int64 // writes through WriteMsgUDP

	mu       sync.Mutex
	oobs     [][]byte // control messages of the first writes, see onOOB
	readErrs []error
}

func newFaultyConn(t testing.TB, errno syscall.Errno, period int64) *faultyConn {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	return &faultyConn{UDPConn: udp, errno: errno, period: period}
}

func (c *faultyConn) fault(addr net.Addr) error {
	if c.period == 0 || c.writes.Add(1)%c.period != 0 {
		return nil
	}
	c.injected.Add(1)
	return &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: os.NewSyscallError("sendmsg", c.errno)}
}

func (c *faultyConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	c.oobWrite.Add(1)
	if len(oob) > 0 {
		c.mu.Lock()
		if len(c.oobs) < 10000 {
			c.oobs = append(c.oobs, bytes.Clone(oob))
		}
		c.mu.Unlock()
	}
	if err := c.fault(addr); err != nil {
		return 0, 0, err
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

func (c *faultyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if err := c.fault(addr); err != nil {
		return 0, err
	}
	return c.UDPConn.WriteTo(b, addr)
}

func (c *faultyConn) nextReadErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.readErrs) == 0 {
		return nil
	}
	err := c.readErrs[0]
	c.readErrs = c.readErrs[1:]
	return err
}

// ReadBatch is what quic-go reads with; it returns the queued read errors
// first.
func (c *faultyConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	if err := c.nextReadErr(); err != nil {
		return 0, err
	}
	return ipv4.NewPacketConn(c.UDPConn).ReadBatch(ms, flags)
}

// exchange sends n frames each way over ca/cb and checks that all arrive,
// in order, each within wait, and that neither connection ended.
func exchange(t *testing.T, ca, cb Conn, n int, wait time.Duration) {
	t.Helper()
	frame := func(side string, i int) []byte {
		b := fmt.Appendf(nil, "%s%d:", side, i)
		return append(b, bytes.Repeat([]byte{byte(i)}, 200+i%7*300)...)
	}
	for i := range n {
		require.NoError(t, ca.Send(frame("a", i)))
		require.NoError(t, cb.Send(frame("b", i)))
	}
	recv := func(c Conn) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		f, err := c.Receive(ctx)
		require.NoError(t, err)
		return f
	}
	for i := range n {
		require.Equal(t, frame("a", i), recv(cb), "frame %d from a", i)
		require.Equal(t, frame("b", i), recv(ca), "frame %d from b", i)
	}
	for _, c := range []Conn{ca, cb} {
		select {
		case <-c.Done():
			t.Fatalf("connection ended: %v", c.Err())
		default:
		}
	}
}

func sendErrorsOf(s Stats, errno syscall.Errno) int64 {
	switch errno {
	case syscall.EPERM:
		return s.SendErrors.EPERM
	case syscall.ENOBUFS:
		return s.SendErrors.ENOBUFS
	case syscall.EAGAIN:
		return s.SendErrors.EAGAIN
	case syscall.ECONNREFUSED:
		return s.SendErrors.ECONNREFUSED
	case syscall.EHOSTUNREACH:
		return s.SendErrors.EHOSTUNREACH
	case syscall.ENETUNREACH:
		return s.SendErrors.ENETUNREACH
	case syscall.ENETDOWN:
		return s.SendErrors.ENETDOWN
	}
	panic(errno)
}

// A datagram the host refuses to send with a transient error is lost, not
// the end of the connection: with every fifth write on both sockets refused
// (from the handshake on), the connection survives and QUIC resends what
// was lost, so every frame arrives in order. Each refusal is counted under
// its errno. Before the socket wrapper, quic-go ended the connection on the
// first refusal ("sendmsg: operation not permitted").
func TestQUICTransientSendErrorsAreLoss(t *testing.T) {
	for _, errno := range transientSendErrnos {
		t.Run(errno.Error(), func(t *testing.T) {
			fa, fb := newFaultyConn(t, errno, 5), newFaultyConn(t, errno, 5)
			a, b := newQUIC(t, Config{PacketConn: fa}), newQUIC(t, Config{PacketConn: fb})
			ca, cb := connect(t, a, b)
			exchange(t, ca, cb, 200, waitTimeout)
			for _, side := range []struct {
				tr *QUIC
				fc *faultyConn
			}{{a, fa}, {b, fb}} {
				// A refusal is injected before the wrapper counts it: a
				// write in progress (keep-alives go on) shows one more
				// injected than counted, so wait for a moment between
				// writes.
				var s Stats
				var injected int64
				deadline := time.Now().Add(waitTimeout)
				for {
					injected = side.fc.injected.Load()
					s = side.tr.Stats()
					if sendErrorsOf(s, errno) == injected && s.SendErrorsDropped == injected && side.fc.injected.Load() == injected {
						break
					}
					if time.Now().After(deadline) {
						break
					}
					time.Sleep(time.Millisecond)
				}
				require.Positive(t, injected)
				assert.Equal(t, injected, sendErrorsOf(s, errno), "each refusal counted under its errno")
				assert.Equal(t, injected, s.SendErrorsDropped)
				assert.Positive(t, side.fc.oobWrite.Load(), "quic-go still writes with WriteMsgUDP through the wrapper")
			}
		})
	}
}

// Errors quic-go acts on, and errors no retry cures, pass through the
// wrapper unchanged, with the types quic-go inspects (*os.SyscallError):
// EMSGSIZE (path MTU discovery), EIO (segmentation offload fallback),
// EBADF, EINVAL, EACCES and a closed socket.
func TestSocketWrapperPassesOtherErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMSGSIZE, syscall.EIO, syscall.EBADF, syscall.EINVAL, syscall.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			fc := newFaultyConn(t, errno, 1)
			defer fc.Close()
			var st counters
			w := wrapSocket(fc, &st).(*lossUDPConn)
			dst := fc.LocalAddr().(*net.UDPAddr)
			for _, err := range []error{
				func() error { _, _, err := w.WriteMsgUDP([]byte("x"), nil, dst); return err }(),
				func() error { _, err := w.WriteTo([]byte("x"), dst); return err }(),
			} {
				require.ErrorIs(t, err, errno)
				var se *os.SyscallError
				require.ErrorAs(t, err, &se)
			}
			assert.Zero(t, st.snapshot().SendErrorsDropped)
		})
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	var st counters
	w := wrapSocket(udp, &st)
	require.NoError(t, w.Close())
	_, err = w.WriteTo([]byte("x"), udp.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed)
	assert.Zero(t, st.snapshot().SendErrorsDropped)
}

// The wrapper offers quic-go the same optimisation interfaces as the socket
// it wraps, and a plain net.PacketConn stays plain.
func TestSocketWrapperKeepsInterfaces(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer udp.Close()
	var st counters
	w := wrapSocket(udp, &st)
	_, ok := w.(*lossUDPConn)
	require.True(t, ok, "a *net.UDPConn gets the optimising wrapper")
	_, ok = w.(interface{ SetWriteBuffer(int) error })
	assert.True(t, ok)
	_, ok = w.(batchReader)
	assert.True(t, ok)
	plain := &countingConn{PacketConn: udp}
	pw, ok := wrapSocket(plain, &st).(*lossConn)
	assert.True(t, ok, "a plain PacketConn gets the plain wrapper")
	assert.Error(t, pw.SetReadBuffer(1<<20), "no buffer to size behind a plain PacketConn")
	sized := &sizedConn{PacketConn: udp}
	sw := wrapSocket(sized, &st).(*lossConn)
	require.NoError(t, sw.SetReadBuffer(1<<20))
	require.NoError(t, sw.SetWriteBuffer(1<<19))
	assert.Equal(t, [2]int{1 << 20, 1 << 19}, sized.sizes, "the plain wrapper passes buffer sizes on")
}

// sizedConn is a plain PacketConn that records buffer sizes.
type sizedConn struct {
	net.PacketConn
	sizes [2]int
}

func (c *sizedConn) SetReadBuffer(n int) error  { c.sizes[0] = n; return nil }
func (c *sizedConn) SetWriteBuffer(n int) error { c.sizes[1] = n; return nil }

// A read error reported for an earlier datagram's ICMP error (possible on a
// socket with IP_RECVERR) does not close the transport: the wrapper reads
// again and counts it. Other read errors still end the read.
func TestQUICTransientReadErrorsIgnored(t *testing.T) {
	fa := newFaultyConn(t, 0, 0)
	icmp := func(e syscall.Errno) error {
		return &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmmsg", e)}
	}
	fa.readErrs = []error{icmp(syscall.ECONNREFUSED), icmp(syscall.EHOSTUNREACH), icmp(syscall.ENETUNREACH)}
	a, b := newQUIC(t, Config{PacketConn: fa}), newQUIC(t, Config{})
	ca, cb := connect(t, a, b)
	exchange(t, ca, cb, 20, waitTimeout)
	assert.Equal(t, int64(3), a.Stats().ReceiveErrorsIgnored)

	var st counters
	run := 0
	for range maxIgnoredReads {
		require.True(t, st.ignoreRead(icmp(syscall.ECONNREFUSED), &run))
	}
	assert.False(t, st.ignoreRead(icmp(syscall.ECONNREFUSED), &run), "a run of errors this long is passed on")
	assert.False(t, st.ignoreRead(icmp(syscall.EBADF), &run))
	assert.False(t, st.ignoreRead(errors.New("other"), &run))
	assert.False(t, st.ignoreRead(nil, &run))
}
