package membership

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// When two nodes dial each other at once, both keep the connection dialled
// by the smaller ID; the other is closed by the node that dialled it, and
// no failure is reported.
func TestSimultaneousDialsKeepOneConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 2)
		a, b := c.nodes[0], c.nodes[1]
		ctx := context.Background()
		ab, err := a.tr.Dial(ctx, c.addrs[1], b.tr.PublicKey())
		require.NoError(t, err)
		ba, err := b.tr.Dial(ctx, c.addrs[0], a.tr.PublicKey())
		require.NoError(t, err)
		require.NoError(t, a.call(ctx, func() { a.adopt(ab, true) }))
		require.NoError(t, b.call(ctx, func() { b.adopt(ba, true) }))
		waitFor(t, 5*time.Second, "one connection each", func() bool {
			return a.tr.Stats().ConnsOpen == 1 && b.tr.Stats().ConnsOpen == 1
		})
		smallerDials := a.ID() < b.ID()
		for _, p := range [][2]*Node{{a, b}, {b, a}} {
			require.NoError(t, p[0].call(ctx, func() {
				pc := p[0].st.conns[peer.ID(p[1].ID())]
				require.NotNil(t, pc)
				require.Equal(t, smallerDials == (p[0] == a), pc.dialled, "the kept one was dialled by the smaller ID")
				require.Zero(t, p[0].st.eng.Counters().HyParView.ConnectionFailures+p[0].st.eng.Counters().HyParView.IgnoredConnectionFailures,
					"retiring a duplicate is no failure")
			}))
		}
	})
}
