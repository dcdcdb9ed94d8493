package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

// 200 nodes join through one contact at once over links whose messages
// take 250 ms to 1 s each way, as in one process starved of CPU (the
// bench's 1,000 QUIC nodes on two cores): an answer often comes after
// HyParView's 500 ms Neighbor timeout. The timeouts back off (hyparview
// doc.go, deviation 6), so after two minutes every node has a neighbour
// and the requests have timed out about a thousand times; with fixed
// timeouts 7 nodes were alone and 127,111 requests had timed out.
func TestSlowLinksLeaveNoJoinerAlone(t *testing.T) {
	const n = 200
	cfg := gossip.ProductionConfig(nil)
	cfg.Members = nil
	s, err := New(Config{Seed: 3, Engine: cfg, Network: NetworkConfig{DetectOnSend: true,
		Latency: Latency{Min: 250 * time.Millisecond, Max: time.Second, PerMessage: true}}})
	require.NoError(t, err)
	for range n {
		_, err := s.AddNode()
		require.NoError(t, err)
	}
	s.Join(0)
	for i := 1; i < n; i++ {
		s.Join(i, 0)
	}
	require.NoError(t, s.Run(2*time.Minute))
	var timeouts uint64
	for i := range n {
		require.NotEmpty(t, s.Engine(i).AppendActive(nil), "node %d has no neighbour", i)
		timeouts += s.Engine(i).Counters().HyParView.NeighborRequestsTimedOut
	}
	require.Less(t, timeouts, uint64(10_000))
}
