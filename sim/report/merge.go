package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Sink receives charts: a Report renders them, a Collector keeps them so
// that the charts of several runs can be merged (MergeRuns).
type Sink interface {
	AddLine(name string, c LineChart) error
	AddBars(name string, c BarChart) error
}

var _ Sink = (*Report)(nil)

// Collector keeps the charts of one run, in the order they were added.
type Collector struct {
	charts []collected
}

// collected is one chart a Collector kept: a line chart or a bar chart.
type collected struct {
	name string
	line *LineChart
	bars *BarChart
}

// AddLine keeps a line chart.
func (c *Collector) AddLine(name string, l LineChart) error {
	if err := l.validate(); err != nil {
		return fmt.Errorf("report: chart %q: %w", name, err)
	}
	c.charts = append(c.charts, collected{name: name, line: &l})
	return nil
}

// AddBars keeps a bar chart.
func (c *Collector) AddBars(name string, b BarChart) error {
	if err := b.validate(); err != nil {
		return fmt.Errorf("report: chart %q: %w", name, err)
	}
	c.charts = append(c.charts, collected{name: name, bars: &b})
	return nil
}

// MergeRuns adds to dst, for each chart the runs made (every run must
// have made the same charts, in the same order, with the same series and
// bars), the mean over the runs and the spread: a line chart becomes the
// chart of the means, point by point (a point some runs lack is the mean
// of the others), and a chart named <name>-spread of the sample standard
// deviations; a bar chart becomes the chart of the mean values (a bar a
// run lacks counts 0), each bar's note giving mean ± standard deviation,
// and the notes some runs gave (a run that never healed) with how many
// runs gave them. what names the runs
// in the titles, such as "seeds 1..5".
func MergeRuns(dst Sink, runs []*Collector, what string) error {
	if len(runs) == 0 {
		return nil
	}
	first := runs[0].charts
	for i, r := range runs[1:] {
		if len(r.charts) != len(first) {
			return fmt.Errorf("report: run %d made %d charts, run 0 made %d", i+1, len(r.charts), len(first))
		}
	}
	for k, ch := range first {
		for i, r := range runs {
			if r.charts[k].name != ch.name || (r.charts[k].line == nil) != (ch.line == nil) {
				return fmt.Errorf("report: run %d's chart %d is %q, run 0's %q", i, k, r.charts[k].name, ch.name)
			}
		}
		var err error
		if ch.line != nil {
			err = mergeLines(dst, ch.name, runs, k, what)
		} else {
			err = mergeBars(dst, ch.name, runs, k, what)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mergeLines merges the k-th chart of every run, a line chart.
func mergeLines(dst Sink, name string, runs []*Collector, k int, what string) error {
	base := *runs[0].charts[k].line
	mean := LineChart{Title: fmt.Sprintf("%s, mean over %s", base.Title, what), XLabel: base.XLabel, YLabel: base.YLabel}
	spread := LineChart{Title: fmt.Sprintf("%s, standard deviation over %s", base.Title, what), XLabel: base.XLabel, YLabel: base.YLabel}
	for s, series := range base.Series {
		var xs []float64
		for i, r := range runs {
			rs := r.charts[k].line.Series
			if len(rs) != len(base.Series) || rs[s].Name != series.Name {
				return fmt.Errorf("report: chart %q: run %d's series differ from run 0's", name, i)
			}
			for _, x := range rs[s].X {
				if !slices.Contains(xs, x) {
					xs = append(xs, x)
				}
			}
		}
		slices.Sort(xs)
		m, sd := Series{Name: series.Name, X: xs}, Series{Name: series.Name, X: xs}
		for _, x := range xs {
			var ys []float64
			for _, r := range runs {
				rs := r.charts[k].line.Series[s]
				if i := slices.Index(rs.X, x); i >= 0 && finite(rs.Y[i]) {
					ys = append(ys, rs.Y[i])
				}
			}
			mu, sigma := meanSD(ys)
			m.Y, sd.Y = append(m.Y, mu), append(sd.Y, sigma)
		}
		mean.Series, spread.Series = append(mean.Series, m), append(spread.Series, sd)
	}
	if err := dst.AddLine(name, mean); err != nil {
		return err
	}
	return dst.AddLine(name+"-spread", spread)
}

// mergeBars merges the k-th chart of every run, a bar chart. Bars are
// matched by label; a bar some runs lack counts 0 for them (a histogram's
// empty class). Labels that are all numbers come out in numeric order,
// others in the order the runs first give them.
func mergeBars(dst Sink, name string, runs []*Collector, k int, what string) error {
	base := *runs[0].charts[k].bars
	out := BarChart{Title: fmt.Sprintf("%s, mean over %s", base.Title, what), XLabel: base.XLabel, YLabel: base.YLabel}
	var labels []string
	for _, r := range runs {
		for _, b := range r.charts[k].bars.Bars {
			if !slices.Contains(labels, b.Label) {
				labels = append(labels, b.Label)
			}
		}
	}
	sortNumeric(labels)
	for _, label := range labels {
		var vs []float64
		notes := map[string]int{}
		var order []string
		for _, r := range runs {
			v := 0.0
			for _, b := range r.charts[k].bars.Bars {
				if b.Label != label {
					continue
				}
				v = b.Value
				if b.Note != "" {
					if notes[b.Note] == 0 {
						order = append(order, b.Note)
					}
					notes[b.Note]++
				}
			}
			vs = append(vs, v)
		}
		mu, sigma := meanSD(vs)
		note := short(mu) + " ± " + short(sigma)
		for _, n := range order {
			note += fmt.Sprintf("; %s in %d of %d", n, notes[n], len(runs))
		}
		out.Bars = append(out.Bars, Bar{Label: label, Value: mu, Note: note})
	}
	return dst.AddBars(name, out)
}

// sortNumeric sorts labels by value when every one is a number.
func sortNumeric(labels []string) {
	vals := make(map[string]float64, len(labels))
	for _, l := range labels {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			return
		}
		vals[l] = v
	}
	slices.SortStableFunc(labels, func(a, b string) int { return cmp.Compare(vals[a], vals[b]) })
}

// short formats a mean or a spread with four significant digits.
func short(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// meanSD returns the mean and the sample standard deviation of vs (0 for
// one value; NaN, a missing point, for none).
func meanSD(vs []float64) (float64, float64) {
	if len(vs) == 0 {
		return math.NaN(), math.NaN()
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	mu := sum / float64(len(vs))
	if len(vs) == 1 {
		return mu, 0
	}
	var ss float64
	for _, v := range vs {
		ss += (v - mu) * (v - mu)
	}
	return mu, math.Sqrt(ss / float64(len(vs)-1))
}
