package fanout

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Subscriber.Recv once the subscriber has ended
// (Subscriber.Close, or Fanout.Close and its buffer read) and holds nothing
// more.
var ErrClosed = errors.New("fanout: closed")

// Fanout delivers every published value to the subscribers that want it.
// Its methods are safe for concurrent use.
type Fanout[T any] struct {
	buffer int
	topic  func(T) string // nil: values have no topic

	mu     sync.RWMutex // Publish reads subs; Subscribe, Close write them
	subs   map[*Subscriber[T]]struct{}
	closed bool

	delivered atomic.Uint64
	lagged    atomic.Uint64
}

// Stats are a Fanout's counters.
type Stats struct {
	// Subscribers is the number of subscribers registered now.
	Subscribers int
	// Delivered counts the values Recv has returned, across subscribers.
	Delivered uint64
	// Lagged sums the counts of the lag notices Recv has returned, across
	// subscribers: exactly the misses the subscribers were told of.
	Lagged uint64
}

// New returns a Fanout whose subscribers buffer up to buffer values each
// (at least 1). topic names a value's topic, for subscribers that choose
// topics; nil when values have none.
func New[T any](buffer int, topic func(T) string) *Fanout[T] {
	return &Fanout[T]{buffer: max(buffer, 1), topic: topic, subs: map[*Subscriber[T]]struct{}{}}
}

// Subscribe registers a subscriber to the values on topics published from
// now on; to every value if no topic is given or the Fanout has no topic
// function. After Close it returns a subscriber that has already ended.
func (f *Fanout[T]) Subscribe(topics ...string) *Subscriber[T] {
	s := &Subscriber[T]{f: f, ready: make(chan struct{}, 1), done: make(chan struct{})}
	if len(topics) > 0 && f.topic != nil {
		s.topics = make(map[string]struct{}, len(topics))
		for _, t := range topics {
			s.topics[t] = struct{}{}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		s.end(false)
		return s
	}
	f.subs[s] = struct{}{}
	return s
}

// Publish offers v to every subscriber that wants it and returns without
// waiting for any: a subscriber whose buffer is full misses v. Publish
// after Close does nothing. Concurrent Publish calls are safe; each
// subscriber then sees them in some order of its own.
func (f *Fanout[T]) Publish(v T) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var topic string
	if f.topic != nil {
		topic = f.topic(v)
	}
	for s := range f.subs {
		if s.wants(topic) {
			s.offer(v)
		}
	}
}

// PublishAll offers v to every subscriber, whatever topics it chose: for
// a notice that concerns every topic (a subscriber filtered by topic
// receives it too). Otherwise it is Publish.
func (f *Fanout[T]) PublishAll(v T) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for s := range f.subs {
		s.offer(v)
	}
}

// Close ends every subscriber: each can still receive what its buffer
// holds, then Recv returns ErrClosed. Later Publish calls do nothing. It
// is idempotent.
func (f *Fanout[T]) Close() {
	f.mu.Lock()
	subs := f.subs
	f.subs, f.closed = nil, true
	f.mu.Unlock()
	for s := range subs {
		s.end(false)
	}
}

// Stats returns the counters.
func (f *Fanout[T]) Stats() Stats {
	f.mu.RLock()
	n := len(f.subs)
	f.mu.RUnlock()
	return Stats{Subscribers: n, Delivered: f.delivered.Load(), Lagged: f.lagged.Load()}
}

func (f *Fanout[T]) remove(s *Subscriber[T]) {
	f.mu.Lock()
	delete(f.subs, s)
	f.mu.Unlock()
}
