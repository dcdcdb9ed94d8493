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
	return newQUICNodeWith(t, seed, transport.Config{}, nil)
}

// newQUICNodeWith starts a node on a QUIC transport configured by tcfg
// (Identity generated), its configuration adjusted by configure if set.
func newQUICNodeWith(t *testing.T, seed uint64, tcfg transport.Config, configure func(*Config)) *Node {
	t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tcfg.Identity = id
	tr, err := transport.ListenQUIC(tcfg)
	require.NoError(t, err)
	cfg := testConfig(tr, seed)
	if configure != nil {
		configure(&cfg)
	}
	nd, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nd.Close() })
	return nd
}

// clusterWait bounds each wait of the QUIC cluster tests. On an idle
// machine every step takes seconds; the bound is only there to end a test
// that is stuck, and is far above what a live cluster needs on a loaded,
// race-instrumented 2-core machine (where 30 nodes share the process and
// every timeout of the runtime can misfire).
const clusterWait = 3 * time.Minute

// loadTolerant is the transport configuration of the cluster tests, with
// a failure detector slower than the production one (IdleTimeout 1s,
// HandshakeTimeout 5s; the nodes also get DialTimeout 20s,
// SuspicionTimeout 10s, and a probe every 5 s with a 5 s timeout). Here up to 30 race-instrumented nodes share one
// process, so on a loaded 2-core machine each gets a sliver of a core and
// stalls for seconds; the production timeouts then misfire between live
// nodes faster than refutations heal them, and the cluster never settled
// (measured with the race detector at load average 9: 4.5 minutes to join
// 30 nodes, member lists not converged 3 minutes later). One node per
// process, as in production, does not starve so; what this test checks
// (join, delivery exactly once, crash and leave shown) does not depend on
// how fast a silent peer is noticed.
var loadTolerant = transport.Config{
	IdleTimeout:      10 * time.Second,
	KeepAlivePeriod:  time.Second,
	HandshakeTimeout: 20 * time.Second,
}

// Clusters of 6 and 30 nodes over QUIC on loopback join (one node through
// an unpinned host:port seed), deliver every broadcast exactly once,
// declare an abruptly closed node failed and show a node that left as left.
//
// Every step waits for its condition, bounded by clusterWait, not for a
// time. On a starved machine the runtime's failure detector (idle,
// handshake, dial and suspicion timeouts) may suspect or even declare
// failed a live node; the member refutes (SWIM §4.2, roster/doc.go), so
// the test asserts that every live node ends up alive in every list, and
// logs how many false suspicions it saw on the way.
func TestQUICCluster(t *testing.T) {
	for _, n := range []int{6, 30} {
		t.Run(fmt.Sprint(n, " nodes"), func(t *testing.T) { testQUICCluster(t, n) })
	}
}

func testQUICCluster(t *testing.T, n int) {
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = newQUICNodeWith(t, uint64(i+1), loadTolerant, func(c *Config) {
			c.DialTimeout = loadTolerant.HandshakeTimeout
			c.Roster.SuspicionTimeout = 10 * time.Second
			c.Roster.SuspicionMinTimeout = 6 * time.Second // confirmed suspicions as tolerant
			// Probes as tolerant: each sets up a QUIC connection, and 30
			// nodes' handshakes every second starve the process too.
			c.ProbeInterval, c.ProbeTimeout = 5*time.Second, 5*time.Second
			if n > 10 {
				// Probing off for 30 nodes in one process: a probe of a
				// member with no open connection costs a QUIC handshake,
				// and 30 nodes' handshakes under the race detector on a
				// loaded 2-core machine take more CPU than there is: with
				// three busy loops beside it the 30 nodes never settled
				// in 3 minutes with a probe every 5 s, and settled in
				// 7.7 s without (2026-12-06). One node per process does
				// not starve so; the 6-node case, the gossip tests and
				// the fault lab cover probing.
				c.ProbeInterval = -1
			}
		})
	}
	start := time.Now()
	require.NoError(t, nodes[0].Join(context.Background())) // no seed: returns at once
	for i, nd := range nodes[1:] {
		seed := nodes[0].Addr()
		if i == 0 {
			_, hostport, _ := strings.Cut(seed, "@")
			seed = hostport // unpinned: the key is learned on connect
		}
		joinWithin(t, nd, seed, clusterWait)
	}
	t.Logf("%v: joined", time.Since(start))
	waitForWall(t, clusterWait, "member lists converge", func() bool { return allSee(nodes, nodes, StateAlive) })
	t.Logf("%v: member lists converged", time.Since(start))

	subs := make([]*Subscription, n)
	for i, nd := range nodes {
		subs[i] = nd.Subscribe("q")
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	for i, nd := range nodes {
		_, err := nd.Broadcast(ctx, "q", []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	for i := range nodes {
		got := receiveN(t, subs[i], n, clusterWait)
		require.Len(t, got, n, "node %d", i)
	}
	t.Logf("%v: broadcasts delivered", time.Since(start))

	crashed, leaver := nodes[2], nodes[4]
	leaveCtx, cancelLeave := context.WithTimeout(context.Background(), clusterWait)
	defer cancelLeave()
	require.NoError(t, leaver.Leave(leaveCtx))
	require.NoError(t, crashed.Close())
	var rest []*Node
	for i, nd := range nodes {
		if i != 2 && i != 4 {
			rest = append(rest, nd)
		}
	}
	waitForWall(t, clusterWait, "leave shown", func() bool { return allSee(rest, []*Node{leaver}, StateLeft) })
	waitForWall(t, clusterWait, "close detected as failure", func() bool { return allSee(rest, []*Node{crashed}, StateFailed) })
	t.Logf("%v: leave and failure shown", time.Since(start))
	if shown := notAlive(rest, rest); len(shown) > 0 {
		t.Logf("live members shown not alive (false suspicions), waiting for their refutations: %v", shown)
	}
	deadline := time.Now().Add(clusterWait)
	for !allSee(rest, rest, StateAlive) {
		if time.Now().After(deadline) {
			t.Fatalf("live members still shown not alive after %v: %v", clusterWait, notAlive(rest, rest))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, sub := range subs {
		if i != 2 && i != 4 {
			requireNothingWaiting(t, sub, "node ", i, ": a duplicate arrived")
		}
	}
}

// joinWithin joins nd through seed, trying again while a dial to an
// unpinned seed fails (under load its handshake may time out), for at most
// limit.
func joinWithin(t *testing.T, nd *Node, seed string, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		err := nd.Join(ctx, seed)
		if err == nil {
			return
		}
		require.NoError(t, ctx.Err(), "join through %s: %v", seed, err)
		t.Logf("join through %s failed, trying again: %v", seed, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// notAlive lists, as "observer>member:state" with indexes into nodes, where
// a node of nodes shows a member of want in another state than alive.
func notAlive(nodes, want []*Node) []string {
	var out []string
	for i, nd := range nodes {
		s := states(nd)
		for j, w := range want {
			if st := s[w.ID()]; st != StateAlive {
				out = append(out, fmt.Sprintf("%d>%d:%v", i, j, st))
			}
		}
	}
	return out
}
