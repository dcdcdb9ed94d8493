package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// Series is one named line of a line chart: the points (X[i], Y[i]). A NaN
// Y is a missing point: the line breaks there and the CSV cell is empty.
type Series struct {
	Name string
	X, Y []float64
}

// LineChart is a plot of one or more series against a common x axis.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
}

// Bar is one bar of a bar chart. Note, if set, is printed above the bar
// instead of its value and goes to the CSV's note column.
type Bar struct {
	Label string
	Value float64
	Note  string
}

// BarChart is a plot of one value per category, such as a histogram.
type BarChart struct {
	Title, XLabel, YLabel string
	Bars                  []Bar
}

func (c LineChart) title() string { return c.Title }
func (c BarChart) title() string  { return c.Title }

func (c LineChart) validate() error {
	if len(c.Series) == 0 {
		return errors.New("no series")
	}
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("series %q has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		for i, x := range s.X {
			if !finite(x) || math.IsInf(s.Y[i], 0) {
				return fmt.Errorf("series %q: point %d is not finite", s.Name, i)
			}
		}
	}
	return nil
}

func (c BarChart) validate() error {
	if len(c.Bars) == 0 {
		return errors.New("no bars")
	}
	for _, b := range c.Bars {
		if !finite(b.Value) {
			return fmt.Errorf("bar %q is not finite", b.Label)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// number formats v for a CSV cell with at most 12 significant digits, so
// that 100 × 0.028 reads 2.8.
func number(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 12, 64)
}

// xs returns every x value of the chart's series, sorted, each once.
func (c LineChart) xs() []float64 {
	var all []float64
	for _, s := range c.Series {
		all = append(all, s.X...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// writeCSV writes one row per x value of any series: the x value, then
// each series' y at that x, empty where the series has none.
func (c LineChart) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{orDefault(c.XLabel, "x")}
	at := make([]map[float64]float64, len(c.Series)) // lookups only
	for i, s := range c.Series {
		head = append(head, s.Name)
		at[i] = make(map[float64]float64, len(s.X))
		for j := len(s.X) - 1; j >= 0; j-- { // the first point at an x wins
			at[i][s.X[j]] = s.Y[j]
		}
	}
	cw.Write(head)
	for _, x := range c.xs() {
		row := []string{number(x)}
		for i := range c.Series {
			y, ok := at[i][x]
			if !ok {
				y = math.NaN()
			}
			row = append(row, number(y))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// writeCSV writes one row per bar: label, value and, if any bar has one,
// its note.
func (c BarChart) writeCSV(w io.Writer) error {
	notes := slices.ContainsFunc(c.Bars, func(b Bar) bool { return b.Note != "" })
	cw := csv.NewWriter(w)
	head := []string{orDefault(c.XLabel, "label"), orDefault(c.YLabel, "value")}
	if notes {
		head = append(head, "note")
	}
	cw.Write(head)
	for _, b := range c.Bars {
		row := []string{b.Label, number(b.Value)}
		if notes {
			row = append(row, b.Note)
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
