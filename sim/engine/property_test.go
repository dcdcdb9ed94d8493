package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/plumtree"
)

// deliveryLog records which node delivered which message, and how often.
type deliveryLog map[plumtree.MessageID]map[int]int

func (l deliveryLog) record(n int, d plumtree.Delivery, _ time.Duration) {
	if l[d.ID] == nil {
		l[d.ID] = map[int]int{}
	}
	l[d.ID][n]++
}

// smallConfig is the cores' configuration for clusters of a few dozen
// nodes: views sized for the cluster, faster timers so a test covers many
// rounds.
func smallConfig(n int) membership.EngineConfig {
	cfg := membership.EngineConfig{HyParView: hyparview.ConfigForClusterSize(n)}
	// With two neighbours each, a handful of nodes can settle into two
	// full triangles that never meet: HyParView's connectivity is
	// probabilistic (PROTOCOL.md §5, pitfall 7). Three makes it rare
	// enough to assert.
	cfg.HyParView.ActiveViewSize = max(cfg.HyParView.ActiveViewSize, 3)
	cfg.HyParView.PassiveViewSize = 6 * cfg.HyParView.ActiveViewSize
	cfg.HyParView.ShuffleInterval = 2 * time.Second
	return cfg
}

// activeGraphConnected reports whether the active views of the live nodes
// form one connected graph.
func activeGraphConnected(s *Sim) bool {
	live := s.LiveNodes()
	if len(live) == 0 {
		return true
	}
	seen := map[int]bool{live[0]: true}
	stack := []int{live[0]}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range s.Engine(n).HyParView().Active() {
			j := indexOf(p.ID, s.Len())
			if j >= 0 && s.Alive(j) && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return len(seen) == len(live)
}

// liveGraphConnected reports whether the links among the nodes that stay
// alive (those not in crash) connect them all.
func liveGraphConnected(s *Sim, crash map[int]bool) bool {
	var start = -1
	for _, n := range s.LiveNodes() {
		if !crash[n] {
			start = n
			break
		}
	}
	if start < 0 {
		return true
	}
	seen := map[int]bool{start: true}
	stack := []int{start}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range s.Engine(n).HyParView().Active() {
			j := indexOf(p.ID, s.Len())
			if j >= 0 && s.Alive(j) && !crash[j] && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return len(seen) == len(s.LiveNodes())-len(crash)
}

// checkExactlyOnce asserts that every live node delivered every id once.
func checkExactlyOnce(t require.TestingT, s *Sim, log deliveryLog, ids []plumtree.MessageID) {
	for _, id := range ids {
		for _, n := range s.LiveNodes() {
			require.Equal(t, 1, log[id][n], "node %d delivered %v %d times", n, id, log[id][n])
		}
		for n, c := range log[id] {
			require.LessOrEqual(t, c, 1, "node %d delivered %v %d times", n, id, c)
		}
	}
}

// joinRandomly adds n nodes; each joins through node 0 or a random earlier
// node, and some joins arrive in bursts before the previous ones settled.
func joinRandomly(t *rapid.T, s *Sim, n int) {
	for i := 0; i < n; i++ {
		id, err := s.AddNode()
		require.NoError(t, err)
		switch {
		case id == 0:
			s.Join(id)
		case rapid.Bool().Draw(t, fmt.Sprint("through-first-", i)):
			s.Join(id, 0)
		default:
			s.Join(id, rapid.IntRange(0, id-1).Draw(t, fmt.Sprint("contact-", i)))
		}
		if rapid.IntRange(0, 3).Draw(t, fmt.Sprint("settle-", i)) == 0 {
			require.NoError(t, s.Run(s.Now()+50*time.Millisecond))
		}
	}
}

// TestPropertyNoFailuresExactlyOnce: with no failures, after the overlay
// settles, every broadcast is delivered exactly once by every node, and
// every node's invariants hold after every step.
func TestPropertyNoFailuresExactlyOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 40).Draw(t, "nodes")
		log := deliveryLog{}
		s, err := New(Config{
			Seed:            rapid.Uint64().Draw(t, "seed"),
			Engine:          smallConfig(n),
			CheckInvariants: true,
			OnDeliver:       log.record,
			Network: NetworkConfig{
				Latency:      Latency{Min: time.Millisecond, Max: time.Duration(rapid.IntRange(1, 50).Draw(t, "max-latency-ms")) * time.Millisecond},
				DetectOnSend: true,
			},
		})
		require.NoError(t, err)
		joinRandomly(t, s, n)
		require.NoError(t, s.Run(s.Now()+30*time.Second))
		require.True(t, activeGraphConnected(s), "overlay of %d nodes is not connected after settling", n)

		var ids []plumtree.MessageID
		for i := rapid.IntRange(1, 8).Draw(t, "broadcasts"); i > 0; i-- {
			id, err := s.Broadcast(rapid.IntRange(0, n-1).Draw(t, "origin"), []byte(fmt.Sprint("m", i)))
			require.NoError(t, err)
			ids = append(ids, id)
			if rapid.Bool().Draw(t, "wait") {
				require.NoError(t, s.Run(s.Now()+time.Duration(rapid.IntRange(0, 200).Draw(t, "gap-ms"))*time.Millisecond))
			}
		}
		require.NoError(t, s.Run(s.Now()+10*time.Second))
		checkExactlyOnce(t, s, log, ids)
	})
}

