package membership

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
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

// A node closes its connection to a peer and dials the peer again before
// the peer saw the close: the peer took the two for a simultaneous dial
// and kept the older one (dialled by the smaller ID). When the close
// arrives, the newer connection, which the node sends over, takes over
// at the peer: the peer's next frames go over it, no dial is needed, and
// no link ends.
func TestConnectionClosedAndDialledAgainTakesOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 2)
		small, large := c.nodes[0], c.nodes[1]
		smallAddr, largeAddr := c.addrs[0], c.addrs[1]
		if large.ID() < small.ID() {
			small, large = large, small
			smallAddr, largeAddr = largeAddr, smallAddr
		}
		ctx := context.Background()
		// The small ID dials the large one: the connection both keep.
		old, err := small.tr.Dial(ctx, largeAddr, large.tr.PublicKey())
		require.NoError(t, err)
		var kept *peerConn
		require.NoError(t, small.call(ctx, func() { kept = small.adopt(old, true) }))
		synctest.Wait()
		// The large ID dials again, as after closing the first: the small
		// ID, still holding the first, sets the new one aside.
		_, err = large.tr.Dial(ctx, smallAddr, small.tr.PublicKey())
		require.NoError(t, err)
		synctest.Wait()
		largeID := peer.ID(large.ID())
		require.NoError(t, small.call(ctx, func() {
			require.Same(t, kept, small.st.conns[largeID], "the older connection kept")
			require.NotNil(t, kept.standby, "the newer one set aside")
		}))
		// Now the close of the first arrives.
		closed := small.st.eng.Counters().HyParView.ConnectionsClosedByPeer
		require.NoError(t, small.call(ctx, func() {
			small.connEnded(kept, &transport.CloseError{Remote: true, Reason: "not needed by the protocol"})
			pc := small.st.conns[largeID]
			require.NotNil(t, pc, "a connection to the peer")
			require.Same(t, kept.standby, pc, "the newer one took over")
			require.False(t, pc.retired)
		}))
		require.Equal(t, closed, small.st.eng.Counters().HyParView.ConnectionsClosedByPeer, "no link ended")
		accepts := large.tr.Stats().Accepts
		require.NoError(t, small.call(ctx, func() {
			small.send(hyparview.Peer{ID: largeID, Addr: large.Addr()}, &hyparview.Disconnect{Alive: true, Nonce: 1})
		}))
		synctest.Wait()
		require.Equal(t, accepts, large.tr.Stats().Accepts, "sent over the connection that took over, no new dial")
	})
}
