package dashpreview

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// element is one element of a picture read back: its name, attributes and
// text.
type element struct {
	name  string
	attrs map[string]string
	text  string
	panel string // data-id of the enclosing panel
}

// parse reads an SVG document with encoding/xml, failing on any error (so
// on a picture that is not well-formed), and returns its elements.
func parse(t *testing.T, b []byte) []element {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var out []element
	var open []int // indexes into out
	panel := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if e.attrs["class"] == "panel" {
				panel = e.attrs["data-id"]
			}
			e.panel = panel
			out = append(out, e)
			open = append(open, len(out)-1)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += string(tok)
			}
		}
	}
	require.Empty(t, open)
	return out
}

func readDashboard(t *testing.T) *Dashboard {
	t.Helper()
	raw, err := os.ReadFile("../../../../deploy/grafana/plumview.json")
	require.NoError(t, err)
	d, err := Parse(raw)
	require.NoError(t, err)
	return d
}

// The project's dashboard parses, its panels tile the grid without
// overlapping, and every panel but a row has a query.
func TestParseTheProjectsDashboard(t *testing.T) {
	d := readDashboard(t)
	require.Equal(t, "plumview", d.Title)
	require.Greater(t, len(d.Panels), 10)
	taken := map[[2]int]int{}
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Title, "panel %d", p.ID)
		if p.Type != "row" {
			require.NotEmpty(t, p.Targets, "panel %q", p.Title)
		}
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				other, ok := taken[[2]int{x, y}]
				require.False(t, ok, "panels %d and %d overlap at (%d, %d)", other, p.ID, x, y)
				taken[[2]int{x, y}] = p.ID
			}
		}
	}
	require.Equal(t, d.Panels[len(d.Panels)-1].GridPos.Y+d.Panels[len(d.Panels)-1].GridPos.H, d.Rows())

	_, err := Parse([]byte(`{"panels": [{"id": 1, "gridPos": {"x": 20, "y": 0, "w": 8, "h": 2}}]}`))
	require.ErrorContains(t, err, "outside the 24 columns")
	_, err = Parse([]byte(`{"panels": [`))
	require.Error(t, err)
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"instance": ".*", "__rate_interval": "4s"}
	got, missing := Interpolate(`rate(x{instance=~"$instance"}[$__rate_interval]) + y{i=~"${instance}"} + z{i=~"[[instance]]"}`, vars)
	require.Equal(t, `rate(x{instance=~".*"}[4s]) + y{i=~".*"} + z{i=~".*"}`, got)
	require.Empty(t, missing)
	got, missing = Interpolate(`x[$__range] + y[$__range] + z{a="$job"}`, vars)
	require.Equal(t, `x[$__range] + y[$__range] + z{a="$job"}`, got, "an unknown variable is left in place")
	require.Equal(t, []string{"__range", "job"}, missing)

	require.Equal(t, `127\\.0\\.0\\.1:9100`, RegexValues([]string{"127.0.0.1:9100"}))
	require.Equal(t, `(a\\.b|c\\(d\\)|e)`, RegexValues([]string{"a.b", "c(d)", "e"}))
}

func TestLegend(t *testing.T) {
	l := map[string]string{"state": "alive", "instance": "h:1"}
	require.Equal(t, "alive", Legend("{{state}}", l, "e"))
	require.Equal(t, "h:1 is alive", Legend("{{ instance }} is {{state}}", l, "e"))
	require.Equal(t, "min", Legend("min", l, "e"))
	require.Equal(t, `{instance="h:1", state="alive"}`, Legend("", l, "e"))
	require.Equal(t, "sum(x)", Legend("", nil, "sum(x)"))
}