// TestPropertyFailuresStillDeliver: after random crashes that leave the
// survivors connected, and once the crashes are detected, every live node
// delivers every later broadcast exactly once.
func TestPropertyFailuresStillDeliver(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(6, 40).Draw(t, "nodes")
		log := deliveryLog{}
		s, err := New(Config{
			Seed:            rapid.Uint64().Draw(t, "seed"),
			Engine:          smallConfig(n),
			CheckInvariants: true,
			OnDeliver:       log.record,
			Network: NetworkConfig{
				Latency:      Latency{Min: time.Millisecond, Max: 20 * time.Millisecond},
				DetectOnSend: true,
				DetectAfter:  time.Second,
			},
		})
		require.NoError(t, err)
		joinRandomly(t, s, n)
		require.NoError(t, s.Run(s.Now()+30*time.Second))
		require.True(t, activeGraphConnected(s), "overlay of %d nodes is not connected after settling", n)

		crash := map[int]bool{}
		for i := rapid.IntRange(1, n/3).Draw(t, "crashes"); i > 0; i-- {
			c := rapid.IntRange(0, n-1).Draw(t, "crash")
			crash[c] = true
			if !liveGraphConnected(s, crash) {
				delete(crash, c) // keep the survivors connected
			}
		}
		for c := 0; c < n; c++ { // in index order: deterministic
			if crash[c] {
				s.Crash(c)
			}
		}
		var ids []plumtree.MessageID
		live := s.LiveNodes()
		for i := rapid.IntRange(1, 6).Draw(t, "broadcasts"); i > 0; i-- {
			id, err := s.Broadcast(live[rapid.IntRange(0, len(live)-1).Draw(t, "origin")], []byte(fmt.Sprint("m", i)))
			require.NoError(t, err)
			ids = append(ids, id)
			require.NoError(t, s.Run(s.Now()+time.Duration(rapid.IntRange(0, 3000).Draw(t, "gap-ms"))*time.Millisecond))
		}
		require.NoError(t, s.Run(s.Now()+20*time.Second))
		checkExactlyOnce(t, s, log, ids)
		require.True(t, activeGraphConnected(s), "survivors are not connected after repair")
		for _, l := range live {
			for _, p := range s.Engine(l).HyParView().Active() {
				require.False(t, crash[indexOf(p.ID, s.Len())], "node %d still has crashed node %d active", l, p.ID)
			}
		}
	})
}
