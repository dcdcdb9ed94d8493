package membership

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// soloNode starts a node alone on a MemNetwork, joined, with a
// subscription buffer of buffer. Call it inside a synctest bubble.
func soloNode(t *testing.T, buffer int) *Node {
	t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := transport.NewMemNetwork(1).Listen("solo", id, transport.MemConfig{})
	require.NoError(t, err)
	cfg := testConfig(tr, 1)
	cfg.SubscriberBuffer = buffer
	nd, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nd.Close() })
	require.NoError(t, nd.Join(context.Background()))
	return nd
}

// A subscriber that does not read loses the newest messages once its
// buffer is full and learns the exact count in their place: once it has
// read its buffer, though nothing more is broadcast. The node and its other
// subscribers go on, each charged only for its own misses.
func TestSlowSubscriberLagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nd := soloNode(t, 4)
		ctx := context.Background()
		slow := nd.Subscribe()
		other := nd.Subscribe("t")
		for i := range 10 {
			_, err := nd.Broadcast(ctx, "t", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
		}
		for i := range 4 {
			m, err := slow.Next(ctx)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint(i), string(m.Payload))
		}
		m, err := slow.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, Message{Lagged: 6}, m, "the end of the burst is reported without a new message")
		_, err = slow.Next(done())
		require.ErrorIs(t, err, context.Canceled, "nothing more is waiting")

		_, err = nd.Broadcast(ctx, "t", []byte("10"))
		require.NoError(t, err)
		m, err = slow.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, "10", string(m.Payload))
		require.Equal(t, nd.ID(), m.Origin)
		require.Equal(t, "t", m.Topic)

		for i := range 4 {
			m := <-other.C()
			require.Equal(t, fmt.Sprint(i), string(m.Payload), "each subscription has its own buffer")
		}
		require.Equal(t, Message{Lagged: 7}, <-other.C())
		_, err = nd.Broadcast(ctx, "t", []byte("11"))
		require.NoError(t, err)
		require.Equal(t, "11", string((<-other.C()).Payload))

		slow.Close()
		_, err = slow.Next(ctx)
		require.ErrorIs(t, err, ErrClosed, "Close drops what was buffered (message 11)")
		other.Close()
		_, open := <-other.C()
		require.False(t, open, "C is closed after Close")
	})
}

// When the node stops, a subscription still hands out what it buffered,
// then its channel closes.
func TestSubscriptionEndsWithNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nd := soloNode(t, 8)
		sub := nd.Subscribe()
		w := nd.Events()
		for i := range 3 {
			_, err := nd.Broadcast(context.Background(), "t", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
		}
		require.NoError(t, nd.Close())
		var got []string
		for m := range sub.C() {
			got = append(got, string(m.Payload))
		}
		require.Equal(t, []string{"0", "1", "2"}, got)
		_, err := w.Next(context.Background())
		require.ErrorIs(t, err, ErrClosed)
	})
}

// OnMessage sees every delivery, in order, however far the subscriptions
// lag; after stop it sees none.
func TestOnMessageMissesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nd := soloNode(t, 1)
		sub := nd.Subscribe()
		defer sub.Close()
		var seen []string // written on the node's goroutine, read after stop
		stop := nd.OnMessage(func(m Message) { seen = append(seen, string(m.Payload)) })
		ctx := context.Background()
		var want []string
		for i := range 20 {
			_, err := nd.Broadcast(ctx, "t", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
			want = append(want, fmt.Sprint(i))
		}
		stop()
		_, err := nd.Broadcast(ctx, "t", []byte("after"))
		require.NoError(t, err)
		require.Equal(t, want, seen)

		m, err := sub.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, "0", string(m.Payload))
		m, err = sub.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, Message{Lagged: 20}, m, "19 from the burst and the one after stop")
		stopAfterClose := nd.OnMessage(func(Message) {})
		require.NoError(t, nd.Close())
		stopAfterClose() // returns once the node has stopped
		nd.OnMessage(func(Message) {})()
	})
}

// done returns a context that has ended: Next(done()) takes what is
// waiting without waiting.
func done() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// requireNothingWaiting fails if sub, read through its channel, holds a
// message now: in its buffer or in the hand of the goroutine feeding C.
func requireNothingWaiting(t *testing.T, sub *Subscription, msgAndArgs ...any) {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		require.False(t, ok, "a message is waiting: %v %v", m, fmt.Sprint(msgAndArgs...))
	default:
	}
	if m, err := sub.Next(done()); err == nil {
		require.Failf(t, "a message is waiting", "%v %v", m, fmt.Sprint(msgAndArgs...))
	}
}
