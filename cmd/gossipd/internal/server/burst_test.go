package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/transport"
)

// account is what one Subscribe stream received.
type account struct {
	delivered, lagged uint64
	err               error
}

// readStream reads stream until it has accounted for n deliveries, as
// messages or within lag notices, checking that each message carries the
// sequence number that the notices before it leave room for.
func readStream(stream gossipdv1.GossipService_SubscribeClient, first, n uint64) (acc account) {
	next, lastWasNotice := first, false
	for acc.delivered+acc.lagged < n {
		resp, err := stream.Recv()
		if err != nil {
			acc.err = fmt.Errorf("after %d delivered and %d lagged: %w", acc.delivered, acc.lagged, err)
			return acc
		}
		if l := resp.GetLagged(); l != nil {
			if lastWasNotice || l.GetMissed() == 0 {
				acc.err = fmt.Errorf("notice of %d after a notice: %t", l.GetMissed(), lastWasNotice)
				return acc
			}
			acc.lagged += l.GetMissed()
			next += l.GetMissed()
			lastWasNotice = true
			continue
		}
		if seq := resp.GetMessage().GetSequence(); seq != next {
			acc.err = fmt.Errorf("message %d where %d was due", seq, next)
			return acc
		}
		acc.delivered++
		next++
		lastWasNotice = false
	}
	return acc
}

// 500 Subscribe streams on one agent and a burst of 2,000 broadcasts:
// every stream accounts for every broadcast exactly, each one delivered or
// counted in a lag notice at its place (the last notice comes after the
// burst, with nothing more broadcast), and the agent's subscriber_lagged
// counter is the sum of the notices the streams received.
func TestBurstToManySubscribersAccountsForEveryBroadcast(t *testing.T) {
	const subscribers, broadcasts = 500, 2000
	start := time.Now()
	a := newAgent(t, transport.NewMemNetwork(1), "solo", Config{StreamBuffer: 32})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := a.client.Join(ctx, &gossipdv1.JoinRequest{})
	require.NoError(t, err)
	before, err := a.client.Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)

	streams := make([]gossipdv1.GossipService_SubscribeClient, subscribers)
	for i := range streams {
		streams[i], err = a.client.Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{"burst"}})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		_, _, subs, _, _ := a.srv.hub.stats()
		return subs == subscribers
	}, 2*time.Minute, 10*time.Millisecond, "every stream registered")

	accounts := make([]account, subscribers)
	var readers sync.WaitGroup
	for i, stream := range streams {
		readers.Go(func() { accounts[i] = readStream(stream, before.GetLastSequence()+1, broadcasts) })
	}
	payload := []byte("burst payload")
	for range broadcasts {
		_, err := a.node.Broadcast(ctx, "burst", payload)
		require.NoError(t, err)
	}
	burst := time.Since(start)
	readers.Wait()

	var delivered, lagged uint64
	for i, acc := range accounts {
		require.NoError(t, acc.err, "stream %d", i)
		require.Equal(t, uint64(broadcasts), acc.delivered+acc.lagged, "stream %d", i)
		delivered += acc.delivered
		lagged += acc.lagged
	}
	st, err := a.client.Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	require.Equal(t, before.GetLastSequence()+broadcasts, st.GetLastSequence())
	require.Equal(t, int64(subscribers), st.GetCounters()["subscribers"])
	require.Equal(t, int64(lagged), st.GetCounters()["subscriber_lagged"], "the counter is the sum of the notices received")
	require.Equal(t, int64(delivered), st.GetCounters()["subscriber_delivered"])
	require.NotZero(t, lagged, "the burst overflowed stream buffers: otherwise this test checks nothing about lag")
	t.Logf("%d streams: %d delivered, %d reported missed; agent up and burst sent in %v, all read in %v",
		subscribers, delivered, lagged, burst.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
