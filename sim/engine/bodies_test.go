package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

// The nodes of a simulation with the member list share the bodies of the
// records they hold (bodies.go): once every node lists every node, there is
// about one body per member, not one per member and node, and the lists
// agree with the nodes' own records.
func TestNodesShareTheirRecordsBodies(t *testing.T) {
	const n = 60
	cfg := gossip.ProductionConfig(nil)
	s, err := New(Config{Seed: 3, Engine: cfg, CheckInvariants: true, Addresses: true,
		Network: NetworkConfig{DetectOnSend: true}})
	require.NoError(t, err)
	require.Nil(t, cfg.Members.Roster.Bodies, "the caller's configuration is left alone")
	joinThroughFirst(t, s, n, func() error { return s.Run(s.Now() + 5*time.Millisecond) })
	require.NoError(t, s.Run(s.Now()+20*time.Second))
	held := 0
	for i := range n {
		require.Equal(t, n, s.Engine(i).MemberCounts().Alive, "node %d lists every node", i)
		held += n
		own := s.Engine(i).Self()
		for j := range n {
			rec, ok := s.Engine(j).Member(own.ID)
			require.True(t, ok)
			require.Equal(t, own.Addr, rec.Addr)
		}
	}
	bodies := s.cfg.Engine.Members.Roster.Bodies.(*sharedBodies).len()
	t.Logf("%d bodies for %d records held", bodies, held)
	require.LessOrEqual(t, bodies, 3*n, "a few bodies a member (a neighbour's link, its own record), not one a node")
}
