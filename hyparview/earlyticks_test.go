package hyparview

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// TestEarlyTicksThenPeriods: a node's first earlyTicks shuffle timers
// after InputJoin come at a tenth of ShuffleInterval (±10 % jitter), the
// next at the rest of the first period, so that the second period starts
// about one interval after the join, and the ones after every interval
// (doc.go, deviation 14). Early ticks shuffle and repair as any tick, but
// start no period: the join eviction budget refills, the refusals are
// forgotten, the backoff relaxes, the contacts may be tried again and the
// links' young marks are cleared only at the ticks that do.
func TestEarlyTicksThenPeriods(t *testing.T) {
	interval := DefaultConfig().ShuffleInterval
	early := interval / earlyTickDivisor
	for seed := range uint64(20) {
		// Three neighbours of five (not starved), a passive peer that
		// refused us and one that did not.
		s := withPassive(withActive(newState(t, 1, Config{WithoutRefresh: true, JoinEvictionsPerShuffle: 1}, seed), 2, 3, 4), 10, 11)
		out := step(t, s, Input{Kind: InputJoin})
		s.rejected = append(s.rejected, 10)
		s.joinEvictions, s.backoff, s.joinTries = 0, 2, 1
		s.active[0].young = true
		fired := time.Duration(0)
		for i := range earlyTicks + 3 {
			timers := timersOf(out, TimerShuffle)
			require.Len(t, timers, 1, "tick %d", i)
			want := interval
			switch {
			case i < earlyTicks:
				want = early
			case i == earlyTicks:
				want = interval - earlyTicks*early
			}
			require.InDelta(t, float64(want), float64(timers[0].After), float64(want)/10+1, "seed %d, timer %d", seed, i)
			fired += timers[0].After
			out = step(t, s, timerInput(timers[0].Timer))
			require.Equal(t, uint64(max(0, i-earlyTicks+1)), s.periods, "seed %d: periods started after tick %d", seed, i)
			require.Len(t, sends[*Shuffle](out), 1, "seed %d: tick %d shuffles", seed, i)
			asked := sends[*Neighbor](out)
			if i < earlyTicks {
				require.Zero(t, s.joinEvictions, "seed %d: early tick %d refills no budget", seed, i)
				require.Equal(t, uint8(2), s.backoff, "seed %d: early tick %d relaxes no backoff", seed, i)
				require.Equal(t, 1, s.joinTries, "seed %d: early tick %d keeps the contacts tried", seed, i)
				require.True(t, s.active[0].young, "seed %d: early tick %d keeps the young mark", seed, i)
				require.NotContains(t, asked, peer.ID(10), "seed %d: early tick %d still remembers the refusal", seed, i)
				if i == 0 {
					require.Contains(t, asked, peer.ID(11), "seed %d: the first early tick repairs", seed)
				}
				continue
			}
			if i == earlyTicks {
				require.InDelta(t, float64(interval), float64(fired), float64(interval)/5, "the first period ends about one interval after the join")
				require.Equal(t, 1, s.joinEvictions, "seed %d: the period's start refills the budget", seed)
				require.Equal(t, uint8(1), s.backoff, "seed %d: the period's start relaxes the backoff", seed)
				require.Zero(t, s.joinTries, "seed %d: the period's start lets the contacts be tried again", seed)
				require.False(t, s.active[0].young, "seed %d: the period's start clears the young marks", seed)
				require.Contains(t, asked, peer.ID(10), "seed %d: the refusal forgotten, the passive peer asked", seed)
			}
		}
	}
}

// TestEarlyTicksHealJoinIslands: 64 nodes join through node 1 in a burst
// that lets only three messages through between two joins, so that early
// joiners can fill their views among themselves. On seeds 0 to 99 the
// burst closes an island in a few runs (three when this was written),
// which with S1's single period stays closed until the first tick, about
// 10 s after the joins; with the early ticks every run is one component
// 6 s after the burst (doc.go, deviation 14).
func TestEarlyTicksHealJoinIslands(t *testing.T) {
	const nodes, between, seeds = 64, 3, 100
	splitAfter := func(cfg Config, seed uint64) bool {
		net := newTestNet(nodes, cfg, seed)
		net.step(1, Input{Kind: InputJoin})
		for i := 2; i <= nodes; i++ {
			net.step(peer.ID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
			for range between {
				net.deliverOne()
			}
		}
		require.NoError(t, net.runFor(6*time.Second))
		require.NoError(t, net.firstError())
		return len(net.components()) > 1
	}
	cfg := Config{JoinEvictionsPerShuffle: 1}
	late := cfg
	late.WithoutEarlyTicks = true
	islands := 0
	for seed := range uint64(seeds) {
		require.False(t, splitAfter(cfg, seed), "seed %d: still split 6 s after the burst", seed)
		if splitAfter(late, seed) {
			islands++
		}
	}
	require.NotZero(t, islands, "no burst closed an island without early ticks: the test shows nothing")
}

// timersOf returns the timers of kind that out sets.
func timersOf(out []Output, kind TimerKind) []Output {
	var ts []Output
	for _, o := range out {
		if o.Kind == OutputSetTimer && o.Timer.Kind == kind {
			ts = append(ts, o)
		}
	}
	return ts
}
