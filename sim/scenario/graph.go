package scenario

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/sim/engine"
)

// ExactPathsUpTo is the largest overlay whose shortest paths are always
// measured from every node, whatever GraphOptions.Sources says.
const ExactPathsUpTo = 2000

// GraphOptions sets up the overlay-properties experiment: the graph that
// HyParView's active views form after stabilisation (S1 §2.3 and Table 1).
type GraphOptions struct {
	Nodes int
	Seed  uint64
	// Cycles of stabilisation after the joins (the paper: 50).
	Cycles int
	// Sources is how many nodes, drawn at random, shortest paths are
	// measured from on overlays larger than ExactPathsUpTo; 0 means every
	// node.
	Sources int
	// Broadcasts is how many messages are flooded from random nodes after
	// the measurement to report their hops.
	Broadcasts int
	// Latency is the links' delay (zero: 1 ms on every link, the papers'
	// uniform delay; engine.Latency.PerMessage draws one per message).
	Latency engine.Latency
	// S1Only runs HyParView without the project's switchable additions
	// (hyparview.Config.S1Only), as the paper describes it.
	S1Only   bool
	Check    bool
	Progress *Progress
}

// PaperGraphOptions returns the experiment as S1 §5 sets it up, for n
// nodes: 50 cycles of stabilisation; paths sampled from 1,000 sources on
// larger overlays, and 10 broadcasts.
func PaperGraphOptions(n int) GraphOptions {
	return GraphOptions{Nodes: n, Cycles: 50, Sources: 1000, Broadcasts: 10}
}

func (o *GraphOptions) validate() error {
	switch {
	case o.Nodes < 2:
		return fmt.Errorf("scenario: need at least 2 nodes, got %d", o.Nodes)
	case o.Cycles < 0 || o.Sources < 0 || o.Broadcasts < 0:
		return fmt.Errorf("scenario: negative cycles, sources or broadcasts (%d, %d, %d)", o.Cycles, o.Sources, o.Broadcasts)
	}
	return nil
}

// DegreeStats summarises the degrees of the nodes.
type DegreeStats struct {
	Mean     float64
	Min, Max int
}

// PathStats summarises the shortest paths along active-view links.
type PathStats struct {
	// Sources is the number of nodes the paths were measured from; Exact
	// says it was every node, so Diameter is exact rather than a lower
	// bound.
	Sources int
	Exact   bool
	// Mean is the average path length over the pairs with a path.
	Mean     float64
	Diameter int
	// Unreachable counts the measured pairs with no path.
	Unreachable int64
}

// GraphResult is what the experiment measured on the active views.
type GraphResult struct {
	Nodes int // live nodes
	Links int // active-view entries that name a live node
	// InDegree counts, for each node, the views that hold it; OutDegree
	// the entries of its own view.
	InDegree, OutDegree DegreeStats
	// InDegreeHistogram[d] is the number of nodes of in-degree d.
	InDegreeHistogram []int
	// Clustering is the mean clustering coefficient over the nodes.
	Clustering float64
	Paths      PathStats
	// Components is the number of connected components, links taken in
	// both directions; Largest is the size of the biggest.
	Components, Largest int
	// Symmetric is the share of links whose reverse link exists too.
	Symmetric float64
	// Broadcasts are the flooded messages, in the order they were sent.
	Broadcasts []engine.Broadcast
}

// LDH returns the largest and the mean Last Delivery Hop of the
// broadcasts, and their mean reliability.
func (r GraphResult) LDH() (highest uint32, mean, reliability float64) {
	if len(r.Broadcasts) == 0 {
		return 0, 0, 0
	}
	for _, b := range r.Broadcasts {
		highest = max(highest, b.LastHop)
		mean += float64(b.LastHop)
	}
	return highest, mean / float64(len(r.Broadcasts)), meanReliability(r.Broadcasts)
}

