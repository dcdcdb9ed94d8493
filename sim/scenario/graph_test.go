package scenario

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// tiny is a hand-built graph with known metrics: a triangle 0-1-2 with
// links both ways, a one-way tail 2→3, and 4 alone.
//
//	0 ⇄ 1, 1 ⇄ 2, 0 ⇄ 2, 2 → 3
func tiny() digraph {
	return digraph{
		0: {1, 2},
		1: {0, 2},
		2: {0, 1, 3},
		3: nil,
		4: nil,
	}
}

func TestGraphMetricsOnATinyGraph(t *testing.T) {
	g := tiny()
	require.Equal(t, 7, g.links())

	in, out := g.degrees()
	require.Equal(t, []int{2, 2, 2, 1, 0}, in)
	require.Equal(t, []int{2, 2, 3, 0, 0}, out)
	require.Equal(t, DegreeStats{Mean: 7.0 / 5, Min: 0, Max: 3}, degreeStats(out))
	require.Equal(t, []int{1, 1, 3}, histogram(in))

	// Nodes 0 and 1: their two neighbours are linked both ways, 2/2 = 1.
	// Node 2: among 0, 1, 3 only 0→1 and 1→0 of 6 possible, 1/3.
	// Nodes 3 and 4 have no neighbours and count 0.
	require.InDelta(t, (1+1+1.0/3)/5, g.clustering(), 1e-12)

	// Six of the seven links have their reverse; 2→3 has not.
	require.InDelta(t, 6.0/7, g.symmetric(), 1e-12)

	count, largest := g.components()
	require.Equal(t, 2, count)
	require.Equal(t, 4, largest)

	// From 0: 1 and 2 at 1, 3 at 2; from 1 likewise; from 2: 0, 1, 3 at 1;
	// 3 and 4 reach nothing. Sum 4+4+3 over 9 pairs.
	st := g.paths([]int{0, 1, 2, 3, 4})
	require.True(t, st.Exact)
	require.Equal(t, 5, st.Sources)
	require.InDelta(t, 11.0/9, st.Mean, 1e-12)
	require.Equal(t, 2, st.Diameter)
	require.Equal(t, int64(1+1+1+4+4), st.Unreachable)

	sampled := g.paths([]int{2})
	require.False(t, sampled.Exact)
	require.InDelta(t, 1.0, sampled.Mean, 1e-12)
	require.Equal(t, 1, sampled.Diameter)
}

func TestGraphMetricsOnARing(t *testing.T) {
	// A ring of 8 nodes, links both ways: no triangles, path lengths
	// 1,1,2,2,3,3,4 from every node.
	const n = 8
	g := make(digraph, n)
	for i := range g {
		a, b := (i+n-1)%n, (i+1)%n
		g[i] = []int{min(a, b), max(a, b)}
	}
	require.Zero(t, g.clustering())
	require.Equal(t, 1.0, g.symmetric())
	st := g.paths([]int{0, 1, 2, 3, 4, 5, 6, 7})
	require.InDelta(t, 16.0/7, st.Mean, 1e-12)
	require.Equal(t, 4, st.Diameter)
	require.Zero(t, st.Unreachable)
}

func TestRunGraph(t *testing.T) {
	for _, n := range []int{300, 1000} {
		o := PaperGraphOptions(n)
		o.Seed, o.Cycles, o.Broadcasts = 3, 20, 3
		r, err := RunGraph(o)
		require.NoError(t, err)

		require.Equal(t, n, r.Nodes)
		require.Equal(t, 1, r.Components, "the overlay should be connected")
		require.Equal(t, n, r.Largest)
		require.Zero(t, r.Paths.Unreachable)
		require.True(t, r.Paths.Exact)
		require.Equal(t, n, r.Paths.Sources)
		// Every link is one node's out-link and another's in-link.
		require.InDelta(t, r.OutDegree.Mean, r.InDegree.Mean, 1e-12)
		require.InDelta(t, float64(r.Links)/float64(n), r.InDegree.Mean, 1e-12)
		require.GreaterOrEqual(t, r.Clustering, 0.0)
		require.LessOrEqual(t, r.Clustering, 1.0)
		require.Greater(t, r.Paths.Mean, 1.0)
		require.GreaterOrEqual(t, float64(r.Paths.Diameter), r.Paths.Mean)
		require.Greater(t, r.Symmetric, 0.9, "active views are kept symmetric")

		sum := 0
		for d, k := range r.InDegreeHistogram {
			sum += k
			if k > 0 {
				require.GreaterOrEqual(t, d, r.InDegree.Min)
				require.LessOrEqual(t, d, r.InDegree.Max)
			}
		}
		require.Equal(t, n, sum)

		highest, mean, rel := r.LDH()
		require.Len(t, r.Broadcasts, 3)
		require.Equal(t, 1.0, rel, "flooding a connected overlay reaches every node")
		require.GreaterOrEqual(t, float64(highest), mean)
		require.Greater(t, mean, 1.0)
	}
}

func TestRunGraphIsDeterministicAndSamples(t *testing.T) {
	o := PaperGraphOptions(ExactPathsUpTo + 100)
	o.Seed, o.Cycles, o.Sources, o.Broadcasts = 5, 2, 50, 1
	first, err := RunGraph(o)
	require.NoError(t, err)
	require.False(t, first.Paths.Exact)
	require.Equal(t, 50, first.Paths.Sources)

	second, err := RunGraph(o)
	require.NoError(t, err)
	require.Equal(t, first, second)

	var a, b bytes.Buffer
	require.NoError(t, WriteGraphTable(&a, o, first))
	require.NoError(t, WriteGraphTable(&b, o, second))
	require.Equal(t, a.String(), b.String())
	require.Contains(t, a.String(), "sampled from 50 random sources")
	require.Contains(t, a.String(), "lower bound")
}

func TestGraphOptionsRejectsBadValues(t *testing.T) {
	for _, o := range []GraphOptions{{Nodes: 1}, {Nodes: 10, Cycles: -1}, {Nodes: 10, Sources: -1}} {
		_, err := RunGraph(o)
		require.Error(t, err)
	}
}
