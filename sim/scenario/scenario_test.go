package scenario

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/sim/engine"
)

// With no failures every broadcast reaches every node, and once the tree
// has formed Plumtree sends about one payload per node (RMR near 0), while
// eager push gossip sends fanout−1 extra; invariants hold after every step.
func TestBroadcastStable1000(t *testing.T) {
	o := PaperBroadcastOptions(1000)
	o.Seed, o.Cycles, o.Stabilisation, o.Check = 3, 60, 20, true
	o.Protocols = []Protocol{Eager, Plumtree}
	o.MultipleSenders = []bool{false}
	rows, err := RunBroadcast(o)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	for _, r := range rows {
		require.Len(t, r.Samples, 40)
		for _, s := range r.Samples {
			require.Equal(t, 1.0, s.Reliability, "%s cycle %d", r.Protocol, s.Cycle)
		}
	}
	_, eagerRMR, _, _, eagerControl := rows[0].Mean()
	_, treeRMR, _, _, _ := rows[1].Mean()
	require.Greater(t, eagerRMR, 1.5, "flooding with 4 neighbours sends about 2 extra payloads per node")
	require.Zero(t, eagerControl, "flooding sends no IHAVE, GRAFT or PRUNE")
	require.Less(t, treeRMR, 0.05, "Plumtree's RMR in steady state")
}

// After half the nodes fail at once, reliability is back to its level
// before the failure (100 %) within a few cycles.
func TestFailureHalfHeals1000(t *testing.T) {
	o := PaperFailureOptions(1000)
	o.Seed, o.Cycles, o.Rates, o.Messages, o.MaxHealingCycles, o.Check = 5, 20, []float64{0.5}, 50, 10, true
	rows, err := RunFailure(o)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	require.Equal(t, 1.0, r.Before)
	require.Equal(t, 500, r.Crashed)
	require.GreaterOrEqual(t, r.HealingCycles, 0, "reliability never came back to 100%%")
	require.LessOrEqual(t, r.HealingCycles, 5)
	require.Greater(t, r.Mean, 0.5)
	require.Len(t, r.Healing, r.HealingCycles+1, "one mean per healing cycle, the healed one last")
	require.GreaterOrEqual(t, r.Healing[r.HealingCycles], r.Before)
	for _, rel := range r.Healing[:r.HealingCycles] {
		require.Less(t, rel, r.Before)
	}
	require.Equal(t, 1, r.Parts, "healed: the survivors are one overlay")
	require.Equal(t, 1.0, r.Largest)
}

// In continuous time with no loss every broadcast reaches every node, and
// latency percentiles are ordered and bounded by the overlay's diameter.
func TestContinuousNoLoss(t *testing.T) {
	o := PaperlessContinuousOptions(300)
	o.Seed, o.Settle, o.Duration, o.Drain, o.Check = 2, 180*time.Second, 5*time.Second, 10*time.Second, true
	o.Conditions = []Condition{{Name: "no loss"}, {Name: "partition", Partition: true, PartitionFor: 2 * time.Second}}
	rows, err := RunContinuous(o)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	r := rows[0]
	require.Equal(t, 1, r.Components, "the overlay must be connected before measuring")
	require.GreaterOrEqual(t, r.Connected, time.Duration(0))
	require.Equal(t, 25, r.Broadcasts)
	require.Equal(t, 1.0, r.DeliveryRatio)
	require.True(t, r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.Max)
	require.Less(t, r.Max, 3*time.Second)
	require.Greater(t, r.BytesPerDelivery, float64(payloadSize))
	require.Less(t, rows[1].DeliveryRatio, 1.0, "broadcasts during a partition cannot cross it")

	var buf bytes.Buffer
	require.NoError(t, WriteContinuousTable(&buf, o, rows))
	require.Contains(t, buf.String(), "partition")
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(5), percentile(d, 0.5))
	require.Equal(t, time.Duration(9), percentile(d, 0.9))
	require.Equal(t, time.Duration(10), percentile(d, 0.99))
	require.Zero(t, percentile(nil, 0.5))
}