// RunGraph builds the overlay by one-by-one joins through one contact,
// runs the stabilisation cycles, measures the graph of the active views,
// then floods Broadcasts messages from random nodes (S1's gossip).
func RunGraph(o GraphOptions) (GraphResult, error) {
	if err := o.validate(); err != nil {
		return GraphResult{}, err
	}
	cfg := s1Flood(s1Only(PaperEngineConfig(o.Nodes, 0), o.S1Only))
	c, err := NewCycleCluster(CycleOptions{Nodes: o.Nodes, Seed: o.Seed, Check: o.Check, Engine: cfg, Progress: o.Progress, Latency: o.Latency})
	if err != nil {
		return GraphResult{}, err
	}
	if err := c.Cycles(o.Cycles, "stabilising"); err != nil {
		return GraphResult{}, err
	}
	g := activeGraph(c.Sim)
	in, out := g.degrees()
	res := GraphResult{
		Nodes:             len(g),
		Links:             g.links(),
		InDegree:          degreeStats(in),
		OutDegree:         degreeStats(out),
		InDegreeHistogram: histogram(in),
		Clustering:        g.clustering(),
		Symmetric:         g.symmetric(),
	}
	res.Components, res.Largest = g.components()
	res.Paths = g.paths(pathSources(len(g), o.Sources, c))
	for i := 0; i < o.Broadcasts; i++ {
		b, err := c.BroadcastFromRandom(payload("graph", i))
		if err != nil {
			return GraphResult{}, err
		}
		res.Broadcasts = append(res.Broadcasts, b)
	}
	return res, nil
}

// pathSources returns the nodes to measure shortest paths from, in
// increasing order: all n when n is small or sources is 0 or at least n,
// else sources of them drawn at random.
func pathSources(n, sources int, c *CycleCluster) []int {
	if sources == 0 || sources >= n || n <= ExactPathsUpTo {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all
	}
	picked := c.Rand().Perm(n)[:sources]
	slices.Sort(picked)
	return picked
}

// digraph is a directed graph: g[i] lists the nodes i links to, sorted.
type digraph [][]int

// activeGraph returns the graph of the live nodes' active views, its
// nodes numbered in the order of the live nodes' indexes.
func activeGraph(s *engine.Sim) digraph {
	live := s.LiveNodes()
	index := make(map[peer.ID]int, len(live)) // lookups only
	for i, n := range live {
		index[s.Engine(n).Self().ID] = i
	}
	g := make(digraph, len(live))
	var view []hyparview.Peer
	for i, n := range live {
		view = s.Engine(n).AppendActive(view[:0])
		for _, p := range view {
			if j, ok := index[p.ID]; ok && j != i {
				g[i] = append(g[i], j)
			}
		}
		slices.Sort(g[i])
		g[i] = slices.Compact(g[i])
	}
	return g
}

func (g digraph) links() int {
	n := 0
	for _, out := range g {
		n += len(out)
	}
	return n
}

func (g digraph) has(a, b int) bool {
	_, ok := slices.BinarySearch(g[a], b)
	return ok
}

// degrees returns each node's in-degree and out-degree.
func (g digraph) degrees() (in, out []int) {
	in, out = make([]int, len(g)), make([]int, len(g))
	for i, nbrs := range g {
		out[i] = len(nbrs)
		for _, j := range nbrs {
			in[j]++
		}
	}
	return in, out
}

func degreeStats(d []int) DegreeStats {
	if len(d) == 0 {
		return DegreeStats{}
	}
	st := DegreeStats{Min: d[0], Max: d[0]}
	sum := 0
	for _, v := range d {
		sum += v
		st.Min, st.Max = min(st.Min, v), max(st.Max, v)
	}
	st.Mean = float64(sum) / float64(len(d))
	return st
}

// histogram returns h with h[v] the number of entries of d equal to v.
func histogram(d []int) []int {
	var h []int
	for _, v := range d {
		for len(h) <= v {
			h = append(h, 0)
		}
		h[v]++
	}
	return h
}

// clustering is the mean over the nodes of the links among a node's
// neighbours divided by the k(k-1) such links possible (S1 §2.3); a node
// with fewer than two neighbours counts 0. Neighbours are the nodes in the
// node's view, and links are counted in each direction.
func (g digraph) clustering() float64 {
	if len(g) == 0 {
		return 0
	}
	sum := 0.0
	for _, nbrs := range g {
		k := len(nbrs)
		if k < 2 {
			continue
		}
		links := 0
		for _, a := range nbrs {
			for _, b := range nbrs {
				if a != b && g.has(a, b) {
					links++
				}
			}
		}
		sum += float64(links) / float64(k*(k-1))
	}
	return sum / float64(len(g))
}

