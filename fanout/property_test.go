package fanout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// op is one step of an interleaving: a publish on topic, or a read by
// subscriber sub.
type op struct {
	publish bool
	topic   string
	sub     int
}

// model is what one subscriber should receive, stated as a list of items
// rather than a ring: the values it kept, each preceded by a notice for
// the run of values dropped before it, and the run dropped since.
type model struct {
	items    []Item[post]
	held     int    // values among items
	trailing uint64 // dropped since the last value kept
}

func (m *model) publish(p post, buffer int) {
	if m.held == buffer {
		m.trailing++
		return
	}
	if m.trailing > 0 {
		m.items = append(m.items, notice[post](m.trailing))
		m.trailing = 0
	}
	m.items = append(m.items, value(p))
	m.held++
}

func (m *model) recv() (Item[post], bool) {
	if len(m.items) > 0 {
		it := m.items[0]
		m.items = m.items[1:]
		if it.Missed == 0 {
			m.held--
		}
		return it, true
	}
	if m.trailing > 0 {
		it := notice[post](m.trailing)
		m.trailing = 0
		return it, true
	}
	return Item[post]{}, false
}

// checkExact walks what a subscriber received against what was published
// on its topics: every value in order, each notice standing for exactly as
// many values as it counts, two notices never in a row, and nothing left
// unaccounted.
func checkExact(t require.TestingT, got []Item[post], published []post) (delivered, lagged uint64) {
	next := 0
	for i, it := range got {
		if it.Missed > 0 {
			require.False(t, i > 0 && got[i-1].Missed > 0, "two notices in a row at %d", i)
			next += int(it.Missed)
			lagged += it.Missed
			continue
		}
		require.Less(t, next, len(published), "item %d: more received than published", i)
		require.Equal(t, published[next], it.Value, "item %d", i)
		next++
		delivered++
	}
	require.Equal(t, len(published), next, "delivered + reported lag == published on its topics")
	return delivered, lagged
}

func opGen(subs int) *rapid.Generator[op] {
	return rapid.Custom(func(t *rapid.T) op {
		if rapid.Bool().Draw(t, "publish") {
			return op{publish: true, topic: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "topic")}
		}
		return op{sub: rapid.IntRange(0, subs-1).Draw(t, "sub")}
	})
}

// run plays ops on a fresh Fanout with the subscribers in present only,
// checks every read against the model, drains at the end and returns what
// each received and what was published on its topics.
func run(t *rapid.T, buffer int, topics [][]string, present []int, ops []op) (got map[int][]Item[post], published map[int][]post) {
	f := New(buffer, func(p post) string { return p.topic })
	defer f.Close()
	subs, models := map[int]*Subscriber[post]{}, map[int]*model{}
	got, published = map[int][]Item[post]{}, map[int][]post{}
	for _, i := range present {
		subs[i], models[i] = f.Subscribe(topics[i]...), &model{}
	}
	wants := func(i int, topic string) bool {
		return len(topics[i]) == 0 || contains(topics[i], topic)
	}
	read := func(i int) bool {
		it, err := subs[i].Recv(done)
		want, ok := models[i].recv()
		require.Equal(t, ok, err == nil, "subscriber %d: something waiting (%v)", i, err)
		if ok {
			require.Equal(t, want, it, "subscriber %d", i)
			got[i] = append(got[i], it)
		}
		return ok
	}
	sent := 0
	for _, o := range ops {
		switch {
		case o.publish:
			p := post{o.topic, sent}
			sent++
			f.Publish(p)
			for i, m := range models {
				if wants(i, o.topic) {
					m.publish(p, buffer)
					published[i] = append(published[i], p)
				}
			}
		case subs[o.sub] != nil:
			read(o.sub)
		}
	}
	var delivered, lagged uint64
	for _, i := range present {
		for read(i) {
		}
		d, l := checkExact(t, got[i], published[i])
		delivered, lagged = delivered+d, lagged+l
	}
	require.Equal(t, Stats{Subscribers: len(present), Delivered: delivered, Lagged: lagged}, f.Stats())
	return got, published
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// For random interleavings of publishes and reads, every subscriber
// receives exactly what the model says, and delivered + reported lag ==
// published on its topics. What a subscriber receives depends only on the
// publishes and its own reads: alone, it receives the same, so no
// subscriber is charged for another.
func TestExactForAnyInterleaving(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		buffer := rapid.IntRange(1, 5).Draw(t, "buffer")
		n := rapid.IntRange(1, 4).Draw(t, "subscribers")
		topics := make([][]string, n)
		all := make([]int, n)
		for i := range n {
			topics[i] = rapid.SliceOfDistinct(rapid.SampledFrom([]string{"a", "b", "c"}), rapid.ID[string]).Draw(t, fmt.Sprint("topics", i))
			all[i] = i
		}
		ops := rapid.SliceOfN(opGen(n), 0, 200).Draw(t, "ops")
		got, _ := run(t, buffer, topics, all, ops)
		for i := range n {
			var own []op
			for _, o := range ops {
				if o.publish || o.sub == i {
					own = append(own, o)
				}
			}
			alone, _ := run(t, buffer, topics, []int{i}, own)
			require.Equal(t, alone[i], got[i], "subscriber %d receives the same with or without the others", i)
		}
	})
}