// The project's dashboard drawn with a series for one panel, a histogram
// for the heatmap and nothing for the rest: a well-formed SVG with every
// panel in its place and titled, the series' line broken where it has no
// value, inside its panel, the heatmap's cells counts per bucket, and "No
// data" in the panels without series.
func TestSVG(t *testing.T) {
	d := readDashboard(t)
	var lines, heat Panel
	for _, p := range d.Panels {
		switch {
		case p.Type == "heatmap":
			heat = p
		case p.Type == "timeseries" && lines.ID == 0 && p.GridPos.X > 0:
			lines = p
		}
	}
	require.NotZero(t, lines.ID)
	require.NotZero(t, heat.ID)
	nan := math.NaN()
	pts := func(vs ...float64) []Point {
		out := make([]Point, len(vs))
		for i, v := range vs {
			out[i] = Point{T: 1000 + float64(i), V: v}
		}
		return out
	}
	data := map[Key][]Series{
		{lines.ID, 0}: {{Labels: map[string]string{"state": "alive"}, Points: pts(1, 2, nan, 3, 3)}},
		{heat.ID, 0}: {
			{Labels: map[string]string{"le": "+Inf"}, Points: pts(0, 5, 5, 5, 5)},
			{Labels: map[string]string{"le": "1"}, Points: pts(0, 3, 3, 3, 3)},
		},
	}
	var buf bytes.Buffer
	o := Options{Width: 960, RowHeight: 20, Note: "a preview"}
	require.NoError(t, SVG(&buf, d, data, o))
	els := parse(t, buf.Bytes())
	require.Equal(t, "svg", els[0].name)
	require.Equal(t, "960", els[0].attrs["width"])
	require.Equal(t, strconv.Itoa(header+d.Rows()*20+4), els[0].attrs["height"])

	titles := map[string]string{} // panel ID -> title
	boxes := map[string][4]float64{}
	noData := map[string]bool{}
	for _, e := range els {
		switch {
		case e.attrs["class"] == "title":
			titles[e.panel] = e.text
		case e.name == "rect" && e.attrs["stroke"] == "#d8d9da":
			var b [4]float64
			for i, k := range []string{"x", "y", "width", "height"} {
				v, err := strconv.ParseFloat(e.attrs[k], 64)
				require.NoError(t, err)
				b[i] = v
			}
			boxes[e.panel] = b
		case e.attrs["class"] == "nodata":
			noData[e.panel] = true
		}
	}
	for _, p := range d.Panels {
		id := strconv.Itoa(p.ID)
		require.Equal(t, p.Title, titles[id], "panel %d is titled", p.ID)
		if p.Type == "row" {
			continue
		}
		b := boxes[id]
		require.InDelta(t, float64(p.GridPos.X*40+3), b[0], 0.1, "panel %d at its column", p.ID)
		require.InDelta(t, float64(header+p.GridPos.Y*20+3), b[1], 0.1, "panel %d at its row", p.ID)
		require.InDelta(t, float64(p.GridPos.W*40-6), b[2], 0.1)
		require.InDelta(t, float64(p.GridPos.H*20-6), b[3], 0.1)
		require.Equal(t, p.ID != lines.ID && p.ID != heat.ID, noData[id], "panel %d says No data when it has none", p.ID)
	}
	require.Contains(t, buf.String(), ">a preview</text>")

	var polylines, cells []element
	for _, e := range els {
		if e.name == "polyline" {
			polylines = append(polylines, e)
		}
		if e.attrs["class"] == "cell" {
			cells = append(cells, e)
		}
	}
	require.Len(t, polylines, 2, "the series is broken where it has no value")
	b := boxes[strconv.Itoa(lines.ID)]
	for _, pl := range polylines {
		require.Equal(t, strconv.Itoa(lines.ID), pl.panel)
		for xy := range strings.FieldsSeq(pl.attrs["points"]) {
			xs, ys, _ := strings.Cut(xy, ",")
			x, err := strconv.ParseFloat(xs, 64)
			require.NoError(t, err)
			y, err := strconv.ParseFloat(ys, 64)
			require.NoError(t, err)
			require.True(t, x >= b[0] && x <= b[0]+b[2] && y >= b[1] && y <= b[1]+b[3], "point %s inside panel %v", xy, b)
		}
	}
	require.Contains(t, buf.String(), `data-legend="`+Legend(lines.Targets[0].LegendFormat, map[string]string{"state": "alive"}, "")+`"`)
	// Times 1001-1004: 3 in bucket le=1 and 5-3 in le=+Inf each.
	got := map[string]int{}
	hb := boxes[strconv.Itoa(heat.ID)]
	for _, c := range cells {
		x, err := strconv.ParseFloat(c.attrs["x"], 64)
		require.NoError(t, err)
		w, err := strconv.ParseFloat(c.attrs["width"], 64)
		require.NoError(t, err)
		require.True(t, x >= hb[0] && x+w <= hb[0]+hb[2], "cell from %v to %v inside panel %v", x, x+w, hb)
		got[c.attrs["data-le"]+"="+c.attrs["data-value"]]++
	}
	require.Equal(t, map[string]int{"1=3": 4, "+Inf=2": 4}, got)
}

func TestFormatAndTicks(t *testing.T) {
	require.Equal(t, "0", formatValue(1e-15))
	require.Equal(t, "0.25", formatValue(0.25))
	require.Equal(t, "12.3k", formatValue(12345))
	require.Equal(t, "2M", formatValue(2e6))
	for _, c := range [][2]float64{{0, 3}, {0, 0}, {0, 0.07}, {-2, 17}, {0, 1234}} {
		ticks := niceTicks(c[0], c[1])
		require.LessOrEqual(t, ticks[0], c[0])
		require.GreaterOrEqual(t, ticks[len(ticks)-1], c[1])
		require.GreaterOrEqual(t, len(ticks), 2, "%v", c)
		require.LessOrEqual(t, len(ticks), 7, "%v: %v", c, ticks)
	}
}
