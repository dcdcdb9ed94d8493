// Package overlaysvg draws a picture of a plumview overlay as SVG: the
// nodes on a circle, sorted by ID, coloured by their state in the member
// list; HyParView's active links solid and passive ones dashed (S1 §4),
// each active link coloured by its Plumtree role, eager or lazy push
// (S2 §3.3). gossipd's /debug/ page draws one node's views with it, and
// `gossipd status -cluster` the views of a whole cluster (docs/operations.md).
//
// The drawing is deterministic (the same views give the same bytes) and
// marked up for machines as well as eyes: each node is a <g class="node">
// with data-id (16 hexadecimal digits), data-state and data-self, each
// link a <line class="edge"> with data-from and data-to (the lower ID
// first), data-kind (active or passive), data-push (eager, lazy or mixed,
// active links only) and data-symmetric (whether both ends list it, when
// both ends' views are known).
package overlaysvg

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// Node is one node of the picture: its state in the member list, and its
// views when known (Known).
type Node struct {
	ID uint64
	// State is the member list's state: alive, suspect, failed, left;
	// empty when the node is not in the list drawn from.
	State string
	// Self marks the node the picture is drawn from.
	Self bool
	// Known says whether the views below are this node's own (it
	// answered); a node not known is drawn with a dashed outline, and
	// only the links other nodes list reach it.
	Known                        bool
	Active, Passive, Eager, Lazy []uint64
}

// Picture is what to draw.
type Picture struct {
	Title string
	Nodes []Node
	// Omitted counts the nodes the caller left out; the picture says how
	// many were not drawn, these and those past MaxNodes.
	Omitted int
}

// MaxNodes bounds the nodes drawn; past it the rest are left out (the
// ones with the highest IDs, the picture's node included) and the
// picture says how many.
const MaxNodes = 256

// Colours of the states and of the push roles.
var stateFill = map[string]string{
	"alive": "#2f9e44", "suspect": "#f08c00", "failed": "#e03131", "left": "#868e96", "": "#ffffff",
}

const (
	eagerColour   = "#d9480f"
	lazyColour    = "#1971c2"
	mixedColour   = "#9c36b5"
	passiveColour = "#adb5bd"
)

// Edge is one link of the picture, between From < To.
type Edge struct {
	From, To uint64
	Kind     string // active or passive
	Push     string // eager, lazy or mixed; active links only
	// Symmetric is set when both ends are known and both list the link
	// in the same view.
	Symmetric bool
}

// Edges returns the links of the nodes, sorted: one per pair, active if
// either end lists the other in its active view, else passive if either
// lists it in its passive view. Links to IDs that are not nodes of the
// picture are left out.
func Edges(nodes []Node) []Edge {
	byID := make(map[uint64]*Node, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	type pair struct{ a, b uint64 }
	type seen struct {
		active, passive int // how many ends list it
		eager, lazy     int
	}
	links := map[pair]*seen{}
	at := func(a, b uint64) *seen {
		p := pair{min(a, b), max(a, b)}
		s := links[p]
		if s == nil {
			s = &seen{}
			links[p] = s
		}
		return s
	}
	for i := range nodes {
		n := &nodes[i]
		for _, q := range n.Active {
			if _, ok := byID[q]; ok && q != n.ID {
				s := at(n.ID, q)
				s.active++
				switch {
				case slices.Contains(n.Eager, q):
					s.eager++
				case slices.Contains(n.Lazy, q):
					s.lazy++
				}
			}
		}
		for _, q := range n.Passive {
			if _, ok := byID[q]; ok && q != n.ID {
				at(n.ID, q).passive++
			}
		}
	}
	var out []Edge
	for p, s := range links {
		e := Edge{From: p.a, To: p.b}
		bothKnown := byID[p.a].Known && byID[p.b].Known
		switch {
		case s.active > 0:
			e.Kind, e.Symmetric = "active", bothKnown && s.active == 2
			switch {
			case s.eager > 0 && s.lazy > 0:
				e.Push = "mixed"
			case s.lazy > 0:
				e.Push = "lazy"
			default:
				e.Push = "eager" // a new link is eager (S2 §3.3)
			}
		default:
			e.Kind, e.Symmetric = "passive", bothKnown && s.passive == 2
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y Edge) int { return cmp.Or(cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To)) })
	return out
}

