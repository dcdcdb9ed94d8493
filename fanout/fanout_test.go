package fanout

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// done is a context that has ended: Recv(done) takes what is waiting and
// never blocks.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

func value[T any](v T) Item[T]       { return Item[T]{Value: v} }
func notice[T any](k uint64) Item[T] { return Item[T]{Missed: k} }

// drain reads what s holds now.
func drain[T any](t *testing.T, s *Subscriber[T]) []Item[T] {
	t.Helper()
	var out []Item[T]
	for {
		it, err := s.Recv(done)
		if err != nil {
			return out
		}
		out = append(out, it)
	}
}

// The misses at the end of a burst are reported once the reader has read
// the buffer, though nothing more is published.
func TestEndOfBurstNotice(t *testing.T) {
	f := New[int](2, nil)
	s := f.Subscribe()
	for i := range 5 {
		f.Publish(i)
	}
	require.Equal(t, []Item[int]{value(0), value(1), notice[int](3)}, drain(t, s))
	_, err := s.Recv(done)
	require.ErrorIs(t, err, context.Canceled, "nothing more is waiting")
	require.Equal(t, Stats{Subscribers: 1, Delivered: 2, Lagged: 3}, f.Stats())
	f.Close()
}

// A notice stands exactly where the missed values were: after what was
// buffered before them and before the next value that fitted.
func TestNoticePrecedesNextValue(t *testing.T) {
	f := New[int](2, nil)
	s := f.Subscribe()
	for i := range 4 { // 2 and 3 are missed
		f.Publish(i)
	}
	first, err := s.Recv(done)
	require.NoError(t, err)
	require.Equal(t, value(0), first)
	f.Publish(4) // fits, after a notice of 2
	f.Publish(5) // missed
	require.Equal(t, []Item[int]{value(1), notice[int](2), value(4), notice[int](1)}, drain(t, s))
	f.Close()
}

// A reader that keeps up sees every value and no notice, however far
// behind another subscriber falls.
func TestFastSubscriberNotChargedForSlow(t *testing.T) {
	f := New[int](4, nil)
	fast, slow := f.Subscribe(), f.Subscribe()
	var got []Item[int]
	for i := range 100 {
		f.Publish(i)
		got = append(got, drain(t, fast)...)
	}
	want := make([]Item[int], 100)
	for i := range want {
		want[i] = value(i)
	}
	require.Equal(t, want, got)
	require.Equal(t, []Item[int]{value(0), value(1), value(2), value(3), notice[int](96)}, drain(t, slow))
	f.Close()
}

type post struct {
	topic string
	n     int
}

func TestTopics(t *testing.T) {
	f := New(8, func(p post) string { return p.topic })
	a, ab, all := f.Subscribe("a"), f.Subscribe("a", "b"), f.Subscribe()
	for i, topic := range []string{"a", "b", "c", "a"} {
		f.Publish(post{topic, i})
	}
	require.Equal(t, []Item[post]{value(post{"a", 0}), value(post{"a", 3})}, drain(t, a))
	require.Equal(t, []Item[post]{value(post{"a", 0}), value(post{"b", 1}), value(post{"a", 3})}, drain(t, ab))
	require.Len(t, drain(t, all), 4)

	untopiced := New[int](8, nil) // topics are ignored without a topic function
	s := untopiced.Subscribe("a")
	untopiced.Publish(7)
	require.Equal(t, []Item[int]{value(7)}, drain(t, s))
	f.Close()
	untopiced.Close()
}

// PublishAll reaches every subscriber whatever its topics, in order with
// the values published around it, and counts against full buffers as
// Publish does.
func TestPublishAll(t *testing.T) {
	f := New(2, func(p post) string { return p.topic })
	a, b := f.Subscribe("a"), f.Subscribe("b")
	f.Publish(post{"a", 0})
	f.PublishAll(post{"", 1})
	f.Publish(post{"b", 2})
	require.Equal(t, []Item[post]{value(post{"a", 0}), value(post{"", 1})}, drain(t, a))
	require.Equal(t, []Item[post]{value(post{"", 1}), value(post{"b", 2})}, drain(t, b))
	f.PublishAll(post{"", 3})
	f.PublishAll(post{"", 4})
	f.PublishAll(post{"", 5})
	require.Equal(t, []Item[post]{value(post{"", 3}), value(post{"", 4}), notice[post](1)}, drain(t, a))
	f.Close()
	f.PublishAll(post{"", 6})
}

func TestCloseSubscriber(t *testing.T) {
	f := New[int](4, nil)
	s, other := f.Subscribe(), f.Subscribe()
	f.Publish(1)
	s.Close()
	s.Close() // idempotent
	_, err := s.Recv(context.Background())
	require.ErrorIs(t, err, ErrClosed, "its buffer is dropped")
	require.Equal(t, 1, f.Stats().Subscribers)
	f.Publish(2)
	require.Equal(t, []Item[int]{value(1), value(2)}, drain(t, other))
	f.Close()
}

// After the Fanout's Close a subscriber reads what it holds, its pending
// notice included, then sees the end; a blocked Recv wakes.
func TestCloseFanout(t *testing.T) {
	f := New[int](1, nil)
	s, idle := f.Subscribe(), f.Subscribe()
	f.Publish(1)
	f.Publish(2)
	require.Equal(t, []Item[int]{value(1), notice[int](1)}, drain(t, idle))

	ended := make(chan error)
	go func() {
		_, err := idle.Recv(context.Background())
		ended <- err
	}()
	f.Close()
	f.Close()
	select {
	case err := <-ended:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("a Recv waiting when the Fanout closed did not return")
	}
	f.Publish(3)
	require.Equal(t, []Item[int]{value(1), notice[int](1)}, drain(t, s))
	_, err := s.Recv(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	_, err = f.Subscribe().Recv(context.Background())
	require.ErrorIs(t, err, ErrClosed, "a subscriber after Close has ended")
	require.Zero(t, f.Stats().Subscribers)
	s.Close() // closing after the Fanout's Close is fine
}

// Recv waits for a value published later; ctx bounds the wait.
func TestRecvWaits(t *testing.T) {
	f := New[int](4, nil)
	defer f.Close()
	s := f.Subscribe()
	got := make(chan Item[int])
	go func() {
		it, err := s.Recv(context.Background())
		if err == nil {
			got <- it
		}
		close(got)
	}()
	f.Publish(9)
	select {
	case it := <-got:
		require.Equal(t, value(9), it)
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return a value published while it waited")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := s.Recv(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// The ring grows on demand and keeps order across wrap-arounds.
func TestQueueWraps(t *testing.T) {
	var q queue[int]
	next, want := 0, 0
	for round := range 50 {
		for range round%13 + 1 {
			if q.len() < 20 {
				q.push(entry[int]{value: next}, 20)
				next++
			}
		}
		for range round % 7 {
			if q.len() > 0 {
				require.Equal(t, want, q.pop().value)
				want++
			}
		}
		require.LessOrEqual(t, len(q.buf), 20)
	}
}
