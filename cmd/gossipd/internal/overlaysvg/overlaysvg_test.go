package overlaysvg

import (
	"bytes"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parsed is what a test reads back from a picture.
type parsed struct {
	nodes    map[string]map[string]string // data-id -> attributes
	edges    []map[string]string
	omitted  int
	legend   []string // the legend's labels
	rootAttr map[string]string
}

// parse reads the SVG as XML: every node and edge with its attributes.
func parse(t *testing.T, svg []byte) parsed {
	t.Helper()
	p := parsed{nodes: map[string]map[string]string{}}
	d := xml.NewDecoder(bytes.NewReader(svg))
	inLegend := 0
	var node map[string]string // the node group being read
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "well-formed XML")
		switch el := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			for _, at := range el.Attr {
				a[at.Name.Local] = at.Value
			}
			if p.rootAttr == nil {
				require.Equal(t, "svg", el.Name.Local)
				require.Equal(t, "http://www.w3.org/2000/svg", el.Name.Space)
				p.rootAttr = a
			}
			switch {
			case a["class"] == "node":
				p.nodes[a["data-id"]] = a
				node = a
			case node != nil && el.Name.Local == "circle":
				node["fill"] = a["fill"]
				node = nil
			case a["class"] == "edge":
				p.edges = append(p.edges, a)
			case a["class"] == "omitted":
				p.omitted, _ = strconv.Atoi(a["data-omitted"])
			case a["class"] == "legend":
				inLegend++
			case inLegend > 0 && el.Name.Local == "g":
				inLegend++
			}
		case xml.EndElement:
			if inLegend > 0 && el.Name.Local == "g" {
				inLegend--
			}
		case xml.CharData:
			if inLegend > 0 && strings.TrimSpace(string(el)) != "" {
				p.legend = append(p.legend, string(el))
			}
		}
	}
	return p
}

func render(t *testing.T, p Picture) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Render(&b, p))
	return b.Bytes()
}

// edgeKey names an edge for comparisons.
func edgeKey(a map[string]string) string {
	return a["data-from"] + "-" + a["data-to"] + " " + a["data-kind"] + " " + a["data-push"] + " symmetric=" + a["data-symmetric"]
}

// A small overlay: node 1 (this node) is linked with 2 (eager both ways)
// and 3 (lazy both ways), holds 4 in its passive view, and 5 lists 1 as
// active without 1 listing it back; 4 failed and its views are unknown.
func smallOverlay() []Node {
	return []Node{
		{ID: 1, State: "alive", Self: true, Known: true, Active: []uint64{2, 3}, Eager: []uint64{2}, Lazy: []uint64{3}, Passive: []uint64{4}},
		{ID: 2, State: "alive", Known: true, Active: []uint64{1}, Eager: []uint64{1}, Passive: []uint64{3}},
		{ID: 3, State: "suspect", Known: true, Active: []uint64{1}, Lazy: []uint64{1}, Passive: []uint64{2}},
		{ID: 4, State: "failed"},
		{ID: 5, State: "left", Known: true, Active: []uint64{1}, Lazy: []uint64{1}, Passive: []uint64{99}}, // 99 is not drawn
	}
}

func TestRenderNodesAndEdges(t *testing.T) {
	svg := render(t, Picture{Title: "test <overlay>", Nodes: smallOverlay()})
	p := parse(t, svg)
	require.Len(t, p.nodes, 5)
	for id, st := range map[uint64]string{1: "alive", 2: "alive", 3: "suspect", 4: "failed", 5: "left"} {
		a, ok := p.nodes[Hex(id)]
		require.True(t, ok, "node %d drawn under its hexadecimal ID", id)
		require.Equal(t, st, a["data-state"])
		require.Equal(t, strconv.FormatBool(id == 1), a["data-self"])
		require.Equal(t, strconv.FormatBool(id != 4), a["data-known"])
	}
	var got []string
	for _, e := range p.edges {
		got = append(got, edgeKey(e))
	}
	h := Hex
	require.Equal(t, []string{
		h(1) + "-" + h(2) + " active eager symmetric=true",
		h(1) + "-" + h(3) + " active lazy symmetric=true",
		h(1) + "-" + h(4) + " passive  symmetric=false",
		h(1) + "-" + h(5) + " active lazy symmetric=false",
		h(2) + "-" + h(3) + " passive  symmetric=true",
	}, got)
	for _, e := range p.edges {
		if e["data-kind"] == "passive" {
			require.NotEmpty(t, e["stroke-dasharray"], "passive links are dashed")
		} else {
			require.Empty(t, e["stroke-dasharray"], "active links are solid")
		}
	}
	require.Equal(t, eagerColour, p.edges[0]["stroke"])
	require.Equal(t, lazyColour, p.edges[1]["stroke"])
	require.NotEqual(t, p.nodes[Hex(3)]["fill"], p.nodes[Hex(4)]["fill"])
	for _, label := range []string{"active, eager push", "active, lazy push", "passive view", "alive", "suspect", "failed", "left"} {
		require.Contains(t, p.legend, label)
	}
	require.Contains(t, string(svg), "test &lt;overlay&gt;", "the title is escaped")
}

// The same views give the same bytes, in whatever order the nodes and
// their lists come.
func TestRenderIsDeterministic(t *testing.T) {
	want := render(t, Picture{Title: "x", Nodes: smallOverlay()})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		nodes := smallOverlay()
		rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		require.Equal(t, want, render(t, Picture{Title: "x", Nodes: nodes}))
	}
}

// Conflicting push roles show as mixed; the components are the groups
// the active links connect.
func TestMixedPushAndComponents(t *testing.T) {
	nodes := []Node{
		{ID: 10, Known: true, Active: []uint64{11}, Eager: []uint64{11}},
		{ID: 11, Known: true, Active: []uint64{10}, Lazy: []uint64{10}},
		{ID: 12, Known: true, Active: []uint64{13}, Passive: []uint64{10}},
		{ID: 13, Known: true, Active: []uint64{12}},
		{ID: 14, Known: false},
	}
	p := parse(t, render(t, Picture{Nodes: nodes}))
	require.Equal(t, "mixed", p.edges[0]["data-push"])
	s := Summarize(nodes)
	require.Equal(t, Summary{Nodes: 5, Known: 4, ActiveLinks: 2, SymmetricActive: 2, PassiveLinks: 1,
		Components: [][]uint64{{10, 11}, {12, 13}, {14}}}, s)
	s = Summarize(smallOverlay())
	require.Equal(t, 3, s.ActiveLinks)
	require.Equal(t, 2, s.SymmetricActive)
	require.Equal(t, [][]uint64{{1, 2, 3, 5}, {4}}, s.Components)
}

// A picture is bounded: past MaxNodes the rest are left out and counted.
func TestRenderIsBounded(t *testing.T) {
	var nodes []Node
	for i := range MaxNodes + 44 {
		nodes = append(nodes, Node{ID: uint64(i + 1), State: "alive", Known: true, Active: []uint64{uint64(i + 2)}})
	}
	p := parse(t, render(t, Picture{Nodes: nodes}))
	require.Len(t, p.nodes, MaxNodes)
	require.Equal(t, 44, p.omitted)
	p = parse(t, render(t, Picture{Nodes: nodes, Omitted: 6}))
	require.Equal(t, 50, p.omitted, "and those the caller left out")
	require.Len(t, p.edges, MaxNodes-1, "a chain, the links to nodes left out dropped")
	one := parse(t, render(t, Picture{Nodes: []Node{{ID: 7, Self: true, Known: true}}}))
	require.Len(t, one.nodes, 1)
	require.Empty(t, one.edges)
}
