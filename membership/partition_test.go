package membership

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

// A partition into halves lasts long enough for each half to declare the
// other failed. Broadcasts and metadata updates made on both sides during
// it reach every node after it heals (anti-entropy on neighbour up), every
// member list shows every node alive again with the new metadata, and no
// broadcast is delivered twice.
func TestMemPartitionHeals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 16
		c, subs := newSubscribedCluster(t, n)

		left, right := c.nodes[:n/2], c.nodes[n/2:]
		c.net.Partition(c.addrs[:n/2], c.addrs[n/2:])
		// Failure detection is HyParView's: the members adjacent to the cut
		// are declared failed on the other side; the others stay alive there.
		waitFor(t, 30*time.Second, "each half declares members of the other failed", func() bool {
			return anyFailed(left, right) && anyFailed(right, left)
		})

		ctx := context.Background()
		for i, nd := range c.nodes {
			_, err := nd.Broadcast(ctx, "p", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
		}
		require.NoError(t, c.nodes[1].UpdateMetadata(ctx, []byte("left-side")))
		require.NoError(t, c.nodes[n-1].UpdateMetadata(ctx, []byte("right-side")))
		time.Sleep(2 * time.Second)

		c.net.Heal()
		waitFor(t, 60*time.Second, "member lists converge after healing", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		waitFor(t, 30*time.Second, "metadata converges", func() bool {
			for _, nd := range c.nodes {
				meta := map[uint64][]byte{}
				for _, m := range nd.Members() {
					meta[m.ID] = m.Meta
				}
				if !bytes.Equal(meta[c.nodes[1].ID()], []byte("left-side")) || !bytes.Equal(meta[c.nodes[n-1].ID()], []byte("right-side")) {
					return false
				}
			}
			return true
		})
		for i := range c.nodes {
			got := receiveN(t, subs[i], n, 30*time.Second)
			require.Len(t, got, n, "node %d", i)
		}
		time.Sleep(5 * time.Second)
		for i := range c.nodes {
			requireNothingWaiting(t, subs[i], "node ", i, ": a duplicate arrived")
		}
	})
}

// newSubscribedCluster joins n in-memory nodes, waits for their member
// lists to agree, and subscribes each to topic "p".
func newSubscribedCluster(t *testing.T, n int) (*memCluster, []*Subscription) {
	t.Helper()
	c := newMemCluster(t, n)
	c.joinAll()
	waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
	subs := make([]*Subscription, n)
	for i, nd := range c.nodes {
		subs[i] = nd.Subscribe("p")
	}
	return c, subs
}

// anyFailed reports whether every node of by lists some node of of as
// failed.
func anyFailed(by, of []*Node) bool {
	for _, nd := range by {
		s := states(nd)
		found := false
		for _, o := range of {
			found = found || s[o.ID()] == StateFailed
		}
		if !found {
			return false
		}
	}
	return true
}

// Broadcasts made during a partition reach every node after it heals,
// as long as they were made within PayloadRetention (30 s) of the heal,
// though the nodes hold a payload only the calm retention (10 s;
// gossip.DefaultCalmPayloadRetention) while nothing fails: the failures
// each side sees hold every payload for the whole PayloadRetention
// (plumtree/doc.go, deviation 16), and so does every rejoin tick while
// the members lost are looked for (gossip's rejoinTick), long after the
// failures that began the partition.
func TestMemPartitionRepairsWhatTheRetentionHeld(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after time.Duration // the broadcasts come this long after the cut, this long before the heal
	}{
		{"broadcasts as the cut begins, healed after twice the calm retention", 0, 2 * gossip.DefaultCalmPayloadRetention},
		{"a cut of a minute, broadcasts 20 s before the heal", 40 * time.Second, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 12
				c, subs := newSubscribedCluster(t, n)
				c.net.Partition(c.addrs[:n/2], c.addrs[n/2:])
				time.Sleep(tc.before)
				ctx := context.Background()
				for i, nd := range c.nodes {
					_, err := nd.Broadcast(ctx, "p", []byte(fmt.Sprint(i)))
					require.NoError(t, err)
				}
				time.Sleep(tc.after)
				c.net.Heal()
				for i := range c.nodes {
					got := receiveN(t, subs[i], n, time.Minute)
					for j := range n {
						require.Equal(t, 1, got[fmt.Sprint("p/", j)], "node %d: broadcast of node %d (a gap notice instead: %v)", i, j, got)
					}
				}
			})
		})
	}
}