// Summary counts what a picture shows.
type Summary struct {
	Nodes, Known                 int
	ActiveLinks, SymmetricActive int
	PassiveLinks                 int
	// Components are the groups of nodes the active links connect, each
	// sorted, the largest first: one when the overlay is connected.
	Components [][]uint64
}

// Summarize counts the nodes and links and finds the components of the
// active links.
func Summarize(nodes []Node) Summary {
	s := Summary{Nodes: len(nodes)}
	parent := map[uint64]uint64{}
	var find func(uint64) uint64
	find = func(x uint64) uint64 {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	for _, n := range nodes {
		parent[n.ID] = n.ID
		if n.Known {
			s.Known++
		}
	}
	for _, e := range Edges(nodes) {
		if e.Kind == "passive" {
			s.PassiveLinks++
			continue
		}
		s.ActiveLinks++
		if e.Symmetric {
			s.SymmetricActive++
		}
		if a, b := find(e.From), find(e.To); a != b {
			parent[max(a, b)] = min(a, b)
		}
	}
	groups := map[uint64][]uint64{}
	for _, n := range nodes {
		r := find(n.ID)
		groups[r] = append(groups[r], n.ID)
	}
	for _, g := range groups {
		slices.Sort(g)
		s.Components = append(s.Components, g)
	}
	slices.SortFunc(s.Components, func(x, y []uint64) int { return cmp.Or(cmp.Compare(len(y), len(x)), cmp.Compare(x[0], y[0])) })
	return s
}

// Hex renders an ID as gossipd does: 16 hexadecimal digits.
func Hex(id uint64) string { return fmt.Sprintf("%016x", id) }

// Render writes the picture as a standalone SVG document.
func Render(w io.Writer, p Picture) error {
	nodes := slices.Clone(p.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	nodes = slices.CompactFunc(nodes, func(a, b Node) bool { return a.ID == b.ID })
	left := max(p.Omitted, 0)
	if len(nodes) > MaxNodes {
		left, nodes = left+len(nodes)-MaxNodes, nodes[:MaxNodes]
	}
	n := len(nodes)
	// The circle's circumference gives each node about 40 px.
	r := math.Max(120, float64(n)*40/(2*math.Pi))
	const margin, legendW = 150.0, 190.0
	size := 2*r + 2*margin
	cx, cy := margin+r, margin+r
	pos := make(map[uint64][2]float64, n)
	for i, nd := range nodes {
		a := 2*math.Pi*float64(i)/float64(max(n, 1)) - math.Pi/2
		if n == 1 {
			a = 0
			pos[nd.ID] = [2]float64{cx, cy}
			continue
		}
		pos[nd.ID] = [2]float64{cx + r*math.Cos(a), cy + r*math.Sin(a)}
	}
	var b strings.Builder
	width, height := size+legendW, math.Max(size, 300)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<title>%s</title>`+"\n", html.EscapeString(p.Title))
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(p.Title))
	if left > 0 {
		fmt.Fprintf(&b, `<text x="10" y="38" class="omitted" data-omitted="%d">%d more nodes not drawn</text>`+"\n", left, left)
	}
	b.WriteString(`<g class="edges">` + "\n")
	for _, e := range Edges(nodes) {
		p1, p2 := pos[e.From], pos[e.To]
		colour, dash, width := passiveColour, ` stroke-dasharray="5,4"`, 1.0
		if e.Kind == "active" {
			dash, width = "", 2.5
			colour = map[string]string{"eager": eagerColour, "lazy": lazyColour, "mixed": mixedColour}[e.Push]
		}
		fmt.Fprintf(&b, `<line class="edge" data-from="%s" data-to="%s" data-kind="%s" data-push="%s" data-symmetric="%t" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n",
			Hex(e.From), Hex(e.To), e.Kind, e.Push, e.Symmetric, p1[0], p1[1], p2[0], p2[1], colour, width, dash)
	}
	b.WriteString("</g>\n<g class=\"nodes\">\n")
	for i, nd := range nodes {
		pt := pos[nd.ID]
		stroke, sw, dash := "#212529", 1.5, ""
		if nd.Self {
			stroke, sw = "#000000", 4
		}
		if !nd.Known {
			dash = ` stroke-dasharray="3,3"`
		}
		fill := stateFill[nd.State]
		if fill == "" {
			fill = stateFill[""]
		}
		fmt.Fprintf(&b, `<g class="node" data-id="%s" data-state="%s" data-self="%t" data-known="%t">`, Hex(nd.ID), html.EscapeString(nd.State), nd.Self, nd.Known)
		state := nd.State
		if state == "" {
			state = "not in the member list"
		}
		fmt.Fprintf(&b, `<title>%s: %s</title>`, Hex(nd.ID), html.EscapeString(state))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="9" fill="%s" stroke="%s" stroke-width="%.1f"%s/>`, pt[0], pt[1], fill, stroke, sw, dash)
		// The label goes outwards from the circle's centre.
		a := 2*math.Pi*float64(i)/float64(max(n, 1)) - math.Pi/2
		lx, ly := pt[0]+16*math.Cos(a), pt[1]+16*math.Sin(a)+4
		anchor := "start"
		if math.Cos(a) < -0.1 {
			anchor = "end"
		} else if math.Abs(math.Cos(a)) <= 0.1 {
			anchor = "middle"
		}
		if n == 1 {
			lx, ly, anchor = pt[0], pt[1]+26, "middle"
		}
		weight := ""
		if nd.Self {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s"%s>%s</text></g>`+"\n", lx, ly, anchor, weight, Hex(nd.ID))
	}
	b.WriteString("</g>\n")
	writeLegend(&b, size+10)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLegend draws the legend in a column at x.
