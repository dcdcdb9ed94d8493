package transport

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// memLink is one end of an in-memory connection: its writer delivers frames
// straight into the peer's receive buffer.
type memLink struct {
	net      *MemNetwork
	from, to string
	rng      *rand.Rand // used by the writer goroutine only
	c        *conn
	peer     *memLink
	idle     time.Duration
	last     time.Time // delivery time of the previous frame, for order

	silent  atomic.Bool // teardown must not notify the peer (partition)
	crashed atomic.Bool // this end vanished; the peer times out

	mu       sync.Mutex
	deadline chan struct{} // closed when the close deadline passes
	timers   []*time.Timer
	tornDown bool
}

// errCloseDeadline ends a write blocked past the close deadline.
var errCloseDeadline = errors.New("transport: close deadline passed")

func (l *memLink) write(f outFrame) error {
	delay, lost, hook := l.net.faults(l.rng)
	at := f.at.Add(delay)
	if at.Before(l.last) {
		at = l.last
	}
	l.last = at
	deadline := l.deadline
	if wait := time.Until(at); wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-l.c.done:
			timer.Stop()
			return ErrClosed
		case <-deadline:
			timer.Stop()
			return errCloseDeadline
		}
	}
	if lost || (hook != nil && !hook(l.from, l.to, f.b)) {
		l.c.stats.framesDropped.Add(1)
		return nil
	}
	l.c.stats.framesSent.Add(1)
	l.c.stats.bytesSent.Add(int64(len(f.b)))
	peer := l.peer.c
	if len(f.b) > peer.maxFrame { // the receiver refuses it from the header
		peer.stats.oversized.Add(1)
		peer.fail(fmt.Errorf("%w: peer announced %d bytes > %d", ErrFrameTooLarge, len(f.b), peer.maxFrame))
		return nil
	}
	select {
	case peer.inq <- bytes.Clone(f.b): // each receiver owns its frame, as over QUIC
		peer.stats.framesReceived.Add(1)
		peer.stats.bytesReceived.Add(int64(len(f.b)))
		return nil
	case <-peer.done: // lost in flight, like bytes to a dead process
		return nil
	case <-l.c.done:
		return ErrClosed
	case <-deadline:
		return errCloseDeadline
	}
}

func (l *memLink) flush() error { return nil }

func (l *memLink) closing(deadline time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tornDown {
		return
	}
	ch := l.deadline
	l.timers = append(l.timers, time.AfterFunc(time.Until(deadline), func() { close(ch) }))
}

// finish has nothing to wait for: teardown tells the peer synchronously,
// after every frame is in its receive buffer.
func (l *memLink) finish(string, time.Time) {}

func (l *memLink) teardown(err error) {
	l.mu.Lock()
	l.tornDown = true
	for _, t := range l.timers {
		t.Stop()
	}
	l.mu.Unlock()
	peer := l.peer
	switch {
	case l.silent.Load():
	case l.crashed.Load():
		peer.startIdleTimer()
	case isRemote(err):
	default:
		reason := err.Error()
		var ce *CloseError
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		peer.c.fail(&CloseError{Reason: reason, Remote: true})
	}
}

// startIdleTimer fails this end after its idle timeout: the peer crashed.
func (l *memLink) startIdleTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tornDown {
		return
	}
	c := l.c
	l.timers = append(l.timers, time.AfterFunc(l.idle, func() { c.fail(ErrIdleTimeout) }))
}

// isRemote reports whether err came from the peer; it is not echoed back.
func isRemote(err error) bool {
	var ce *CloseError
	return (errors.As(err, &ce) && ce.Remote) ||
		errors.Is(err, ErrIdleTimeout) || errors.Is(err, ErrUnreachable)
}
