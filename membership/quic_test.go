package membership

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

func newQUICNode(t *testing.T, seed uint64) *Node {
	t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := transport.ListenQUIC(transport.Config{Identity: id})
	require.NoError(t, err)
	nd, err := New(testConfig(tr, seed))
	require.NoError(t, err)
	t.Cleanup(func() { _ = nd.Close() })
	return nd
}

// Clusters of 6 and 30 nodes over QUIC on loopback join (one node through
// an unpinned host:port seed), deliver every broadcast exactly once,
// declare an abruptly closed node failed and show a node that left as left.
func TestQUICCluster(t *testing.T) {
	for _, n := range []int{6, 30} {
		t.Run(fmt.Sprint(n, " nodes"), func(t *testing.T) { testQUICCluster(t, n) })
	}
}

func testQUICCluster(t *testing.T, n int) {
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = newQUICNode(t, uint64(i+1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, nodes[0].Join(ctx))
	for i, nd := range nodes[1:] {
		seed := nodes[0].Addr()
		if i == 0 {
			_, hostport, _ := strings.Cut(seed, "@")
			seed = hostport // unpinned: the key is learned on connect
		}
		require.NoError(t, nd.Join(ctx, seed))
	}
	require.Eventually(t, func() bool { return allSee(nodes, nodes, StateAlive) }, 20*time.Second, 50*time.Millisecond, "member lists converge")

	subs := make([]*Subscription, n)
	for i, nd := range nodes {
		subs[i] = nd.Subscribe("q")
	}
	for i, nd := range nodes {
		_, err := nd.Broadcast(ctx, "q", []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	for i := range nodes {
		got := receiveN(t, subs[i], n, 10*time.Second)
		require.Len(t, got, n, "node %d", i)
	}

	crashed, leaver := nodes[2], nodes[4]
	require.NoError(t, leaver.Leave(ctx))
	require.NoError(t, crashed.Close())
	var rest []*Node
	for i, nd := range nodes {
		if i != 2 && i != 4 {
			rest = append(rest, nd)
		}
	}
	require.Eventually(t, func() bool { return allSee(rest, []*Node{leaver}, StateLeft) }, 10*time.Second, 50*time.Millisecond, "leave shown")
	require.Eventually(t, func() bool { return allSee(rest, []*Node{crashed}, StateFailed) }, 20*time.Second, 50*time.Millisecond, "close detected as failure")
	require.True(t, allSee(rest, rest, StateAlive), "no false failure")
	for i, sub := range subs {
		if i != 2 && i != 4 {
			requireNothingWaiting(t, sub, "node ", i, ": a duplicate arrived")
		}
	}
}
