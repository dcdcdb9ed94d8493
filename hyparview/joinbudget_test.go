package hyparview

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// TestJoinBurstOnOneNodeInNetwork is the attack of doc.go, deviation 12, on
// the in-memory network: 30 nodes form an overlay through node 1, then 20
// fresh identities send JOIN to node 2 within one shuffle period (no timer
// fires while the burst is delivered). With a budget of 1, node 2 keeps at
// least half of its honest neighbours, including the drops that join walks
// ending back at node 2 would cause; and every newcomer still gets a
// neighbour through the walks, right after the burst or, at the latest,
// once it rejoins on its shuffle ticks (deviation 7), with the overlay in
// one piece. With no budget (S1), the same burst costs node 2 most of its
// honest neighbours on some seeds: checked, so the test shows the attack.
func TestJoinBurstOnOneNodeInNetwork(t *testing.T) {
	const honestNodes, fresh, target = 30, 20, peer.ID(2)
	worstPaper := ActiveViewSize5()
	for seed := range uint64(8) {
		for _, budget := range []int{0, 1} {
			net := newTestNet(honestNodes+fresh, Config{JoinEvictionsPerShuffle: budget}, seed)
			net.step(1, Input{Kind: InputJoin})
			for i := 2; i <= honestNodes; i++ {
				net.step(peer.ID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
				require.NoError(t, net.drain(1_000_000))
			}
			shuffleRounds(t, net, 10)
			require.NoError(t, net.drain(1_000_000))
			honest := net.node(target).st.Active()
			require.Len(t, honest, 5, "seed %d: the target's view is full before the burst", seed)

			for i := range fresh {
				id := peer.ID(honestNodes + 1 + i)
				net.step(id, Input{Kind: InputJoin, Contacts: []Peer{net.peer(target)}})
			}
			require.NoError(t, net.drain(1_000_000))
			kept := 0
			for _, p := range honest {
				if net.node(target).st.IsActive(p.ID) {
					kept++
				}
			}
			c := net.node(target).st.Counters()
			if budget == 0 {
				worstPaper = min(worstPaper, kept)
				continue
			}
			require.GreaterOrEqual(t, 2*kept, len(honest), "seed %d: kept %d of %v, now %v",
				seed, kept, ids(honest), activeIDs(net.node(target).st))
			require.NotZero(t, c.JoinsRefused, "seed %d", seed)
			require.LessOrEqual(t, c.JoinsAccepted, uint64(budget), "seed %d", seed)

			lonely := 0
			for i := range fresh {
				if net.node(peer.ID(honestNodes+1+i)).st.ActiveLen() == 0 {
					lonely++
				}
			}
			t.Logf("seed %d: kept %d/%d honest; %d joins refused, %d walk ends refused; %d newcomers without a neighbour right after the burst",
				seed, kept, len(honest), c.JoinsRefused, c.ForwardJoinsRefused, lonely)

			shuffleRounds(t, net, 5)
			require.NoError(t, net.drain(1_000_000))
			require.NoError(t, net.firstError())
			require.NoError(t, net.checkSettled())
			for _, nd := range net.nodes {
				require.NotZero(t, nd.st.ActiveLen(), "seed %d: node %d has no neighbour", seed, nd.id)
			}
			require.Len(t, net.components(), 1, "seed %d: islands %v", seed, net.components())
		}
	}
	require.Less(t, 2*worstPaper, 5, "without a budget (S1) some burst evicts most honest neighbours")
}

// ActiveViewSize5 is the paper's active view size (S1 §5.1).
func ActiveViewSize5() int { return 5 }
