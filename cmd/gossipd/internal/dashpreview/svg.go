package dashpreview

import (
	"bufio"
	"cmp"
	"fmt"
	"html"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one sample of a series: a Unix time in seconds and a value
// (NaN where the query had none to give, as Prometheus writes it).
type Point struct{ T, V float64 }

// Series is one series a query returned: its labels and samples.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Key names one query of a dashboard: a panel's ID and the index of the
// query among the panel's targets.
type Key struct{ Panel, Target int }

// Options size and caption a preview.
type Options struct {
	// Width is the picture's width in pixels (1100 when 0); a grid
	// column is Width/24.
	Width int
	// RowHeight is a grid row's height in pixels (24 when 0).
	RowHeight int
	// Start and End bound the time axis (Unix seconds); when End is not
	// after Start, the samples' own span is used.
	Start, End float64
	// Note is a line under the dashboard's title saying what the picture
	// is.
	Note string
}

// palette colours the series of a panel in turn (Grafana's classic order).
var palette = []string{"#56a64b", "#e0b400", "#3274d9", "#fa6400", "#e02f44", "#8f3bb8", "#37872d", "#1f60c4"}

// header is the height of the title and note above the grid.
const header = 48

// SVG writes the preview of d, drawn from data, to w: a standalone SVG
// document. Each panel is a <g class="panel"> with data-id and data-type,
// its title a <text class="title">; each series of a time series panel a
// <g class="series"> with data-legend holding polylines (a gap where the
// series has no finite value), each cell of a heatmap a <rect
// class="cell">. A panel whose queries returned nothing says "No data".
func SVG(w io.Writer, d *Dashboard, data map[Key][]Series, o Options) error {
	if o.Width <= 0 {
		o.Width = 1100
	}
	if o.RowHeight <= 0 {
		o.RowHeight = 24
	}
	if o.End <= o.Start {
		o.Start, o.End = span(data)
	}
	bw := bufio.NewWriter(w)
	s := &svg{w: bw, o: o}
	height := header + d.Rows()*o.RowHeight + 4
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		o.Width, height, o.Width, height)
	s.printf(`<rect width="%d" height="%d" fill="#f4f5f5"/>`+"\n", o.Width, height)
	s.text(8, 20, "font-size=\"16\" font-weight=\"bold\" class=\"dashboard-title\"", d.Title)
	if o.Note != "" {
		s.text(8, 38, `fill="#555" class="note"`, o.Note)
	}
	for _, p := range d.Panels {
		s.panel(p, data)
	}
	s.printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return bw.Flush()
}

// span is the time span of all samples of data.
func span(data map[Key][]Series) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, ss := range data {
		for _, sr := range ss {
			for _, pt := range sr.Points {
				lo, hi = min(lo, pt.T), max(hi, pt.T)
			}
		}
	}
	if hi <= lo {
		return 0, 1
	}
	return lo, hi
}

// svg writes a picture, keeping the first error.
type svg struct {
	w   *bufio.Writer
	o   Options
	err error
}

func (s *svg) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// text writes a <text> at x, y with extra attributes and escaped content.
func (s *svg) text(x, y float64, attrs, content string) {
	s.printf(`<text x="%.1f" y="%.1f" %s>%s</text>`+"\n", x, y, attrs, html.EscapeString(content))
}

// box is a rectangle in pixels.
type box struct{ x, y, w, h float64 }

// panel draws p in its grid place.
func (s *svg) panel(p Panel, data map[Key][]Series) {
	col := float64(s.o.Width) / 24
	rh := float64(s.o.RowHeight)
	b := box{float64(p.GridPos.X)*col + 3, header + float64(p.GridPos.Y)*rh + 3, float64(p.GridPos.W)*col - 6, float64(p.GridPos.H)*rh - 6}
	s.printf(`<g class="panel" data-id="%d" data-type="%s">`+"\n", p.ID, html.EscapeString(p.Type))
	defer s.printf("</g>\n")
	if p.Type == "row" {
		s.text(b.x+2, b.y+b.h-3, `font-size="14" font-weight="bold" class="title"`, p.Title)
		return
	}
	s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" stroke="#d8d9da"/>`+"\n", b.x, b.y, b.w, b.h)
	s.text(b.x+8, b.y+16, `font-size="12" font-weight="bold" class="title"`, p.Title)
	if p.Type == "heatmap" {
		s.heatmap(p, data, b)
		return
	}
	s.lines(p, data, b)
}