// After half the nodes fail at once, Plumtree's broadcasts reach every live
// node again within a few cycles, and its RMR after healing stays far below
// eager gossip's.
func TestMassiveHalf1000(t *testing.T) {
	o := PaperMassiveOptions(1000)
	o.Seed, o.Stabilisation, o.Rates, o.MaxCycles, o.AfterCycles, o.Check = 4, 20, []float64{0.5}, 10, 10, true
	o.Protocols = []Protocol{Eager, Plumtree}
	rows, err := RunMassive(o)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	for _, r := range rows {
		require.GreaterOrEqual(t, r.HealingCycles, 0, "%s never healed", r.Protocol)
		require.LessOrEqual(t, r.HealingCycles, 5, "%s", r.Protocol)
	}
	require.Greater(t, rows[0].RMR, 1.0)
	require.Less(t, rows[1].RMR, 0.2)
	var buf bytes.Buffer
	require.NoError(t, WriteMassiveTable(&buf, o, rows))
	require.Contains(t, buf.String(), "50.00%")
}

// With S1Only the paper's experiments run HyParView without the project's
// switchable additions: the table says so, and the run differs from the
// default one (the refresh and the repair on every cycle change the
// overlay); the default table does not carry the note.
func TestFailureS1OnlyRunsWithoutTheAdditions(t *testing.T) {
	run := func(s1 bool) ([]FailureRow, string) {
		o := PaperFailureOptions(300)
		o.Seed, o.Cycles, o.Rates, o.Messages, o.MaxHealingCycles, o.S1Only = 3, 20, []float64{0.8}, 20, 10, s1
		rows, err := RunFailure(o)
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, WriteFailureTable(&b, o, rows, nil))
		return rows, b.String()
	}
	paperRows, paperTable := run(true)
	ownRows, ownTable := run(false)
	require.Contains(t, paperTable, S1OnlyNote)
	require.NotContains(t, ownTable, S1OnlyNote)
	require.NotEqual(t, ownRows, paperRows)
}

// A survivor that knows no peer at all after a massive failure (its
// neighbours and passive peers dead, its only seed contact too) is given
// a random live node to join through, and the survivors are one overlay
// again; without the rule they stay apart.
func TestStrandedSurvivorsRejoinThroughALiveNode(t *testing.T) {
	for _, rejoin := range []bool{true, false} {
		o := PaperFailureOptions(40)
		o.Seed, o.Cycles, o.DetectAfter, o.S1Only = 7, 10, time.Second, true
		c, err := o.stabilised()
		require.NoError(t, err)
		a, b := strangers(t, c)
		for n := 0; n < c.Len(); n++ {
			if n != a && n != b {
				c.Crash(n) // node 0, the only seed contact, among them
			}
		}
		stranded := 0
		for cycle := 0; cycle < 30 && components(c.Sim) > 1; cycle++ {
			if rejoin {
				stranded += c.RejoinStranded()
			}
			require.NoError(t, c.Cycles(1, "healing"))
		}
		parts, largest := componentSizes(c.Sim)
		if rejoin {
			require.Positive(t, stranded, "the survivors ran out of peers to ask")
			require.Equal(t, 1, parts, "and found each other")
			require.Equal(t, 2, largest)
		} else {
			require.Equal(t, 2, parts, "each alone for good")
			require.Equal(t, 1, largest)
		}
	}
}

// strangers returns two nodes other than node 0 that hold each other in
// neither view.
func strangers(t *testing.T, c *CycleCluster) (int, int) {
	t.Helper()
	knows := func(a, b int) bool {
		id := c.Engine(b).Self().ID
		for _, p := range append(c.Engine(a).AppendActive(nil), c.Engine(a).Passive()...) {
			if p.ID == id {
				return true
			}
		}
		return false
	}
	for a := 1; a < c.Len(); a++ {
		for b := a + 1; b < c.Len(); b++ {
			if !knows(a, b) && !knows(b, a) {
				return a, b
			}
		}
	}
	t.Fatal("every pair knows each other")
	return 0, 0
}

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		xs       []float64
		mean, sd float64
	}{
		{nil, 0, 0},
		{[]float64{0.5}, 0.5, 0},
		{[]float64{1, 3}, 2, math.Sqrt2},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7)},
	} {
		s := SpreadOf(tc.xs)
		require.Equal(t, len(tc.xs), s.N)
		require.InDelta(t, tc.mean, s.Mean, 1e-12)
		require.InDelta(t, tc.sd, s.SD, 1e-12)
	}
}

