package membership

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// FreezeDeliveries stops the hand-out of deliveries and returns marks that
// cover exactly what was handed out: a broadcast delivered before is below
// its origin's mark, one that arrives after is neither handed out nor
// covered, so a next run of the process delivers it.
func TestFreezeDeliveriesMarksWhatWasHandedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, 2, nil)
		a, b := c.nodes[0], c.nodes[1]
		sub := b.Subscribe("t")
		ctx := context.Background()
		first, err := a.Broadcast(ctx, "t", []byte("before"))
		require.NoError(t, err)
		require.Len(t, receiveN(t, sub, 1, time.Minute), 1)

		marks := b.FreezeDeliveries()
		require.Len(t, marks, 1)
		require.Equal(t, peer.ID(a.ID()), marks[0].Origin)
		require.Equal(t, first.Sequence()+1, marks[0].Next, "the delivered broadcast is covered")

		second, err := a.Broadcast(ctx, "t", []byte("after"))
		require.NoError(t, err)
		waitFor(t, time.Minute, "b's engine delivers the second broadcast", func() bool {
			for _, m := range b.DeliveryMarks() {
				if m.Origin == peer.ID(a.ID()) {
					return m.Next > second.Sequence()
				}
			}
			return false
		})
		requireNothingWaiting(t, sub, "nothing is handed out after the freeze")
		require.Equal(t, second.Sequence(), marks[0].Next, "it is the next one the frozen marks expect")
	})
}
