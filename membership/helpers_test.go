package membership

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plumview/plumview/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memCluster is a set of nodes on one MemNetwork, for tests inside a
// synctest bubble.
type memCluster struct {
	t     *testing.T
	net   *transport.MemNetwork
	nodes []*Node
	addrs []string // transport addresses, for partitions and crashes
	// configure, when set, adjusts each node's configuration.
	configure func(*Config)
	// transport configures each node's transport.
	transport transport.MemConfig
}

// testConfig is the configuration the tests use: short suspicion and
// rejoin periods so that scenarios take seconds of virtual time.
func testConfig(tr transport.Transport, seed uint64) Config {
	cfg := Config{Transport: tr, Seed: seed, RejoinInterval: time.Second}
	cfg.Roster.SuspicionTimeout = 2 * time.Second
	return cfg
}

func newMemCluster(t *testing.T, n int) *memCluster {
	t.Helper()
	return newMemClusterWith(t, n, nil)
}

// newMemClusterWith is newMemCluster with each node's configuration
// adjusted by configure.
func newMemClusterWith(t *testing.T, n int, configure func(*Config)) *memCluster {
	t.Helper()
	return newMemClusterOn(t, n, transport.MemConfig{}, configure)
}

// newMemClusterOn is newMemClusterWith with each transport configured by
// mc.
func newMemClusterOn(t *testing.T, n int, mc transport.MemConfig, configure func(*Config)) *memCluster {
	t.Helper()
	c := &memCluster{t: t, net: transport.NewMemNetwork(1), configure: configure, transport: mc}
	for i := range n {
		c.add(i)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			_ = nd.Close()
		}
	})
	return c
}

// add starts node i (not joined).
func (c *memCluster) add(i int) *Node {
	c.t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(c.t, err)
	addr := fmt.Sprintf("node%d", i)
	tr, err := c.net.Listen(addr, id, c.transport)
	require.NoError(c.t, err)
	cfg := testConfig(tr, uint64(i+1))
	if c.configure != nil {
		c.configure(&cfg)
	}
	nd, err := New(cfg)
	require.NoError(c.t, err)
	c.nodes = append(c.nodes, nd)
	c.addrs = append(c.addrs, addr)
	return nd
}

// joinAll joins every node through node 0.
func (c *memCluster) joinAll() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(c.t, c.nodes[0].Join(ctx))
	for _, nd := range c.nodes[1:] {
		require.NoError(c.t, nd.Join(ctx, c.nodes[0].Addr()))
	}
}

// waitFor advances virtual time until cond holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond) // virtual time inside synctest
	}
}

// states returns node nd's view of every member's state by ID.
func states(nd *Node) map[uint64]State {
	m := map[uint64]State{}
	for _, mem := range nd.Members() {
		m[mem.ID] = mem.State
	}
	return m
}

// allSee reports whether every node in nodes lists every node of want in
// state st.
func allSee(nodes []*Node, want []*Node, st State) bool {
	for _, nd := range nodes {
		s := states(nd)
		for _, w := range want {
			if s[w.ID()] != st {
				return false
			}
		}
	}
	return true
}

// receiveN reads n messages from sub (bounded by virtual time) and returns
// the count of each payload.
func receiveN(t *testing.T, sub *Subscription, n int, limit time.Duration) map[string]int {
	t.Helper()
	got := map[string]int{}
	timeout := time.After(limit)
	for range n {
		select {
		case m := <-sub.C():
			require.Zero(t, m.Lagged, "no message may be dropped here")
			got[m.Topic+"/"+string(m.Payload)]++
		case <-timeout:
			t.Fatalf("received %d of %d messages within %v", len(got), n, limit)
		}
	}
	return got
}
