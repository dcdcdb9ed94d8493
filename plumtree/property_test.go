package plumtree

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/peer"
)

// randomGraph returns the edges of a random connected symmetric graph on
// nodes 1..n: a random spanning tree plus extra random edges, no node above
// maxDegree through the extra edges.
func randomGraph(rng *rand.Rand, n, extra, maxDegree int) [][2]peer.ID {
	deg := make([]int, n+1)
	has := map[[2]peer.ID]bool{}
	var edges [][2]peer.ID
	add := func(a, b int) {
		if a > b {
			a, b = b, a
		}
		e := [2]peer.ID{peer.ID(a), peer.ID(b)}
		if a == b || has[e] {
			return
		}
		has[e] = true
		deg[a]++
		deg[b]++
		edges = append(edges, e)
	}
	for i := 2; i <= n; i++ {
		add(i, 1+rng.IntN(i-1))
	}
	for k := 0; k < extra; k++ {
		a, b := 1+rng.IntN(n), 1+rng.IntN(n)
		if deg[a] < maxDegree && deg[b] < maxDegree {
			add(a, b)
		}
	}
	rng.Shuffle(len(edges), func(i, j int) { edges[i], edges[j] = edges[j], edges[i] })
	return edges
}

// connected reports whether the live nodes of c form one component.
func connected(c *cluster, down map[peer.ID]bool) bool {
	var live []peer.ID
	for _, id := range c.ids {
		if !down[id] {
			live = append(live, id)
		}
	}
	if len(live) == 0 {
		return true
	}
	seen := map[peer.ID]bool{live[0]: true}
	stack := []peer.ID{live[0]}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, y := range c.adj[x] {
			if !down[y] && !seen[y] {
				seen[y] = true
				stack = append(stack, y)
			}
		}
	}
	return len(seen) == len(live)
}

func genConfig(rt *rapid.T) Config {
	return Config{
		LazyPushDelay:         rapid.SampledFrom([]time.Duration{-1, 0, time.Millisecond, 20 * time.Millisecond}).Draw(rt, "lazyDelay"),
		MaxIHaveEntries:       rapid.SampledFrom([]int{1, 3, 64}).Draw(rt, "maxIHave"),
		OptimizationThreshold: rapid.SampledFrom([]int{1, 3, 7}).Draw(rt, "threshold"),
		DisableOptimization:   rapid.Bool().Draw(rt, "noOpt"),
		MinGraftTimeout:       rapid.SampledFrom([]time.Duration{0, time.Millisecond, 20 * time.Millisecond}).Draw(rt, "minTimeout1"),
		CalmPayloadRetention:  rapid.SampledFrom([]time.Duration{0, time.Second}).Draw(rt, "calmRetention"),
	}
}

// newRandomCluster builds a cluster of 10–40 nodes on a random graph with
// random per-message latencies of 1–10ms (FIFO per pair).
func newRandomCluster(rt *rapid.T, cfg Config) (*cluster, *rand.Rand) {
	n := rapid.IntRange(10, 40).Draw(rt, "n")
	seed := rapid.Uint64().Draw(rt, "seed")
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	c := newCluster(cfg, n, rt.Fatalf)
	for _, e := range randomGraph(rng, n, n, 6) {
		c.link(e[0], e[1])
	}
	c.latency = func(peer.ID, peer.ID) time.Duration {
		return time.Millisecond + time.Duration(rng.Int64N(int64(9*time.Millisecond)))
	}
	return c, rng
}

// With no failures, every broadcast, from any node, concurrent with others,
// is delivered exactly once by every node; invariants hold after every step
// (the cluster checks both as it goes).
func TestPropertyNoFailureDeliversExactlyOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c, rng := newRandomCluster(rt, genConfig(rt))
		var ids []MessageID
		rounds := rapid.IntRange(1, 8).Draw(rt, "broadcasts")
		for r := 0; r < rounds; r++ {
			// Let a random part of the traffic in flight happen first.
			for k := rng.IntN(60); k > 0 && c.next(); k-- {
			}
			from := c.ids[rng.IntN(len(c.ids))]
			ids = append(ids, c.broadcast(from, fmt.Appendf(nil, "m%d", r)))
		}
		c.run(1_000_000)
		for _, id := range ids {
			c.checkDeliveredByAll(id)
		}
	})
}