// Under the race detector: a publisher bursts while readers of different
// speeds and topics read concurrently and others come and go. Every reader
// ends with delivered + reported lag == published on its topics, learning
// of the last misses from the end-of-burst notice, and the Fanout's
// counters equal the sums of what the readers saw.
func TestConcurrentReadersExact(t *testing.T) {
	const n = 20000
	rng := rand.New(rand.NewPCG(1, 2))
	posts := make([]post, n)
	for i := range posts {
		posts[i] = post{[]string{"a", "b", "c"}[rng.IntN(3)], i}
	}
	f := New(16, func(p post) string { return p.topic })
	readers := []struct {
		topics []string
		slow   bool
	}{{nil, false}, {nil, true}, {[]string{"a"}, false}, {[]string{"a"}, true}, {[]string{"b", "c"}, true}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	subs := make([]*Subscriber[post], len(readers))
	got := make([][]Item[post], len(readers))
	var wg sync.WaitGroup
	for r, rd := range readers {
		subs[r] = f.Subscribe(rd.topics...)
		matching := 0
		for _, p := range posts {
			if len(rd.topics) == 0 || contains(rd.topics, p.topic) {
				matching++
			}
		}
		wg.Go(func() {
			for accounted := 0; accounted < matching; {
				it, err := subs[r].Recv(ctx)
				if err != nil {
					t.Errorf("reader %d: %v after %d of %d", r, err, accounted, matching)
					return
				}
				got[r] = append(got[r], it)
				accounted += max(int(it.Missed), 1)
				if rd.slow {
					runtime.Gosched()
				}
			}
		})
	}
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Go(func() { // subscribers that come and go, reading a little
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := f.Subscribe("b")
			_, _ = s.Recv(done)
			s.Close()
		}
	})
	for _, p := range posts {
		f.Publish(p)
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	require.NoError(t, ctx.Err())

	var delivered, lagged uint64
	for r, rd := range readers {
		var published []post
		for _, p := range posts {
			if len(rd.topics) == 0 || contains(rd.topics, p.topic) {
				published = append(published, p)
			}
		}
		d, l := checkExact(t, got[r], published)
		delivered, lagged = delivered+d, lagged+l
		t.Logf("reader %d (slow %v, topics %v): %d delivered, %d reported missed", r, rd.slow, rd.topics, d, l)
	}
	st := f.Stats()
	require.Equal(t, len(readers), st.Subscribers)
	// The churning subscribers read a little too: at most one item each.
	require.GreaterOrEqual(t, st.Delivered+st.Lagged, delivered+lagged)
	f.Close()
	for r, s := range subs {
		_, err := s.Recv(ctx)
		require.ErrorIs(t, err, ErrClosed, "reader %d", r)
	}
}
