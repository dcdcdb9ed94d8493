package report

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// collect is a Collector holding the given line and bar charts.
func collect(t *testing.T, line LineChart, bars BarChart) *Collector {
	t.Helper()
	c := new(Collector)
	require.NoError(t, c.AddLine("curve", line))
	require.NoError(t, c.AddBars("bars", bars))
	return c
}

func TestMergeRunsMeansAndSpreads(t *testing.T) {
	a := collect(t,
		LineChart{Title: "T", Series: []Series{{Name: "s", X: []float64{1, 2}, Y: []float64{10, 20}}}},
		BarChart{Title: "B", Bars: []Bar{{Label: "2", Value: 4}, {Label: "3", Value: 6, Note: ">10 (not healed)"}}})
	b := collect(t,
		LineChart{Title: "T", Series: []Series{{Name: "s", X: []float64{1, 2, 3}, Y: []float64{30, math.NaN(), 5}}}},
		BarChart{Title: "B", Bars: []Bar{{Label: "1", Value: 2}, {Label: "3", Value: 2}}})
	got := new(Collector)
	require.NoError(t, MergeRuns(got, []*Collector{a, b}, "seeds 1..2"))
	require.Len(t, got.charts, 3, "the curve, its spread, the bars")

	mean, spread, bars := got.charts[0], got.charts[1], got.charts[2]
	require.Equal(t, "curve", mean.name)
	require.Equal(t, "T, mean over seeds 1..2", mean.line.Title)
	require.Equal(t, []float64{1, 2, 3}, mean.line.Series[0].X, "the union of the runs' points")
	require.Equal(t, []float64{20, 20, 5}, mean.line.Series[0].Y, "a point a run lacks is the mean of the others")
	require.Equal(t, "curve-spread", spread.name)
	require.InDelta(t, math.Sqrt(200), spread.line.Series[0].Y[0], 1e-9)
	require.Equal(t, []float64{0, 0}, spread.line.Series[0].Y[1:], "one value: no spread")

	require.Equal(t, "bars", bars.name)
	var labels []string
	for _, bar := range bars.bars.Bars {
		labels = append(labels, bar.Label)
	}
	require.Equal(t, []string{"1", "2", "3"}, labels, "numeric labels in order")
	require.Equal(t, 1.0, bars.bars.Bars[0].Value, "a bar a run lacks counts 0")
	require.Equal(t, 4.0, bars.bars.Bars[2].Value)
	require.Equal(t, "4 ± 2.828; >10 (not healed) in 1 of 2", bars.bars.Bars[2].Note)
}

func TestMergeRunsRefusesRunsThatDiffer(t *testing.T) {
	line := LineChart{Series: []Series{{Name: "s", X: []float64{1}, Y: []float64{1}}}}
	bars := BarChart{Bars: []Bar{{Label: "1", Value: 1}}}
	a := collect(t, line, bars)
	short := new(Collector)
	require.NoError(t, short.AddLine("curve", line))
	require.ErrorContains(t, MergeRuns(new(Collector), []*Collector{a, short}, "x"), "made 1 charts, run 0 made 2")
	other := collect(t, LineChart{Series: []Series{{Name: "t", X: []float64{1}, Y: []float64{1}}}}, bars)
	require.ErrorContains(t, MergeRuns(new(Collector), []*Collector{a, other}, "x"), "series differ")
	require.NoError(t, MergeRuns(new(Collector), nil, "x"), "no run, no chart")
}