// After a few broadcasts from one sender with no failures, the eager links
// form a tree: each later broadcast sends exactly one payload per receiver,
// RMR = m/(n−1) − 1 = 0 (S2 §2.3). IHAVEs go out at once (LazyPushDelay <
// 0) and timeout1 is far above any path's latency, so no GRAFT fires for a
// payload merely slow on the tree (fixed: an adaptive timeout1 with a floor
// under the paths' latencies grafts such payloads until it has measured
// them, deviation 15).
func TestPropertyTreeHasZeroRMR(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := genConfig(rt)
		cfg.LazyPushDelay = -1
		cfg.GraftTimeout1 = 10 * time.Second
		cfg.MinGraftTimeout = 0
		c, rng := newRandomCluster(rt, cfg)
		root := c.ids[rng.IntN(len(c.ids))]
		for i := 0; i < 3; i++ {
			id := c.broadcast(root, []byte("warm-up"))
			c.run(1_000_000)
			c.checkDeliveredByAll(id)
		}
		for i := 0; i < 3; i++ {
			id := c.broadcast(root, []byte("measured"))
			c.run(1_000_000)
			c.checkDeliveredByAll(id)
			if m, n := c.payloads[id], len(c.ids); m != n-1 {
				rt.Fatalf("broadcast %d: %d payload messages for %d nodes, RMR %.2f", i, m, n, float64(m)/float64(n-1)-1)
			}
		}
	})
}

// After random node failures that leave the live graph connected, with
// NeighborDown given to the failed nodes' neighbours, every live node
// delivers every later broadcast exactly once: the tree heals by GRAFT.
// Failures strike while earlier broadcasts are still in flight.
func TestPropertyRepairAfterFailures(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c, rng := newRandomCluster(rt, genConfig(rt))
		for i := 0; i < 2; i++ {
			c.broadcast(c.ids[rng.IntN(len(c.ids))], []byte("warm-up"))
			c.run(1_000_000)
		}
		c.broadcast(c.ids[rng.IntN(len(c.ids))], []byte("in flight"))
		for k := rng.IntN(30); k > 0 && c.next(); k-- {
		}
		failures := rapid.IntRange(1, len(c.ids)/3).Draw(rt, "failures")
		for attempt := 0; attempt < 50 && failures > 0; attempt++ {
			x := c.ids[rng.IntN(len(c.ids))]
			if c.down[x] {
				continue
			}
			trial := map[peer.ID]bool{x: true}
			for id := range c.down {
				trial[id] = true
			}
			if connected(c, trial) {
				c.fail(x)
				failures--
			}
		}
		c.run(1_000_000)
		live := c.live()
		var ids []MessageID
		for i := 0; i < 3; i++ {
			ids = append(ids, c.broadcast(live[rng.IntN(len(live))], fmt.Appendf(nil, "after %d", i)))
		}
		c.run(1_000_000)
		for _, id := range ids {
			c.checkDeliveredByAll(id)
		}
	})
}

// A hostile neighbour flooding IHAVEs (and payloads) never grows the core's
// memory beyond its caps, whatever the mix of IDs, timers and neighbour
// changes.
func TestPropertyFloodStaysWithinCaps(t *testing.T) {
	cfg := Config{
		LazyPushDelay: time.Millisecond, MaxIHaveEntries: 16, MaxMissing: 40,
		MaxSeenIDs: 60, MaxCachedPayloads: 30, MaxCachedBytes: 200, MaxPayloadBytes: 20,
		CalmPayloadRetention: time.Second,
	}
	rapid.Check(t, func(rt *rapid.T) {
		s := newNode(rt, 1, cfg, 2, 3, 4)
		makeLazy(rt, s, 4)
		now := time.Duration(0)
		space := rapid.SampledFrom([]uint64{8, 1000, 1 << 40}).Draw(rt, "idSpace")
		id := rapid.Custom(func(rt *rapid.T) MessageID { return mid(rapid.Uint64Range(0, space).Draw(rt, "id")) })
		var timers []Timer
		steps := rapid.IntRange(1, 300).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			var in Input
			switch rapid.IntRange(0, 6).Draw(rt, "action") {
			case 0, 1:
				entries := rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) Announcement {
					return Announcement{ID: id.Draw(rt, "ann"), Round: rapid.Uint32().Draw(rt, "round")}
				}), 1, cfg.MaxIHaveEntries).Draw(rt, "entries")
				in = recv(peer.ID(rapid.IntRange(2, 5).Draw(rt, "from")), &IHave{Entries: entries})
			case 2:
				in = recv(peer.ID(rapid.IntRange(2, 5).Draw(rt, "from")), &Gossip{ID: id.Draw(rt, "gossip"), Payload: make([]byte, rapid.IntRange(0, 20).Draw(rt, "size"))})
			case 3:
				now += time.Duration(rapid.Int64Range(0, int64(2*time.Second)).Draw(rt, "advance"))
				if len(timers) > 0 {
					k := rapid.IntRange(0, len(timers)-1).Draw(rt, "timer")
					in = Input{Kind: InputTimer, Timer: timers[k]}
					timers = append(timers[:k], timers[k+1:]...)
				} else {
					in = Input{Kind: InputTimer, Timer: Timer{Kind: TimerDispatch}}
				}
			case 4:
				in = Input{Kind: InputNeighborDown, Peer: peer.ID(rapid.IntRange(2, 5).Draw(rt, "down"))}
			case 5:
				in = Input{Kind: InputNeighborUp, Peer: peer.ID(rapid.IntRange(2, 5).Draw(rt, "up"))}
			case 6:
				in = Input{Kind: InputHoldPayloads}
			}
			out := step(rt, s, at(now), in)
			for _, o := range out {
				if o.Kind == OutputSetTimer && len(timers) < 1000 {
					timers = append(timers, o.Timer)
				}
			}
			checkCaps(rt, s)
		}
	})
}

