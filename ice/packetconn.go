package ice

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// datagramConn is what packetConn needs of pion's *ice.Conn: a connected,
// message-oriented conn whose deadlines may do nothing.
type datagramConn interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Close() error
}

// inboundDatagrams is how many received datagrams wait for ReadFrom.
const inboundDatagrams = 256

// maxDatagram bounds one received datagram; pion's buffer refuses a read
// into a smaller slice than the packet.
const maxDatagram = 1 << 16

// packetConn turns the ICE agent's connected conn into the net.PacketConn
// quic-go runs on: ReadFrom reports every datagram as coming from remote,
// WriteTo sends on the selected pair whatever the address. pion/ice/v2's
// Conn ignores deadlines, and quic-go's Transport.Close unblocks its read
// loop by setting a read deadline in the past, so the deadlines are
// implemented here: one goroutine reads the agent's conn into a channel
// and ReadFrom waits on that channel, the deadline and Close.
type packetConn struct {
	ic            datagramConn
	local, remote net.Addr
	relayed       *atomic.Bool  // the selected pair goes through a relay
	relayedBytes  *atomic.Int64 // counts traffic while relayed

	in       chan []byte
	closed   chan struct{}
	readDone chan struct{} // the reader goroutine returned
	readErr  error         // set before readDone is closed
	once     sync.Once

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
}

func newPacketConn(ic datagramConn, local, remote net.Addr, relayed *atomic.Bool, relayedBytes *atomic.Int64) *packetConn {
	c := &packetConn{
		ic: ic, local: local, remote: remote, relayed: relayed, relayedBytes: relayedBytes,
		in:       make(chan []byte, inboundDatagrams),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		wake:     make(chan struct{}),
	}
	go c.readLoop()
	return c
}

func (c *packetConn) readLoop() {
	defer close(c.readDone)
	buf := make([]byte, maxDatagram)
	for {
		n, err := c.ic.Read(buf)
		if err != nil {
			c.readErr = err
			return
		}
		if c.relayed.Load() {
			c.relayedBytes.Add(int64(n))
		}
		select {
		case c.in <- append([]byte(nil), buf[:n]...):
		case <-c.closed:
			c.readErr = net.ErrClosed
			return
		}
	}
}

// ReadFrom returns the next datagram, or os.ErrDeadlineExceeded once the
// read deadline passed, or net.ErrClosed after Close.
func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, wake := c.deadline, c.wake
		c.mu.Unlock()
		var expired <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		select {
		case b := <-c.in:
			stopTimer(timer)
			return copy(p, b), c.remote, nil
		case <-c.closed:
			stopTimer(timer)
			return 0, nil, net.ErrClosed
		case <-c.readDone:
			stopTimer(timer)
			select {
			case b := <-c.in: // what came before the end
				return copy(p, b), c.remote, nil
			default:
			}
			if c.readErr == io.EOF {
				return 0, nil, net.ErrClosed
			}
			return 0, nil, c.readErr
		case <-expired:
			return 0, nil, os.ErrDeadlineExceeded
		case <-wake: // the deadline moved: wait again
			stopTimer(timer)
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// WriteTo sends p on the selected pair; addr is ignored (there is one
// peer).
func (c *packetConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	n, err := c.ic.Write(p)
	if n > 0 && c.relayed.Load() {
		c.relayedBytes.Add(int64(n))
	}
	return n, err
}

// Close closes the agent's conn (which closes the agent) and waits for
// the reader goroutine.
func (c *packetConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		err = c.ic.Close()
		<-c.readDone
	})
	return err
}

func (c *packetConn) LocalAddr() net.Addr { return c.local }

func (c *packetConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline bounds ReadFrom calls, including one already waiting.
func (c *packetConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetReadBuffer and SetWriteBuffer accept quic-go's buffer sizing: there is
// no socket buffer here to size (the agent's own buffer and the in channel
// hold what waits), and saying so keeps quic-go from logging that it could
// not size it.
func (c *packetConn) SetReadBuffer(int) error  { return nil }
func (c *packetConn) SetWriteBuffer(int) error { return nil }

// SetWriteDeadline does nothing: WriteTo does not block (the agent's conn
// writes on the selected pair's socket, which drops rather than waits).
func (c *packetConn) SetWriteDeadline(time.Time) error { return nil }
