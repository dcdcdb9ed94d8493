package membership

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/transport"
)

// TestReachabilityLearned: a public seed (checking nothing), a node
// behind a NAT (MemConfig.BehindNAT: every dial to it fails) and a public
// node, both checking their reachability (Config.CheckReachability),
// on a MemNetwork in a synctest bubble. The node behind the NAT learns
// that it cannot be dialled and names a rendezvous that can be in its
// signed record; the public node learns that it can, and its record says
// nothing against dialling it; every node holds both records. The dial
// back is a fresh connection that leaves the link between the two ends
// alone: nobody is shown suspect, no neighbour link ends for it.
func TestReachabilityLearned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		overlay := transport.NewMemNetwork(1)
		var mu sync.Mutex
		requests := 0
		overlay.SetHook(func(from, to string, frame []byte) bool {
			if len(frame) > 1 && frame[1] == gossip.TagReachRequest {
				mu.Lock()
				requests++
				mu.Unlock()
			}
			return true
		})
		var nodes []*Node
		for i, name := range []string{"seed", "natted", "public"} {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			tr, err := overlay.Listen(name, id, transport.MemConfig{BehindNAT: name == "natted"})
			require.NoError(t, err)
			cfg := testConfig(tr, uint64(i+1))
			cfg.CheckReachability = name != "seed"
			nd, err := New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = nd.Close() })
			nodes = append(nodes, nd)
		}
		seed, natted, public := nodes[0], nodes[1], nodes[2]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, seed.Join(ctx))
		require.NoError(t, natted.Join(ctx, seed.Addr()))
		require.NoError(t, public.Join(ctx, seed.Addr()))

		record := func(at, of *Node) (Member, bool) {
			for _, m := range at.Members() {
				if m.ID == of.ID() {
					return m, true
				}
			}
			return Member{}, false
		}
		waitFor(t, 30*time.Second, "both nodes checked, and every node holds their records as found", func() bool {
			if !natted.Reachability().Checked || !public.Reachability().Checked {
				return false
			}
			for _, at := range nodes {
				n, ok1 := record(at, natted)
				p, ok2 := record(at, public)
				if !ok1 || !ok2 || !n.Unreachable || n.Rendezvous == 0 || p.Unreachable || p.Rendezvous != 0 {
					return false
				}
			}
			return true
		})
		nr, pr := natted.Reachability(), public.Reachability()
		require.False(t, nr.Reachable)
		require.True(t, pr.Reachable)
		require.Zero(t, seed.Reachability(), "the seed checks nothing")
		n, _ := record(seed, natted)
		require.NotEqual(t, natted.ID(), n.Rendezvous)
		require.Contains(t, []uint64{seed.ID(), public.ID()}, n.Rendezvous, "a rendezvous that can be dialled")

		// One check each, no more while nothing changes, but for one retry
		// per refusal (the neighbour asked had not yet got the record it
		// dials from: gossip/reach.go); every node alive.
		time.Sleep(30 * time.Second)
		asked := 0
		for _, nd := range []*Node{natted, public} {
			c := nd.Counters().Engine
			require.Equal(t, 1+c.ReachResults[gossip.ReachRefused], c.ReachAsked, "one check while nothing changes, and a retry per refusal")
			asked += int(c.ReachAsked)
		}
		mu.Lock()
		require.Equal(t, asked, requests, "one request crossed the network per check")
		mu.Unlock()
		for _, at := range nodes {
			for _, m := range at.Members() {
				require.Equal(t, StateAlive, m.State, "%x sees %x", at.ID(), m.ID)
			}
		}
		// The public node's dialler kept its link: the dial back was set
		// aside, not adopted.
		dialler := pr.By
		require.NotZero(t, dialler)
		var by *Node
		for _, nd := range nodes {
			if nd.ID() == dialler {
				by = nd
			}
		}
		require.NotNil(t, by)
		active, _ := public.Views()
		require.Contains(t, active, dialler, "still linked to the node that dialled it back")
		active, _ = by.Views()
		require.Contains(t, active, public.ID())
		var dialBacks uint64
		for _, nd := range nodes {
			dialBacks += nd.Counters().Engine.ReachDialBacks
		}
		require.Equal(t, uint64(2), dialBacks, "one dial back for each check")
		for _, nd := range nodes {
			c := nd.Counters().HyParView
			require.Zero(t, c.ConnectionsClosedByPeer+c.ConnectionFailures, "no link of %x ended", nd.ID())
		}
	})
}
