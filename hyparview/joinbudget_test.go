package hyparview

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// TestJoinBurstOnOneNodeInNetwork is the attack of doc.go, deviation 12, on
// the in-memory network: 30 nodes form an overlay through node 1, then 20
// fresh identities send JOIN to node 2 within one shuffle period (no timer
// fires while the burst is delivered). With a budget of 1, node 2 keeps at
// least half of its honest neighbours: its own drops for the joiners spend
// the budget once and then displace the joiners' young links, its
// neighbours never drop it where the walks it started end, and once its
// budget is spent the high-priority requests of joiners left isolated
// displace young links first. Every newcomer still gets a neighbour through the walks, right
// after the burst or, at the latest, once it joins again on its shuffle
// ticks, with the overlay in one piece. With no budget (S1), the same burst
// costs node 2 most of its honest neighbours on some seeds: checked, so the
// test shows the attack.
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
			before := net.node(target).st.Counters()

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
			if budget == 0 {
				worstPaper = min(worstPaper, kept)
				continue
			}
			require.GreaterOrEqual(t, 2*kept, len(honest), "seed %d: kept %d of %v, now %v",
				seed, kept, ids(honest), activeIDs(net.node(target).st))
			c := net.node(target).st.Counters()
			require.LessOrEqual(t, c.JoinEvictions-before.JoinEvictions, uint64(budget), "seed %d", seed)

			lonely := 0
			for i := range fresh {
				if net.node(peer.ID(honestNodes+1+i)).st.ActiveLen() == 0 {
					lonely++
				}
			}
			t.Logf("seed %d: kept %d/%d honest; %d joins accepted, %d refused; %d newcomers without a neighbour right after the burst",
				seed, kept, len(honest), c.JoinsAccepted-before.JoinsAccepted, c.JoinsRefused-before.JoinsRefused, lonely)

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

// TestHonestJoinBurstThroughOneContact is the honest side of doc.go,
// deviation 12: 1,000 nodes join through node 1 within one shuffle period
// (every Join is sent before any message is delivered, and no timer fires
// until the network is quiet). With a budget of 1 every node has a
// neighbour and the overlay is one connected component within
// max(2·r, 1) shuffle periods after the burst, r being what the same burst
// takes without a budget (S1). Measured: 0 periods with and without the
// budget at the default sizes (the burst leaves no node isolated), 1 with
// the view sizes of ConfigForClusterSize(1000) (one node isolated until
// its shuffle tick), against 0 for S1.
func TestHonestJoinBurstThroughOneContact(t *testing.T) {
	const n = 1000
	for _, tc := range []struct {
		name string
		cfg  Config
		seed uint64
	}{
		{"default sizes, seed 0", Config{}, 0},
		{"default sizes, seed 1", Config{}, 1},
		{"ConfigForClusterSize(1000), seed 1", ConfigForClusterSize(n), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			paper := burstRounds(t, 1, n, tc.cfg, tc.seed)
			cfg := tc.cfg
			cfg.JoinEvictionsPerShuffle = 1
			budget := burstRounds(t, 1, n, cfg, tc.seed)
			t.Logf("connected %d shuffle periods after the burst with a budget of 1, %d without", budget, paper)
			require.LessOrEqual(t, budget, max(2*paper, 1))
		})
	}
}

// TestHonestJoinBurstIntoSettledCluster: 200 nodes join through node 1 one
// at a time and settle for 10 shuffle periods, then 300 more join through
// node 1 within one shuffle period. Without a budget (S1) the overlay is in
// one piece right after the burst, but node 1 has lost every established
// neighbour (measured on seeds 0 to 7). With a budget of 1 node 1 keeps at
// least half (burstRounds checks it), and the established nodes along the
// walks drop at most one established neighbour each per period, so a few
// joiners are displaced from every link they got: they join again on their
// next shuffle tick, and the overlay is in one piece within 3 periods.
// Measured on seeds 0 to 7: 2 to 5 joiners isolated right after the burst,
// one component after 1 or 2 periods, node 1 keeping 4 of its 5
// established neighbours on every seed.
func TestHonestJoinBurstIntoSettledCluster(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			rounds := burstRounds(t, 200, 500, Config{JoinEvictionsPerShuffle: 1}, seed)
			require.LessOrEqual(t, rounds, 3)
		})
	}
}

// maxBurstRounds bounds burstRounds' wait.
const maxBurstRounds = 10

// burstRounds builds a network of n nodes: nodes 2 to settled join through
// node 1 one at a time and the overlay settles for 10 shuffle periods (none
// if settled is 1); then the others send Join to node 1 at once, and the
// network is drained without firing a timer. It returns how many shuffle
// periods after the burst pass until every node has a neighbour and the
// overlay is one connected component (0: right after the burst), failing
// the test past maxBurstRounds. With a settled overlay it also checks that
// node 1 kept at least half of its neighbours when the budget is on.
func burstRounds(t *testing.T, settled, n int, cfg Config, seed uint64) int {
	t.Helper()
	net := newTestNet(n, cfg, seed)
	net.step(1, Input{Kind: InputJoin})
	for i := 2; i <= settled; i++ {
		net.step(peer.ID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
		require.NoError(t, net.drain(10_000_000))
	}
	var established []Peer
	if settled > 1 {
		shuffleRounds(t, net, 10)
		established = net.node(1).st.Active()
	}
	for i := settled + 1; i <= n; i++ {
		net.step(peer.ID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
	}
	require.NoError(t, net.drain(100_000_000))
	kept := 0
	for _, p := range established {
		if net.node(1).st.IsActive(p.ID) {
			kept++
		}
	}
	isolated := func() int {
		k := 0
		for _, nd := range net.nodes {
			if nd.st.ActiveLen() == 0 {
				k++
			}
		}
		return k
	}
	t.Logf("budget %d: %d isolated right after the burst; node 1 kept %d of %d established neighbours",
		cfg.JoinEvictionsPerShuffle, isolated(), kept, len(established))
	if cfg.JoinEvictionsPerShuffle > 0 {
		require.GreaterOrEqual(t, 2*kept, len(established))
	}
	for r := 0; ; r++ {
		if isolated() == 0 && len(net.components()) == 1 {
			require.NoError(t, net.firstError())
			return r
		}
		require.Less(t, r, maxBurstRounds, "isolated %d, components %d", isolated(), len(net.components()))
		shuffleRounds(t, net, 1)
	}
}
