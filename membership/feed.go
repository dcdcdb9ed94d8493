package membership

import "sync"

// feed is the bounded, never-blocking delivery policy shared by
// Subscription and Watcher. The state goroutine offers items; when the
// buffer is full the newest item is dropped and counted, and a notice with
// the count is delivered ahead of the next item that fits (or sooner, when
// the node retries pending notices). Items are never lost silently and the
// state goroutine never waits.
type feed[T any] struct {
	ch     chan T
	notice func(missed uint64) T
	missed uint64 // owned by the state goroutine

	once   sync.Once
	closed chan struct{} // closed by Close
}

func newFeed[T any](size int, notice func(uint64) T) *feed[T] {
	return &feed[T]{ch: make(chan T, size), notice: notice, closed: make(chan struct{})}
}

// offer delivers v or counts it as missed. It reports whether the feed
// has a notice pending.
func (f *feed[T]) offer(v T) {
	if !f.flush() {
		f.missed++
		return
	}
	select {
	case f.ch <- v:
	default:
		f.missed++
	}
}

// flush tries to deliver the pending notice; true if none is pending.
func (f *feed[T]) flush() bool {
	if f.missed == 0 {
		return true
	}
	select {
	case f.ch <- f.notice(f.missed):
		f.missed = 0
		return true
	default:
		return false
	}
}

// isClosed reports whether the consumer closed the feed.
func (f *feed[T]) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

func (f *feed[T]) markClosed() { f.once.Do(func() { close(f.closed) }) }