// After a massive failure the massive experiment records every cycle, and
// the RMR peak of the repairs, which Plumtree's settled tree then leaves
// far behind.
func TestMassivePeakRMR(t *testing.T) {
	o := PaperMassiveOptions(500)
	o.Seed, o.Stabilisation, o.Rates, o.Protocols = 2, 20, []float64{0.5}, []Protocol{Plumtree}
	rows, err := RunMassive(o)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	require.GreaterOrEqual(t, r.HealingCycles, 0)
	require.Len(t, r.Samples, r.HealingCycles+1+o.AfterCycles, "every cycle from the failure to the end")
	require.Equal(t, r.First, r.Samples[0].Reliability)
	require.False(t, math.IsNaN(r.PeakRMR))
	require.Greater(t, r.PeakRMR, 10*r.RMR, "repairs cost far more than the settled tree")
}

// After 95 % of a small overlay fails, survivors that know no live peer
// never rejoin by themselves (no broadcast reaches every live node again);
// given a random live node to join through before each cycle, they do.
// Seed 3 is one where the rule decides it (on other seeds closed islands
// of survivors keep both runs from healing).
func TestMassiveStrandedSurvivorsRejoin(t *testing.T) {
	healing := func(rejoin bool) int {
		o := PaperMassiveOptions(200)
		o.Seed, o.Stabilisation, o.Rates, o.Protocols, o.S1Only, o.RejoinStranded = 3, 10, []float64{0.95}, []Protocol{Plumtree}, true, rejoin
		rows, err := RunMassive(o)
		require.NoError(t, err)
		return rows[0].HealingCycles
	}
	require.Equal(t, -1, healing(false), "without the rule the survivors stay apart")
	require.GreaterOrEqual(t, healing(true), 0, "with it they are one overlay again")
}

// S1's flood holds one payload per node (s1Flood) and the broadcasts come
// out as with the default cache: no IHave, so no GRAFT, ever asks for a
// held payload, also while HyParView repairs the overlay after a failure.
func TestS1FloodHoldsOnePayloadAndChangesNothing(t *testing.T) {
	run := func(capped bool) ([]engine.Broadcast, []gossip.Counters) {
		o := PaperFailureOptions(200)
		o.Seed, o.Cycles = 7, 10
		cfg := o.engineConfig()
		if !capped {
			cfg.Plumtree.MaxCachedPayloads = 0 // the default
		}
		c, err := NewCycleCluster(CycleOptions{Nodes: o.Nodes, Seed: o.Seed, DetectOnSend: true, Engine: cfg, Check: true})
		require.NoError(t, err)
		require.NoError(t, c.Cycles(o.Cycles, "stabilising"))
		c.CrashFraction(0.3)
		bs, err := broadcasts(c, 20, "after", nil)
		require.NoError(t, err)
		var counters []gossip.Counters
		for i := range o.Nodes {
			if c.Alive(i) {
				counters = append(counters, c.Engine(i).Counters())
			}
		}
		return bs, counters
	}
	capped, cappedCounters := run(true)
	uncapped, uncappedCounters := run(false)
	require.Equal(t, uncapped, capped)
	var evicted uint64
	for i, c := range cappedCounters {
		require.Zero(t, c.Plumtree.GraftReceived+c.Plumtree.GraftSent+c.Plumtree.IHaveSent)
		require.Zero(t, uncappedCounters[i].Plumtree.PayloadsEvicted)
		evicted += c.Plumtree.PayloadsEvicted
	}
	require.Greater(t, evicted, uint64(10*len(cappedCounters)), "each node released all but its last payload")
}
