package membership

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// A subscriber that does not read loses the newest messages once its
// buffer is full, then receives a Lagged notice with the exact count
// before the next message; the node and its other subscribers go on.
func TestSlowSubscriberLagged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, err := transport.GenerateIdentity()
		require.NoError(t, err)
		tr, err := transport.NewMemNetwork(1).Listen("solo", id, transport.MemConfig{})
		require.NoError(t, err)
		cfg := testConfig(tr, 1)
		cfg.SubscriberBuffer = 4
		nd, err := New(cfg)
		require.NoError(t, err)
		defer nd.Close()
		ctx := context.Background()
		require.NoError(t, nd.Join(ctx))

		slow := nd.Subscribe()
		other := nd.Subscribe("t")
		for i := range 10 {
			_, err := nd.Broadcast(ctx, "t", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
		}
		for i := range 4 {
			m := <-slow.C()
			require.Equal(t, fmt.Sprint(i), string(m.Payload))
		}
		_, err = nd.Broadcast(ctx, "t", []byte("10"))
		require.NoError(t, err)
		require.Equal(t, Message{Lagged: 6}, <-slow.C())
		m := <-slow.C()
		require.Equal(t, "10", string(m.Payload))
		require.Equal(t, nd.ID(), m.Origin)
		require.Equal(t, "t", m.Topic)

		for i := range 4 {
			m := <-other.C()
			require.Equal(t, fmt.Sprint(i), string(m.Payload), "each subscription has its own buffer")
		}
		synctest.Wait() // the state goroutine retries pending notices
		_, err = nd.Broadcast(ctx, "t", []byte("11"))
		require.NoError(t, err)
		require.Equal(t, Message{Lagged: 7}, <-other.C())
		require.Equal(t, "11", string((<-other.C()).Payload))
		slow.Close()
		rest := 0
		for range slow.C() { // ends only if Close closed the channel
			rest++
		}
		require.Equal(t, 1, rest, "message 11 was still buffered")
	})
}
