package fanout

import (
	"context"
	"sync"
)

// Item is what a subscriber receives: a value, or a lag notice.
type Item[T any] struct {
	// Value is the value published; the zero value in a lag notice.
	Value T
	// Missed, when non-zero, makes the Item a lag notice: this many values
	// were dropped for this subscriber, at this place in its sequence,
	// because its buffer was full.
	Missed uint64
}

// Subscriber is one subscriber's end of a Fanout: a bounded buffer and a
// count of the values it missed. Its methods are safe for concurrent use.
type Subscriber[T any] struct {
	f      *Fanout[T]
	topics map[string]struct{} // nil: every topic
	ready  chan struct{}       // a token when something may be waiting
	done   chan struct{}       // closed when the subscriber ends

	mu     sync.Mutex
	queue  queue[T]
	missed uint64 // dropped since the last value buffered
	ended  bool
}

// Recv returns the next item: a buffered value, or a lag notice that
// stands for the values missed before it. It waits until there is one,
// ctx ends, or the subscriber has ended and its buffer is read
// (ErrClosed). An item already waiting is returned even when ctx is done,
// so Recv with a done context does not block.
func (s *Subscriber[T]) Recv(ctx context.Context) (Item[T], error) {
	for {
		it, ok, ended := s.take()
		if ok {
			return it, nil
		}
		if ended {
			return Item[T]{}, ErrClosed
		}
		select {
		case <-s.ready:
		case <-s.done:
		case <-ctx.Done():
			return Item[T]{}, ctx.Err()
		}
	}
}

// Close ends the subscriber and drops what its buffer holds: Recv returns
// ErrClosed from then on. It is idempotent.
func (s *Subscriber[T]) Close() {
	s.f.remove(s)
	s.end(true)
}

// take removes the next item, if any, and reports whether the subscriber
// has ended.
func (s *Subscriber[T]) take() (it Item[T], ok, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := s.queue.front(); {
	case e != nil && e.missedBefore > 0:
		it.Missed, e.missedBefore = e.missedBefore, 0
		s.f.lagged.Add(it.Missed)
	case e != nil:
		it.Value = s.queue.pop().value
		s.f.delivered.Add(1)
	case s.missed > 0:
		it.Missed, s.missed = s.missed, 0
		s.f.lagged.Add(it.Missed)
	default:
		return it, false, s.ended
	}
	if s.queue.len() > 0 || s.missed > 0 {
		s.wake() // for another goroutine waiting in Recv
	}
	return it, true, false
}

// offer buffers v or, when the buffer is full, counts it as missed.
// Called by Publish.
func (s *Subscriber[T]) offer(v T) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if s.queue.len() < s.f.buffer {
		s.queue.push(entry[T]{value: v, missedBefore: s.missed}, s.f.buffer)
		s.missed = 0
	} else {
		s.missed++
	}
	s.mu.Unlock()
	s.wake()
}

// end marks the subscriber ended; discard drops its buffer and misses.
func (s *Subscriber[T]) end(discard bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if discard {
		s.queue, s.missed = queue[T]{}, 0
	}
	if !s.ended {
		s.ended = true
		close(s.done)
	}
}

func (s *Subscriber[T]) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Subscriber[T]) wants(topic string) bool {
	if s.topics == nil {
		return true
	}
	_, ok := s.topics[topic]
	return ok
}