// checkCaps requires the core's structures, capacities included, to be
// within the configured caps.
func checkCaps(t require.TestingT, s *State) {
	c := s.cfg
	z := s.Sizes()
	require.LessOrEqual(t, z.Missing, c.MaxMissing)
	require.LessOrEqual(t, len(s.missing.slab), c.MaxMissing)
	require.LessOrEqual(t, len(s.missing.free), c.MaxMissing)
	require.LessOrEqual(t, len(s.missing.index), c.MaxMissing)
	require.LessOrEqual(t, z.SeenIDs, c.MaxSeenIDs)
	require.LessOrEqual(t, s.hist.index.len(), c.MaxSeenIDs)
	require.LessOrEqual(t, len(s.hist.index.slots), max(16, 4*c.MaxSeenIDs))
	require.LessOrEqual(t, len(s.hist.items.buf), c.MaxSeenIDs)
	require.LessOrEqual(t, z.CachedPayloads, c.MaxCachedPayloads)
	require.LessOrEqual(t, z.CachedBytes, c.MaxCachedBytes)
	for _, p := range s.peers.byIndex {
		require.LessOrEqual(t, cap(p.queue), 2*c.MaxIHaveEntries)
	}
}

// A long IHAVE flood of fresh IDs from one neighbour, with no timer ever
// firing, stays within MaxMissing and allocates nothing once warm.
func TestFloodOfFreshIHavesIsBounded(t *testing.T) {
	cfg := Config{MaxMissing: 100}
	s := newNode(t, 1, cfg, 2)
	var out []Output
	var err error
	seq := uint64(0)
	flood := func() {
		entries := make([]Announcement, 64)
		for i := range entries {
			seq++
			entries[i] = Announcement{ID: mid(seq)}
		}
		out, err = s.Step(at(0), recv(2, &IHave{Entries: entries}), out[:0])
	}
	for i := 0; i < 1000; i++ {
		flood()
		require.NoError(t, err)
	}
	require.NoError(t, s.Invariants())
	checkCaps(t, s)
	require.Equal(t, 100, s.Sizes().MissingIDs)
	require.Equal(t, uint64(64_000-100), s.Counters().MissingEvicted)
}

// The same inputs give the same outputs: two runs of a random scenario with
// the same seed produce byte-identical traces.
func TestDeterminism(t *testing.T) {
	runOnce := func(seed uint64) string {
		var trace strings.Builder
		rng := rand.New(rand.NewPCG(seed, 1))
		c := newCluster(Config{OptimizationThreshold: 2}, 25, t.Fatalf)
		c.trace = &trace
		for _, e := range randomGraph(rng, 25, 30, 6) {
			c.link(e[0], e[1])
		}
		c.latency = func(peer.ID, peer.ID) time.Duration { return time.Duration(1 + rng.IntN(5_000_000)) }
		for i := 0; i < 10; i++ {
			c.broadcast(c.ids[rng.IntN(25)], fmt.Appendf(nil, "%d", i))
			for k := rng.IntN(40); k > 0 && c.next(); k-- {
			}
			if i == 5 {
				c.fail(c.ids[rng.IntN(25)])
			}
		}
		c.run(1_000_000)
		for _, id := range c.ids {
			fmt.Fprintf(&trace, "%d %+v\n", id, c.nodes[id].Counters())
		}
		return trace.String() + c.views()
	}
	a, b := runOnce(42), runOnce(42)
	require.Greater(t, len(a), 10_000)
	require.Equal(t, a, b)
	require.NotEqual(t, a, runOnce(43))
}
