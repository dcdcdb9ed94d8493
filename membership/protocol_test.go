package membership

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/transport"
)

// A rolling upgrade: one agent speaks protocol version 1 (it predates the
// heads and the overlay queries, and would close a connection on either).
// Nothing that needs version 2 is ever sent to it, while the agents of
// this version exchange heads; every broadcast still reaches everyone.
func TestNoVersion2MessageToAnAgentOfVersion1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		var mu sync.Mutex
		toOld, among := 0, 0
		net.SetHook(func(from, to string, frame []byte) bool {
			if len(frame) > 1 && (frame[1] == gossip.TagHeads || frame[1] == gossip.TagViewsRequest || frame[1] == gossip.TagViewsReply) {
				mu.Lock()
				if from == "old" || to == "old" {
					toOld++
				} else {
					among++
				}
				mu.Unlock()
			}
			return true
		})
		var nodes []*Node
		var addrs []string
		for i := range 4 {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			addr, mc := fmt.Sprintf("new%d", i), transport.MemConfig{}
			if i == 0 {
				addr, mc.MaxProtocol = "old", 1
			}
			tr, err := net.Listen(addr, id, mc)
			require.NoError(t, err)
			nd, err := New(testConfig(tr, uint64(i+1)))
			require.NoError(t, err)
			t.Cleanup(func() { _ = nd.Close() })
			nodes, addrs = append(nodes, nd), append(addrs, addr)
		}
		ctx := context.Background()
		for i, nd := range nodes[1:] {
			require.NoError(t, nd.Join(ctx, nodes[0].cfg.Transport.Addr()), "node %d", i+1)
		}
		waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(nodes, nodes, StateAlive) })
		var subs []*Subscription
		for _, nd := range nodes {
			subs = append(subs, nd.Subscribe())
		}
		for i, nd := range nodes {
			_, err := nd.Broadcast(ctx, "t", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
		}
		for i := range nodes {
			require.Len(t, receiveN(t, subs[i], len(nodes), 10*time.Second), len(nodes), "node %d (%s)", i, addrs[i])
		}
		time.Sleep(time.Minute) // anti-entropy exchanges, each with heads
		mu.Lock()
		defer mu.Unlock()
		require.Zero(t, toOld, "no version-2 message to or from the agent of version 1")
		require.Positive(t, among, "the agents of version 2 exchange heads")
	})
}
