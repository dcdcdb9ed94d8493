package ice

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// pipeEnd is one end of an in-memory datagram pipe with pion/ice/v2's
// Conn semantics: connected, no deadlines; Read ends with io.EOF on Close.
type pipeEnd struct {
	in, out chan []byte
	closed  chan struct{}
	once    sync.Once
}

func datagramPipe() (*pipeEnd, *pipeEnd) {
	ab, ba := make(chan []byte, 64), make(chan []byte, 64)
	return &pipeEnd{in: ba, out: ab, closed: make(chan struct{})}, &pipeEnd{in: ab, out: ba, closed: make(chan struct{})}
}

func (p *pipeEnd) Read(b []byte) (int, error) {
	select {
	case d := <-p.in:
		return copy(b, d), nil
	case <-p.closed:
		return 0, io.EOF
	}
}

func (p *pipeEnd) Write(b []byte) (int, error) {
	select {
	case <-p.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	select {
	case p.out <- append([]byte(nil), b...):
	default: // full: lost, like a datagram
	}
	return len(b), nil
}

func (p *pipeEnd) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

var (
	addrA = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}
	addrB = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 2}
)

func TestPacketConnDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := datagramPipe()
		relayed, counted := new(atomic.Bool), new(atomic.Int64)
		relayed.Store(true)
		pc := newPacketConn(a, addrA, addrB, relayed, counted)
		defer pc.Close()

		_, err := b.Write([]byte("hello"))
		require.NoError(t, err)
		buf := make([]byte, 100)
		n, from, err := pc.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
		assert.Equal(t, addrB, from, "every datagram comes from the peer")
		_, err = pc.WriteTo([]byte("hi"), addrA) // the address is ignored
		require.NoError(t, err)
		assert.Equal(t, int64(7), counted.Load(), "relayed bytes, both ways")

		// A deadline in the past fails at once, as a timeout.
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(-time.Second)))
		_, _, err = pc.ReadFrom(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout())

		// A future deadline expires after its time.
		start := time.Now()
		require.NoError(t, pc.SetReadDeadline(start.Add(3*time.Second)))
		_, _, err = pc.ReadFrom(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start))

		// A reader already waiting is woken by a new deadline: what
		// quic-go's Transport.Close does to stop its read loop.
		require.NoError(t, pc.SetReadDeadline(time.Time{}))
		woken := make(chan error)
		go func() { _, _, err := pc.ReadFrom(buf); woken <- err }()
		synctest.Wait()
		require.NoError(t, pc.SetReadDeadline(time.Now()))
		require.ErrorIs(t, <-woken, os.ErrDeadlineExceeded)

		// Close wakes a waiting reader too.
		require.NoError(t, pc.SetReadDeadline(time.Time{}))
		go func() { _, _, err := pc.ReadFrom(buf); woken <- err }()
		synctest.Wait()
		require.NoError(t, pc.Close())
		require.ErrorIs(t, <-woken, net.ErrClosed)
		_, err = pc.WriteTo([]byte("x"), addrB)
		require.ErrorIs(t, err, net.ErrClosed)
	})
}

// QUIC runs over two packetConns joined by an in-memory pipe (no ICE), and
// closing the transports returns: with pion's no-op deadlines under it,
// quic-go's Close would wait forever for its read loop.
func TestQUICOverPacketConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := datagramPipe()
		pa := newPacketConn(a, addrA, addrB, new(atomic.Bool), new(atomic.Int64))
		pb := newPacketConn(b, addrB, addrA, new(atomic.Bool), new(atomic.Int64))
		ida, err := transport.GenerateIdentity()
		require.NoError(t, err)
		idb, err := transport.GenerateIdentity()
		require.NoError(t, err)
		qa, err := transport.ListenQUIC(transport.Config{Identity: ida, PacketConn: pa})
		require.NoError(t, err)
		qb, err := transport.ListenQUIC(transport.Config{Identity: idb, PacketConn: pb})
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ca, err := qa.Dial(ctx, addrB.String(), idb.Public())
		require.NoError(t, err)
		cb, err := qb.Accept(ctx)
		require.NoError(t, err)
		assert.True(t, cb.RemoteKey().Equal(ida.Public()))
		require.NoError(t, ca.Send([]byte("over the adapter")))
		f, err := cb.Receive(ctx)
		require.NoError(t, err)
		assert.Equal(t, "over the adapter", string(f))

		closed := make(chan struct{})
		go func() { _ = qa.Close(); _ = qb.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(time.Minute):
			t.Fatal("closing QUIC over the adapter hangs")
		}
		_, err = a.Write([]byte("x"))
		assert.ErrorIs(t, err, io.ErrClosedPipe, "the transport closed the adapter, which closed the ICE conn")
	})
}
