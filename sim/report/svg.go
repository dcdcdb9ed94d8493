package report

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The canvas: every chart is width × height pixels, with the plot area
// inside the margins. Line charts keep legendWidth on the right for the
// legend.
const (
	width       = 800
	height      = 440
	marginLeft  = 72
	marginRight = 24
	marginTop   = 44
	marginBelow = 56
	legendWidth = 190
	markerLimit = 40 // series with at most this many points get markers
)

// palette holds the series' colours, reused in turn past its length.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// frame maps data coordinates to the plot area.
type frame struct {
	left, right, top, bottom float64 // pixel bounds of the plot area
	x, y                     axis
}

func (f frame) px(x float64) float64 {
	return f.left + (x-f.x.lo)/(f.x.hi-f.x.lo)*(f.right-f.left)
}

func (f frame) py(y float64) float64 {
	return f.bottom - (y-f.y.lo)/(f.y.hi-f.y.lo)*(f.bottom-f.top)
}

// axis is a data range extended to whole ticks.
type axis struct {
	lo, hi, step float64
	ticks        []float64
}

// niceAxis returns an axis from at most lo to at least hi, with about five
// ticks at multiples of 1, 2 or 5 times a power of ten.
func niceAxis(lo, hi float64) axis {
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	a := axis{lo: first * step, hi: last * step, step: step}
	for i := first; i <= last; i++ {
		a.ticks = append(a.ticks, i*step)
	}
	return a
}

// label formats a tick with as many decimals as the step needs.
func (a axis) label(v float64) string {
	decimals := max(0, int(-math.Floor(math.Log10(a.step)+1e-9)))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// coord formats a pixel coordinate.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func esc(s string) string { return html.EscapeString(s) }

// open writes the SVG header, the background and the title.
func open(b *bytes.Buffer, title string) {
	fmt.Fprintf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
		width, height, width, height)
	fmt.Fprintf(b, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height)
	fmt.Fprintf(b, "<text x=\"%d\" y=\"26\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", width/2, esc(title))
}

// axes draws the grid, the ticks with their labels, the frame and the
// axis labels; xTicks is false when the caller labels the x axis itself.
func axes(b *bytes.Buffer, f frame, xLabel, yLabel string, xTicks bool) {
	for _, t := range f.y.ticks {
		y := coord(f.py(t))
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#e5e5e5\"/>\n", coord(f.left), y, coord(f.right), y)
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>\n", coord(f.left-5), y, coord(f.left), y)
		fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"end\" dominant-baseline=\"middle\">%s</text>\n", coord(f.left-8), y, f.y.label(t))
	}
	if xTicks {
		for _, t := range f.x.ticks {
			x := coord(f.px(t))
			fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"#e5e5e5\"/>\n", x, coord(f.top), x, coord(f.bottom))
			fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"black\"/>\n", x, coord(f.bottom), x, coord(f.bottom+5))
			fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n", x, coord(f.bottom+19), f.x.label(t))
		}
	}
	fmt.Fprintf(b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" stroke=\"black\"/>\n",
		coord(f.left), coord(f.top), coord(f.right-f.left), coord(f.bottom-f.top))
	fmt.Fprintf(b, "<text x=\"%s\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", coord((f.left+f.right)/2), height-12, esc(xLabel))
	fmt.Fprintf(b, "<text transform=\"translate(18 %s) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", coord((f.top+f.bottom)/2), esc(yLabel))
}

// writeSVG draws the series as lines, with markers when they are short,
// and a legend on the right.
func (c LineChart) writeSVG(b *bytes.Buffer) {
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i, x := range s.X {
			xlo, xhi = min(xlo, x), max(xhi, x)
			if y := s.Y[i]; !math.IsNaN(y) {
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	if math.IsInf(xlo, 0) {
		xlo, xhi = 0, 1
	}
	if math.IsInf(ylo, 0) {
		ylo, yhi = 0, 1
	}
	xa := niceAxis(xlo, xhi)
	xa.lo, xa.hi = xlo, xhi // lines span the whole width
	if xlo == xhi {
		xa.lo, xa.hi = xlo-1, xhi+1
	}
	xa.ticks = inside(xa.ticks, xa.lo, xa.hi)
	f := frame{left: marginLeft, right: width - legendWidth, top: marginTop, bottom: height - marginBelow,
		x: xa, y: niceAxis(ylo, yhi)}
	open(b, c.Title)
	axes(b, f, c.XLabel, c.YLabel, true)
	for i, s := range c.Series {
		colour := palette[i%len(palette)]
		var pts []string
		line := func() {
			if len(pts) > 1 {
				fmt.Fprintf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>\n", colour, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for j, x := range s.X {
			if math.IsNaN(s.Y[j]) {
				line()
				continue
			}
			pts = append(pts, coord(f.px(x))+","+coord(f.py(s.Y[j])))
		}
		line()
		if len(s.X) <= markerLimit {
			for j, x := range s.X {
				if !math.IsNaN(s.Y[j]) {
					fmt.Fprintf(b, "<circle cx=\"%s\" cy=\"%s\" r=\"3\" fill=\"%s\"/>\n", coord(f.px(x)), coord(f.py(s.Y[j])), colour)
				}
			}
		}
		ly := f.top + 8 + float64(i)*18
		lx := f.right + 14
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" stroke=\"%s\" stroke-width=\"2.5\"/>\n", coord(lx), coord(ly), coord(lx+22), coord(ly), colour)
		fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" dominant-baseline=\"middle\" font-size=\"11\">%s</text>\n", coord(lx+28), coord(ly), esc(s.Name))
	}
	b.WriteString("</svg>\n")
}

// inside keeps the ticks within [lo, hi].
func inside(ticks []float64, lo, hi float64) []float64 {
	var out []float64
	for _, t := range ticks {
		if t >= lo-1e-9*(hi-lo) && t <= hi+1e-9*(hi-lo) {
			out = append(out, t)
		}
	}
	return out
}

// writeSVG draws one bar per category from zero, with its value or note
// above it and its label below.
func (c BarChart) writeSVG(b *bytes.Buffer) {
	lo, hi := 0.0, 0.0
	for _, bar := range c.Bars {
		lo, hi = min(lo, bar.Value), max(hi, bar.Value)
	}
	// Headroom above the tallest bar for its value.
	f := frame{left: marginLeft, right: width - marginRight, top: marginTop, bottom: height - marginBelow,
		x: axis{lo: 0, hi: float64(len(c.Bars))}, y: niceAxis(lo, hi+0.06*(hi-lo))}
	open(b, c.Title)
	axes(b, f, c.XLabel, c.YLabel, false)
	slot := (f.right - f.left) / float64(len(c.Bars))
	every := (len(c.Bars) + 29) / 30 // at most 30 labels
	for i, bar := range c.Bars {
		x0 := f.px(float64(i)) + 0.15*slot
		top, base := f.py(max(bar.Value, 0)), f.py(min(bar.Value, 0))
		fmt.Fprintf(b, "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"%s\"/>\n",
			coord(x0), coord(top), coord(0.7*slot), coord(base-top), palette[0])
		mid := coord(x0 + 0.35*slot)
		if i%every == 0 {
			fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>\n", mid, coord(f.bottom+19), esc(bar.Label))
		}
		note := bar.Note
		if note == "" {
			note = number(bar.Value)
		}
		if len(c.Bars) <= 30 {
			fmt.Fprintf(b, "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n", mid, coord(top-5), esc(note))
		}
	}
	b.WriteString("</svg>\n")
}
