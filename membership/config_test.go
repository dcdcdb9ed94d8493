package membership

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/transport"
)

// A bad configuration is a clear error from New, prefixed "membership:".
func TestNewRejectsBadConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, err := transport.GenerateIdentity()
		require.NoError(t, err)
		tr, err := transport.NewMemNetwork(1).Listen("n", id, transport.MemConfig{})
		require.NoError(t, err)
		defer tr.Close()
		for name, cfg := range map[string]Config{
			"no transport":     {},
			"negative buffer":  {Transport: tr, SubscriberBuffer: -1},
			"negative sync":    {Transport: tr, SyncInterval: -time.Second},
			"members set":      {Transport: tr, Protocol: gossip.Config{Members: &gossip.MembersConfig{}}},
			"bad plumtree":     {Transport: tr, Protocol: gossip.Config{Plumtree: plumtree.Config{GraftTimeout1: -time.Second}}},
			"metadata too big": {Transport: tr, Metadata: make([]byte, 513)},
		} {
			_, err := New(cfg)
			require.ErrorContains(t, err, "membership: ", name)
		}
	})
}

// Seeds that are not addresses are refused, and calls on a closed node
// return ErrClosed.
func TestJoinAndClosedErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 1)
		nd := c.nodes[0]
		ctx := context.Background()
		require.ErrorContains(t, nd.Join(ctx, "notakey@host:1"), "membership: ")
		require.ErrorContains(t, nd.Join(ctx, "nowhere"), "membership: join: seed nowhere")
		require.NoError(t, nd.Close())
		require.NoError(t, nd.Close(), "Close is idempotent")
		_, err := nd.Broadcast(ctx, "t", nil)
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, nd.UpdateMetadata(ctx, nil), ErrClosed)
		_, open := <-nd.Subscribe().C()
		require.False(t, open, "a subscription of a closed node is closed")
	})
}
