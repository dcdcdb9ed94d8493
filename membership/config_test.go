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

// A node reports its incarnation and next sequence number, which start
// where its Config says (what a restarted process passes to never reuse
// either), and grow as it broadcasts and republishes its record.
func TestIncarnationAndNextSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemClusterWith(t, 1, func(cfg *Config) {
			cfg.Roster.Incarnation = 5
			cfg.Protocol.Plumtree.FirstSequence = 100
		})
		nd := c.nodes[0]
		ctx := context.Background()
		require.NoError(t, nd.Join(ctx))
		require.Equal(t, uint64(5), nd.Incarnation())
		require.Equal(t, uint64(100), nd.NextSequence())
		id, err := nd.Broadcast(ctx, "t", []byte("x"))
		require.NoError(t, err)
		require.Equal(t, uint64(100), id.Sequence())
		require.Equal(t, nd.ID(), id.Origin())
		require.Equal(t, uint64(101), nd.NextSequence())
		require.NoError(t, nd.UpdateMetadata(ctx, []byte("m")))
		require.Equal(t, uint64(6), nd.Incarnation())
		require.NoError(t, nd.Close())
		require.Zero(t, nd.Incarnation())
		require.Zero(t, nd.NextSequence())
	})
}

// Plumtree's retention of delivered payloads, by age and by bytes, passes
// through Protocol.Plumtree; a retention above the default seen-ID
// retention raises that one with it (it failed validation before); the
// other Plumtree defaults stay the production ones.
func TestRetentionReachesTheEngine(t *testing.T) {
	c := Config{Transport: nil}
	c.Protocol.Plumtree.PayloadRetention = 5 * time.Minute
	c.Protocol.Plumtree.MaxCachedBytes = 8 << 20
	p := c.engineConfig(1)
	require.Equal(t, 5*time.Minute, p.Plumtree.PayloadRetention)
	require.Equal(t, 15*time.Minute, p.Plumtree.SeenRetention, "IDs outlive payloads")
	require.Equal(t, 8<<20, p.Plumtree.MaxCachedBytes)
	require.Equal(t, gossip.DefaultNeighborUpAnnouncements, p.Plumtree.NeighborUpAnnouncements)
	require.NoError(t, p.Validate())
}

// Timeout1 follows the measured lags by default (plumtree/doc.go,
// deviation 15); a GraftTimeout1 given alone stays fixed, as it was before
// the adaptive timeout1 (a WAN's setting keeps its meaning); a
// MinGraftTimeout given is kept.
func TestGraftTimeoutFloorReachesTheEngine(t *testing.T) {
	for _, tc := range []struct {
		timeout1, floor, want time.Duration
	}{
		{0, 0, gossip.DefaultMinGraftTimeout},
		{10 * time.Millisecond, 0, 0},
		{200 * time.Millisecond, 0, 0},
		{200 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
		{0, 80 * time.Millisecond, 80 * time.Millisecond},
	} {
		c := Config{}
		c.Protocol.Plumtree.GraftTimeout1 = tc.timeout1
		c.Protocol.Plumtree.MinGraftTimeout = tc.floor
		p := c.engineConfig(1)
		require.Equal(t, tc.want, p.Plumtree.MinGraftTimeout, "%+v", tc)
		require.NoError(t, p.Validate(), "%+v", tc)
	}
}

// The calm retention reaches the engine, never above the payload
// retention the application chose.
func TestCalmPayloadRetentionReachesTheEngine(t *testing.T) {
	for _, tc := range []struct {
		retention, calm, want time.Duration
	}{
		{0, 0, gossip.DefaultCalmPayloadRetention},
		{5 * time.Second, 0, 5 * time.Second},
		{time.Minute, 0, gossip.DefaultCalmPayloadRetention},
		{time.Minute, time.Minute, time.Minute},
		{0, 2 * time.Second, 2 * time.Second},
	} {
		c := Config{}
		c.Protocol.Plumtree.PayloadRetention = tc.retention
		c.Protocol.Plumtree.CalmPayloadRetention = tc.calm
		p := c.engineConfig(1)
		require.Equal(t, tc.want, p.Plumtree.CalmPayloadRetention, "%+v", tc)
		require.NoError(t, p.Validate(), "%+v", tc)
	}
}
