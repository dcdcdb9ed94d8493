package membership

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

// OverlayViews, asked of any node, returns every node's views as that
// node holds them, over the cluster's connections; a member cut off lists
// as unanswered once its timeout passed, and the others still answer.
func TestOverlayViewsGathersEveryNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		c := newMemCluster(t, n)
		c.joinAll()
		waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A node's views may change while the query runs, more than once
		// (HyParView's refresh rewires now and then, a drop leaves a
		// node one short until a request is accepted, a failed request
		// takes its target out of the passive view and a shuffle may
		// bring it back: CI runs saw an active view change, and a
		// passive peer gone and back, within the query). So each answer
		// must be views the node could hold: no peer outside what it held
		// before the query or after it, itself never, an active view
		// within its size, and the push peers its active view.
		snapshot := func() map[uint64]Views {
			m := map[uint64]Views{}
			for _, nd := range c.nodes {
				active, passive := nd.Views()
				eager, lazy := nd.Trees()
				for _, l := range [][]uint64{active, passive, eager, lazy} {
					slices.Sort(l)
				}
				m[nd.ID()] = Views{Active: active, Passive: passive, Eager: eager, Lazy: lazy}
			}
			return m
		}
		before := snapshot()
		cv, err := c.nodes[2].OverlayViews(ctx)
		require.NoError(t, err)
		after := snapshot()
		require.Empty(t, cv.Unanswered)
		require.Len(t, cv.Views, n)
		for _, nd := range c.nodes {
			v, ok := cv.Views[nd.ID()]
			require.True(t, ok, "node %x answered", nd.ID())
			require.ElementsMatch(t, v.Active, append(slices.Clone(v.Eager), v.Lazy...), "node %x: the push peers are the active view", nd.ID())
			b, a := before[nd.ID()], after[nd.ID()]
			held := slices.Concat(b.Active, b.Passive, a.Active, a.Passive)
			require.Subset(t, held, slices.Concat(v.Active, v.Passive), "node %x's views, within what it held before the query and after it", nd.ID())
			require.NotContains(t, slices.Concat(v.Active, v.Passive), nd.ID(), "node %x lists itself", nd.ID())
			require.LessOrEqual(t, len(v.Active), max(len(b.Active), len(a.Active)), "node %x's active view, no larger than before the query or after it", nd.ID())
		}
		require.Equal(t, uint64(n-1), c.nodes[2].Counters().Engine.ViewsAsked)

		c.net.Partition(c.addrs[:n-1], c.addrs[n-1:])
		start := time.Now()
		cv, err = c.nodes[0].OverlayViews(ctx)
		require.NoError(t, err)
		require.Equal(t, []uint64{c.nodes[n-1].ID()}, cv.Unanswered, "the node cut off")
		require.Len(t, cv.Views, n-1)
		// It waited for its turn (a second after the first query began),
		// then the cut-off node's timeout.
		require.LessOrEqual(t, time.Since(start), gossip.MinViewsInterval+gossip.DefaultViewsTimeout, "bounded by the timeout")
	})
}

// A context that ends first ends the query: what was not heard from is
// listed unanswered.
func TestOverlayViewsContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 3)
		c.joinAll()
		waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		c.net.Partition(c.addrs[:1], c.addrs[1:])
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		cv, err := c.nodes[0].OverlayViews(ctx)
		require.NoError(t, err)
		require.Len(t, cv.Views, 1, "only its own")
		require.ElementsMatch(t, []uint64{c.nodes[1].ID(), c.nodes[2].ID()}, cv.Unanswered)
	})
}
