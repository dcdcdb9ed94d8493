package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func sample(t *testing.T) *Report {
	t.Helper()
	r := New("Results & <more>")
	r.AddTable("A table", "a  b\n1  2\n")
	require.NoError(t, r.AddLine("lines", LineChart{
		Title: "Two series", XLabel: "cycle", YLabel: "value",
		Series: []Series{
			{Name: "first", X: []float64{0, 1, 2, 3, 4}, Y: []float64{0.5, 0.6, math.NaN(), 1, 0.9}},
			{Name: "second <b>", X: []float64{1, 5}, Y: []float64{2, 0.25}},
		},
	}))
	require.NoError(t, r.AddBars("bars", BarChart{
		Title: "Histogram", XLabel: "degree", YLabel: "nodes",
		Bars: []Bar{{Label: "3", Value: 10}, {Label: "4", Value: 0}, {Label: "5", Value: 7, Note: ">5"}},
	}))
	return r
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return rows
}

func TestWriteProducesParsableFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	require.NoError(t, sample(t).Write(dir))

	require.Equal(t, [][]string{
		{"cycle", "first", "second <b>"},
		{"0", "0.5", ""},
		{"1", "0.6", "2"},
		{"2", "", ""},
		{"3", "1", ""},
		{"4", "0.9", ""},
		{"5", "", "0.25"},
	}, readCSV(t, filepath.Join(dir, "lines.csv")))
	require.Equal(t, [][]string{
		{"degree", "nodes", "note"},
		{"3", "10", ""},
		{"4", "0", ""},
		{"5", "7", ">5"},
	}, readCSV(t, filepath.Join(dir, "bars.csv")))

	for _, name := range []string{"lines.svg", "bars.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		requireXML(t, data)
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	for _, want := range []string{`src="lines.svg"`, `src="bars.svg"`, `href="lines.csv"`, `href="bars.csv"`,
		"Results &amp; &lt;more&gt;", "<pre>a  b\n1  2\n</pre>"} {
		require.Contains(t, string(index), want)
	}
	lines, _ := os.ReadFile(filepath.Join(dir, "lines.svg"))
	require.Contains(t, string(lines), "second &lt;b&gt;", "legend names are escaped")
	require.Equal(t, 3, strings.Count(string(lines), "<polyline"), "the NaN breaks the first series in two; the second is one line")
}

func requireXML(t *testing.T, data []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
	}
}

func TestWriteIsByteIdentical(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	require.NoError(t, sample(t).Write(a))
	require.NoError(t, sample(t).Write(b))
	entries, err := os.ReadDir(a)
	require.NoError(t, err)
	require.Len(t, entries, 5)
	for _, e := range entries {
		x, err := os.ReadFile(filepath.Join(a, e.Name()))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		require.NoError(t, err)
		require.Equal(t, x, y, e.Name())
	}
}

func TestRejectsBadChartsAndPaths(t *testing.T) {
	r := New("x")
	line := LineChart{Series: []Series{{Name: "s", X: []float64{1}, Y: []float64{1}}}}
	require.NoError(t, r.AddLine("ok", line))
	require.ErrorContains(t, r.AddLine("ok", line), "used twice")
	require.ErrorContains(t, r.AddLine("../escape", line), "report:")
	require.ErrorContains(t, r.AddLine("index", line), "report:")
	require.ErrorContains(t, r.AddLine("short", LineChart{Series: []Series{{X: []float64{1, 2}, Y: []float64{1}}}}), "report:")
	require.ErrorContains(t, r.AddLine("empty", LineChart{}), "no series")
	require.ErrorContains(t, r.AddBars("inf", BarChart{Bars: []Bar{{Value: math.Inf(1)}}}), "not finite")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	err := r.Write(filepath.Join(file, "sub"))
	require.ErrorContains(t, err, "report: cannot create output directory")
}

func TestNumberIsShortAndFixed(t *testing.T) {
	require.Equal(t, "2.8", number(100*0.028))
	require.Equal(t, "0.25", number(0.25))
	require.Equal(t, "31", number(31))
	require.Equal(t, "", number(math.NaN()))
}

func TestNiceAxis(t *testing.T) {
	a := niceAxis(0.13, 0.97)
	require.Equal(t, 0.2, a.step)
	require.Equal(t, 0.0, a.lo)
	require.InDelta(t, 1.0, a.hi, 1e-12)
	require.Len(t, a.ticks, 6)
	require.Equal(t, "0.6", a.label(a.ticks[3]))

	a = niceAxis(-3, 47)
	require.Equal(t, 10.0, a.step)
	require.Equal(t, []string{"-10", "0", "10", "20", "30", "40", "50"}, labels(a))

	a = niceAxis(5, 5)
	require.LessOrEqual(t, a.lo, 4.0)
	require.GreaterOrEqual(t, a.hi, 6.0)
}

func labels(a axis) []string {
	var out []string
	for _, t := range a.ticks {
		out = append(out, a.label(t))
	}
	return out
}