func writeLegend(b *strings.Builder, x float64) {
	b.WriteString(`<g class="legend">` + "\n")
	y := 30.0
	line := func(colour, dash, label string, width float64) {
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="%.1f"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			x, y, x+30, y, colour, width, dash, x+38, y+4, label)
		y += 20
	}
	dot := func(fill, extra, label string) {
		fmt.Fprintf(b, `<circle cx="%.0f" cy="%.0f" r="7" fill="%s" stroke="#212529" stroke-width="1.5"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			x+15, y, fill, extra, x+38, y+4, label)
		y += 20
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">Links</text>`+"\n", x, y-8)
	y += 6
	line(eagerColour, "", "active, eager push", 2.5)
	line(lazyColour, "", "active, lazy push", 2.5)
	line(mixedColour, "", "active, eager one way", 2.5)
	line(passiveColour, ` stroke-dasharray="5,4"`, "passive view", 1)
	y += 10
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">Members</text>`+"\n", x, y-8)
	y += 6
	for _, s := range []string{"alive", "suspect", "failed", "left"} {
		dot(stateFill[s], "", s)
	}
	dot(stateFill[""], "", "not in the list")
	dot("#ffffff", ` stroke-dasharray="3,3"`, "views unknown")
	fmt.Fprintf(b, `<circle cx="%.0f" cy="%.0f" r="7" fill="#ffffff" stroke="#000000" stroke-width="4"/><text x="%.0f" y="%.0f">drawn from here</text>`+"\n", x+15, y, x+38, y+4)
	b.WriteString("</g>\n")
}