// symmetric is the share of links a→b for which b→a is a link too.
func (g digraph) symmetric() float64 {
	total, both := 0, 0
	for a, nbrs := range g {
		for _, b := range nbrs {
			total++
			if g.has(b, a) {
				both++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(both) / float64(total)
}

// components counts the connected components with links taken in both
// directions, and returns the size of the largest.
func (g digraph) components() (count, largest int) {
	parent := make([]int, len(g))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for a, nbrs := range g {
		for _, b := range nbrs {
			if ra, rb := find(a), find(b); ra != rb {
				parent[max(ra, rb)] = min(ra, rb)
			}
		}
	}
	size := make([]int, len(g))
	for i := range g {
		r := find(i)
		if size[r] == 0 {
			count++
		}
		size[r]++
		largest = max(largest, size[r])
	}
	return count, largest
}

// paths measures the shortest paths along links from each source by
// breadth-first search.
func (g digraph) paths(sources []int) PathStats {
	st := PathStats{Sources: len(sources), Exact: len(sources) == len(g)}
	dist := make([]int, len(g))
	queue := make([]int, 0, len(g))
	var sum, pairs int64
	for _, s := range sources {
		for i := range dist {
			dist[i] = -1
		}
		dist[s] = 0
		queue = append(queue[:0], s)
		for h := 0; h < len(queue); h++ {
			a := queue[h]
			for _, b := range g[a] {
				if dist[b] < 0 {
					dist[b] = dist[a] + 1
					queue = append(queue, b)
					sum += int64(dist[b])
					pairs++
					st.Diameter = max(st.Diameter, dist[b])
				}
			}
		}
		st.Unreachable += int64(len(g) - len(queue))
	}
	if pairs > 0 {
		st.Mean = float64(sum) / float64(pairs)
	}
	return st
}

// WriteGraphTable prints the measured properties and the in-degree
// histogram.
func WriteGraphTable(w io.Writer, o GraphOptions, r GraphResult) error {
	fmt.Fprintf(w, "HyParView overlay after stabilisation: %d nodes joined through one contact, %d cycles; graph of the active views (S1 §2.3)\n",
		o.Nodes, o.Cycles)
	writeModelNotes(w, o.S1Only, o.Latency)
	fmt.Fprintf(w, "(in-degree = views that hold the node; clustering = links among a node's neighbours / k(k-1); paths follow active-view links)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	row("nodes", "%d", r.Nodes)
	row("links", "%d", r.Links)
	row("in-degree mean/min/max", "%.3f / %d / %d", r.InDegree.Mean, r.InDegree.Min, r.InDegree.Max)
	row("out-degree mean/min/max", "%.3f / %d / %d", r.OutDegree.Mean, r.OutDegree.Min, r.OutDegree.Max)
	row("clustering coefficient", "%.5f", r.Clustering)
	paths := fmt.Sprintf("exact, from all %d nodes", r.Paths.Sources)
	diameter := "exact"
	if !r.Paths.Exact {
		paths = fmt.Sprintf("sampled from %d random sources of %d", r.Paths.Sources, r.Nodes)
		diameter = "lower bound, sampled"
	}
	row("average path length", "%.4f  (%s)", r.Paths.Mean, paths)
	row("diameter", "%d  (%s)", r.Paths.Diameter, diameter)
	row("unreachable pairs", "%d", r.Paths.Unreachable)
	row("components", "%d  (largest %d nodes)", r.Components, r.Largest)
	row("symmetric links", "%s", pct(r.Symmetric))
	if len(r.Broadcasts) > 0 {
		highest, mean, rel := r.LDH()
		row("LDH max/mean", "%d / %.2f  (%d broadcasts flooded from random nodes, reliability %s)", highest, mean, len(r.Broadcasts), pct(rel))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nin-degree histogram\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"in-degree", "nodes", "share"}, "\t")+"\t")
	for d := r.InDegree.Min; d < len(r.InDegreeHistogram) && r.Nodes > 0; d++ {
		k := r.InDegreeHistogram[d]
		fmt.Fprintf(tw, "%d\t%d\t%s\t\n", d, k, pct(float64(k)/float64(r.Nodes)))
	}
	return tw.Flush()
}