// named is a series with its legend and colour.
type named struct {
	Series
	legend, colour string
}

// lines draws a time series panel: its series, axes and legend.
func (s *svg) lines(p Panel, data map[Key][]Series, b box) {
	var all []named
	for i, t := range p.Targets {
		for _, sr := range data[Key{p.ID, i}] {
			all = append(all, named{Series: sr, legend: Legend(t.LegendFormat, sr.Labels, t.Expr), colour: palette[len(all)%len(palette)]})
		}
	}
	legendTop := s.legend(all, b)
	plot := box{b.x + 46, b.y + 26, b.w - 56, legendTop - 16 - (b.y + 26)}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, n := range all {
		for _, pt := range n.Points {
			if finite(pt.V) {
				lo, hi = min(lo, pt.V), max(hi, pt.V)
			}
		}
	}
	if math.IsInf(lo, 1) {
		s.text(b.x+b.w/2, b.y+b.h/2, `text-anchor="middle" fill="#888" class="nodata"`, "No data")
		return
	}
	lo = min(lo, 0)
	ticks := niceTicks(lo, hi)
	lo, hi = ticks[0], ticks[len(ticks)-1]
	ypix := func(v float64) float64 { return plot.y + plot.h - (v-lo)/(hi-lo)*plot.h }
	for _, v := range ticks {
		y := ypix(v)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", plot.x, y, plot.x+plot.w, y)
		s.text(plot.x-4, y+4, `text-anchor="end" fill="#555"`, formatValue(v))
	}
	s.timeAxis(plot)
	for _, n := range all {
		s.printf(`<g class="series" data-legend="%s" stroke="%s" fill="%s">`+"\n", html.EscapeString(n.legend), n.colour, n.colour)
		var run []string
		flush := func() {
			switch {
			case len(run) == 1:
				xy := strings.Split(run[0], ",")
				s.printf(`<circle cx="%s" cy="%s" r="2"/>`+"\n", xy[0], xy[1])
			case len(run) > 1:
				s.printf(`<polyline fill="none" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(run, " "))
			}
			run = run[:0]
		}
		for _, pt := range n.Points {
			if !finite(pt.V) || pt.T < s.o.Start || pt.T > s.o.End {
				flush()
				continue
			}
			run = append(run, fmt.Sprintf("%.1f,%.1f", s.xpix(plot, pt.T), ypix(pt.V)))
		}
		flush()
		s.printf("</g>\n")
	}
}

// xpix is the x of Unix time t in plot.
func (s *svg) xpix(plot box, t float64) float64 {
	return plot.x + (t-s.o.Start)/(s.o.End-s.o.Start)*plot.w
}

// timeAxis labels the time axis under plot at its ends and middle (UTC).
func (s *svg) timeAxis(plot box) {
	for i, anchor := range []string{"start", "middle", "end"} {
		t := s.o.Start + float64(i)/2*(s.o.End-s.o.Start)
		label := time.Unix(int64(math.Round(t)), 0).UTC().Format("15:04:05")
		s.text(plot.x+float64(i)/2*plot.w, plot.y+plot.h+12, `fill="#555" text-anchor="`+anchor+`"`, label)
	}
	s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#bbb"/>`+"\n", plot.x, plot.y+plot.h, plot.x+plot.w, plot.y+plot.h)
}

// legend writes the legend of all at the bottom of b, flowing in lines of
// at most b's width (three at most, then "+n more"), and returns its top.
func (s *svg) legend(all []named, b box) float64 {
	const lineH, charW = 14.0, 6.0
	var lines [][]named
	x := b.w
	for _, n := range all {
		w := 20 + charW*float64(len(n.legend))
		if x+w > b.w-16 {
			lines = append(lines, nil)
			x = 0
		}
		lines[len(lines)-1] = append(lines[len(lines)-1], n)
		x += w
	}
	more := 0
	if len(lines) > 3 {
		for _, l := range lines[3:] {
			more += len(l)
		}
		lines = lines[:3]
	}
	top := b.y + b.h - 6 - lineH*float64(len(lines))
	for i, l := range lines {
		x, y := b.x+8, top+lineH*float64(i)+10
		for j, n := range l {
			s.printf(`<rect x="%.1f" y="%.1f" width="10" height="4" fill="%s"/>`+"\n", x, y-5, n.colour)
			label := n.legend
			if more > 0 && i == len(lines)-1 && j == len(l)-1 {
				label += fmt.Sprintf("  (+%d more)", more)
			}
			s.text(x+14, y, `class="legend"`, label)
			x += 20 + charW*float64(len(n.legend))
		}
	}
	return top
}

// heatmap draws a heatmap panel: its query's series are the cumulative
// buckets of a histogram (label le), which it turns into counts per bucket
// as Grafana does for the heatmap format, one row of cells each, a column
// per sample time, darker for more.
func (s *svg) heatmap(p Panel, data map[Key][]Series, b box) {
	var buckets []Series
	for i := range p.Targets {
		buckets = append(buckets, data[Key{p.ID, i}]...)
	}
	le := func(sr Series) float64 {
		v, err := strconv.ParseFloat(sr.Labels["le"], 64)
		if err != nil {
			return math.Inf(1)
		}
		return v
	}
	slices.SortStableFunc(buckets, func(a, b Series) int { return cmp.Compare(le(a), le(b)) })
	times := map[float64]bool{}
	for _, sr := range buckets {
		for _, pt := range sr.Points {
			if pt.T >= s.o.Start && pt.T <= s.o.End {
				times[pt.T] = true
			}
		}
	}
	if len(buckets) == 0 || len(times) == 0 {
		s.text(b.x+b.w/2, b.y+b.h/2, `text-anchor="middle" fill="#888" class="nodata"`, "No data")
		return
	}
	// counts[i][t]: the samples of bucket i at t less those of bucket i-1.
	counts := make([]map[float64]float64, len(buckets))
	peak := 0.0
	for i, sr := range buckets {
		counts[i] = map[float64]float64{}
		for _, pt := range sr.Points {
			if finite(pt.V) && times[pt.T] {
				counts[i][pt.T] = pt.V
			}
		}
	}
	for i := len(buckets) - 1; i > 0; i-- {
		for t, v := range counts[i] {
			counts[i][t] = max(0, v-counts[i-1][t])
		}
	}
	for _, c := range counts {
		for _, v := range c {
			peak = max(peak, v)
		}
	}
	plot := box{b.x + 46, b.y + 26, b.w - 56, b.h - 26 - 36}
	s.timeAxis(plot)
	// A sample at t counts what happened in the step before t: its cell
	// spans from t less the shortest step between samples to t.
	step := s.o.End - s.o.Start
	sorted := slices.Sorted(maps.Keys(times))
	for i := 1; i < len(sorted); i++ {
		step = min(step, sorted[i]-sorted[i-1])
	}
	cellH := plot.h / float64(len(buckets))
	every := int(math.Ceil(12 / cellH)) // label rows 12 px apart at least
	for i, sr := range buckets {
		y := plot.y + plot.h - float64(i+1)*cellH
		if i%every == 0 {
			s.text(plot.x-4, y+cellH/2+4, `text-anchor="end" fill="#555"`, sr.Labels["le"])
		}
		for _, t := range sorted {
			v := counts[i][t]
			if v <= 0 {
				continue
			}
			shade := 0.15 + 0.85*v/peak
			x0, x1 := max(plot.x, s.xpix(plot, t-step)), s.xpix(plot, t)
			s.printf(`<rect class="cell" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#c4162a" fill-opacity="%.2f" data-le="%s" data-value="%s"/>`+"\n",
				x0, y+0.5, max(x1-x0-1, 1), cellH-1, shade, html.EscapeString(sr.Labels["le"]), formatValue(v))
		}
	}
	s.text(b.x+8, b.y+b.h-8, `fill="#555" class="legend"`, fmt.Sprintf("deliveries per bucket (le), darkest = %s", formatValue(peak)))
}

// finite reports whether v is a number to draw.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// niceTicks returns 3 to 6 evenly spaced round values from at most lo to
// at least hi.
func niceTicks(lo, hi float64) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Floor(lo/step) * step; ; v += step {
		out = append(out, v)
		if v >= hi-step*1e-9 {
			return out
		}
	}
}

// formatValue writes v short: at most 3 significant digits.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a < 1e-12:
		return "0"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
