package membership

import (
	"context"
	"errors"
	"sync"

	"github.com/plumview/plumview/fanout"
)

// stream is the reading end shared by Subscription and Watcher: a
// subscriber of one of the node's fan-outs (fanout/), read with next or
// through the channel that a goroutine feeds once channel is first called.
type stream[T any] struct {
	sub    *fanout.Subscriber[T]
	notice func(missed uint64) T

	ch       chan T // unbuffered: items wait in sub's buffer
	feeding  sync.Once
	stopOnce sync.Once
	stop     chan struct{} // closed by close: the feeder quits
}

func newStream[T any](sub *fanout.Subscriber[T], notice func(uint64) T) *stream[T] {
	return &stream[T]{sub: sub, notice: notice, ch: make(chan T), stop: make(chan struct{})}
}

// next returns the next item or lag notice, waiting for ctx.
func (s *stream[T]) next(ctx context.Context) (T, error) {
	it, err := s.sub.Recv(ctx)
	switch {
	case errors.Is(err, fanout.ErrClosed):
		var zero T
		return zero, ErrClosed
	case err != nil:
		var zero T
		return zero, err
	case it.Missed > 0:
		return s.notice(it.Missed), nil
	}
	return it.Value, nil
}

// channel returns the channel of items, starting its feeder on first use.
func (s *stream[T]) channel() <-chan T {
	s.feeding.Do(func() { go s.feed() })
	return s.ch
}

// feed moves items into the channel until the stream ends: at close, or
// once the node stopped and every buffered item was taken.
func (s *stream[T]) feed() {
	defer close(s.ch)
	for {
		v, err := s.next(context.Background())
		if err != nil {
			return
		}
		select {
		case s.ch <- v:
		case <-s.stop:
			return
		}
	}
}

func (s *stream[T]) close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.sub.Close()
}
