package scenario

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// checkCyclonViews asserts the view invariants of the baseline: bounded,
// no self, no duplicate.
func checkCyclonViews(t *testing.T, c *cyclonNet) {
	t.Helper()
	for n, view := range c.views {
		require.LessOrEqual(t, len(view), cyclonViewSize, "node %d", n)
		seen := map[int32]bool{}
		for _, e := range view {
			require.NotEqual(t, int32(n), e.id, "node %d holds itself", n)
			require.False(t, seen[e.id], "node %d holds %d twice", n, e.id)
			seen[e.id] = true
		}
	}
}

// Joins fill the views, shuffles keep them valid, and gossip to 4 random
// entries reaches almost every node without failures.
func TestCyclonOverlay(t *testing.T) {
	c := newCyclonNet(1000, 1)
	checkCyclonViews(t, c)
	for i := 0; i < 20; i++ {
		c.cycle()
	}
	checkCyclonViews(t, c)
	full := 0
	for _, v := range c.views {
		if len(v) == cyclonViewSize {
			full++
		}
	}
	require.Greater(t, full, 900, "most views should be full after the joins and shuffles")
	require.Greater(t, mean(c.broadcasts(20)), 0.95)
}

// Shuffles forget failed nodes over the cycles: the share of dead entries
// falls.
func TestCyclonForgetsFailedNodes(t *testing.T) {
	c := newCyclonNet(1000, 2)
	for i := 0; i < 10; i++ {
		c.cycle()
	}
	c.crashFraction(0.5)
	dead := func() int {
		k := 0
		for n, v := range c.views {
			if !c.alive[n] {
				continue
			}
			for _, e := range v {
				if !c.alive[e.id] {
					k++
				}
			}
		}
		return k
	}
	start := dead()
	for i := 0; i < 40; i++ {
		c.cycle()
	}
	checkCyclonViews(t, c)
	require.Less(t, dead(), start/2, "dead entries %d of %d remain after 40 cycles", dead(), start)
}

// The baseline is what makes the HyParView table meaningful: after half the
// nodes fail, HyParView (reactive repair) delivers to more nodes than
// Cyclon (no failure detector) and heals in fewer cycles; a clone runs as
// the original.
func TestHyParViewBeatsCyclonAfterFailure(t *testing.T) {
	o := PaperFailureOptions(1000)
	o.Seed, o.Cycles, o.Rates, o.Messages, o.MaxHealingCycles = 4, 20, []float64{0.5}, 50, 60
	hv, err := RunFailure(o)
	require.NoError(t, err)
	cy, err := RunCyclonFailure(o)
	require.NoError(t, err)
	require.Greater(t, hv[0].Mean, cy[0].Mean)
	require.GreaterOrEqual(t, hv[0].HealingCycles, 0)
	require.True(t, cy[0].HealingCycles < 0 || cy[0].HealingCycles > hv[0].HealingCycles,
		"Cyclon healed in %d cycles, HyParView in %d", cy[0].HealingCycles, hv[0].HealingCycles)

	again, err := RunCyclonFailure(o)
	require.NoError(t, err)
	require.Equal(t, cy, again, "the same seed gives the same baseline")
}
