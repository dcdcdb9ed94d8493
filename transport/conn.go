package transport

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// outFrame is one queued frame and when Send accepted it.
type outFrame struct {
	b  []byte
	at time.Time
}

// link is what a concrete connection (QUIC stream, in-memory pipe) provides
// to the shared connection logic in conn.
type link interface {
	// write sends one frame; it may block (flow control, injected delay)
	// but must return once the conn is done or the close deadline passed.
	write(f outFrame) error
	// flush pushes buffered frames out; called when the queue is empty.
	flush() error
	// closing bounds every later write by deadline.
	closing(deadline time.Time)
	// finish sends the close record with reason after the queue is
	// drained and waits, at most until deadline, for the peer to end the
	// connection in response.
	finish(reason string, deadline time.Time)
	// teardown releases the connection with err; called once, by fail.
	teardown(err error)
}

// conn is the logic shared by every Conn: bounded send queue with one
// writer goroutine, receive buffer, close and failure bookkeeping.
type conn struct {
	link       link
	stats      *counters
	maxFrame   int
	closeAfter time.Duration
	remoteKey  ed25519.PublicKey
	remoteAddr string
	protocol   int // the version agreed on (ALPN)

	sendq *frameQueue
	inq   chan []byte

	closing   atomic.Bool // Send refuses new frames
	closeOnce sync.Once
	closeReq  chan struct{} // closed by Close
	reason    string        // set before closeReq is closed
	deadline  time.Time     // when the flush gives up; set with reason

	failOnce sync.Once
	done     chan struct{}
	err      error // set before done is closed
	onDone   func(*conn)
}

// inboundBuffer is how many received frames wait for Receive before the
// reader stops reading (and flow control pushes back on the sender).
const inboundBuffer = 64

func newConn(l link, stats *counters, maxFrame, queue int, closeAfter time.Duration, key ed25519.PublicKey, addr string) *conn {
	stats.connsOpen.Add(1)
	return &conn{
		link: l, stats: stats, maxFrame: maxFrame, closeAfter: closeAfter,
		remoteKey: key, remoteAddr: addr,
		sendq:    newFrameQueue(queue),
		inq:      make(chan []byte, inboundBuffer),
		closeReq: make(chan struct{}),
		done:     make(chan struct{}),
	}
}

func (c *conn) RemoteKey() ed25519.PublicKey { return c.remoteKey }
func (c *conn) RemoteAddr() string           { return c.remoteAddr }
func (c *conn) Protocol() int                { return c.protocol }
func (c *conn) Done() <-chan struct{}        { return c.done }
func (c *conn) Queued() int                  { return c.sendq.len() }

func (c *conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *conn) Send(frame []byte) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if len(frame) > c.maxFrame {
		c.stats.oversized.Add(1)
		return fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, len(frame), c.maxFrame)
	}
	if !c.sendq.push(outFrame{b: frame, at: time.Now()}) {
		c.stats.queueFull.Add(1)
		return ErrSendQueueFull
	}
	return nil
}

func (c *conn) Receive(ctx context.Context) ([]byte, error) {
	select {
	case f := <-c.inq:
		return f, nil
	default:
	}
	select {
	case f := <-c.inq:
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		select {
		case f := <-c.inq:
			return f, nil
		default:
			return nil, c.err
		}
	}
}

func (c *conn) Close(reason string) error { return c.CloseWithin(reason, c.closeAfter) }

func (c *conn) CloseWithin(reason string, flush time.Duration) error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.reason = reason
		c.deadline = time.Now().Add(flush)
		// Bound a write already blocked (flow control, a full peer).
		c.link.closing(c.deadline)
		close(c.closeReq)
	})
	return nil
}

// closeRequested reports whether Close was called.
func (c *conn) closeRequested() bool {
	select {
	case <-c.closeReq:
		return true
	default:
		return false
	}
}

// deliver hands a received frame to Receive, waiting while the buffer is
// full. It returns false once the connection is done.
func (c *conn) deliver(f []byte) bool {
	select {
	case c.inq <- f:
		c.stats.framesReceived.Add(1)
		c.stats.bytesReceived.Add(int64(len(f)))
		return true
	case <-c.done:
		return false
	}
}

// fail ends the connection with err; the first call wins. Teardown runs
// outside the Once, so two ends failing each other at the same moment (the
// in-memory link tells its peer) cannot deadlock.
func (c *conn) fail(err error) {
	won := false
	c.failOnce.Do(func() {
		c.closing.Store(true)
		c.err = err
		// Counted closed before Done says so: a reader of Stats after
		// Done saw the connection still open on a loaded machine.
		c.stats.connsOpen.Add(-1)
		close(c.done)
		won = true
	})
	if !won {
		return
	}
	c.link.teardown(err)
	if c.onDone != nil {
		c.onDone(c)
	}
}

// writeLoop is the connection's one writer goroutine.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.sendq.ready:
			for f, ok := c.sendq.pop(); ok; f, ok = c.sendq.pop() {
				if !c.write(f) {
					return
				}
				if c.closeRequested() {
					break // drain below sends the rest within the deadline
				}
			}
		case <-c.closeReq:
			c.drain()
			return
		case <-c.done:
			return
		}
	}
}

func (c *conn) write(f outFrame) bool {
	if err := c.link.write(f); err != nil {
		if c.closeRequested() { // cut short by the close deadline
			err = &CloseError{Reason: c.reason}
		}
		c.fail(err)
		return false
	}
	if c.sendq.len() == 0 {
		if err := c.link.flush(); err != nil {
			c.fail(err)
			return false
		}
	}
	return true
}

// drain flushes what Send queued before Close, then closes with the reason.
// A write that fails or hits the deadline ends the flush early; the
// connection still closes with the reason.
func (c *conn) drain() {
	deadline := c.deadline
	flushed := true
loop:
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return
		default:
		}
		f, ok := c.sendq.pop()
		if !ok {
			break loop
		}
		if c.link.write(f) != nil {
			flushed = false
			break loop
		}
	}
	if flushed && c.link.flush() == nil {
		c.link.finish(c.reason, deadline)
	}
	c.fail(&CloseError{Reason: c.reason})
}
