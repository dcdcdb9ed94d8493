package harness

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", ms(7), 50, 7 * time.Millisecond},
		{"one sample p99", ms(7), 99, 7 * time.Millisecond},
		{"two samples p50 is the lower", ms(9, 3), 50, 3 * time.Millisecond},
		{"two samples p99 is the higher", ms(9, 3), 99, 9 * time.Millisecond},
		{"odd count median", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"hundred p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"hundred p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred p100", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p clamps to the minimum", ms(4, 2, 8), 0.001, 2 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tc.samples...)
			assert.Equal(t, tc.want, Percentile(tc.samples, tc.p))
			assert.Equal(t, before, tc.samples, "samples must not be reordered")
		})
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v, b   Cell
		want   string
		wantOK bool
	}{
		{"plain", Num(50), Num(100), "0.5×", true},
		{"larger", Num(750), Num(100), "7.50×", true},
		{"tiny", Num(1), Num(199), "0.00503×", true},
		{"zero base", Num(3), Num(0), "—", false},
		{"failed value", Failed("x"), Num(1), "—", false},
		{"failed base", Num(1), Failed("x"), "—", false},
		{"text", NA(), Num(1), "—", false},
		{"NaN", Num(math.NaN()), Num(1), "—", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := Ratio(tc.v, tc.b)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.want, FormatRatio(r, ok))
		})
	}
}

func TestCellFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Cell
		u    Unit
		want string
	}{
		{"zero", Num(0), Seconds, "0 s"},
		{"big", Num(12345.6), PerSec, "12346 /s"},
		{"hundreds", Num(203.345), Millis, "203 ms"},
		{"tens", Num(42.04), Millis, "42.0 ms"},
		{"units", Num(1.074), Seconds, "1.07 s"},
		{"below one", Num(0.4031), Seconds, "0.403 s"},
		{"small", Num(0.0012345), Seconds, "0.00123 s"},
		{"trailing zeros dropped", Num(0.5), Seconds, "0.5 s"},
		{"negative", Num(-2.5), Count, "-2.50"},
		{"count has no unit", Num(3), Count, "3.00"},
		{"detail", Cell{Value: 1277, Detail: "4.99× payload"}, Bytes, "1277 B (4.99× payload)"},
		{"failed", Failed("not converged after %s", "3s"), Seconds, "failed: not converged after 3s"},
		{"text", Cell{Text: "yes", Detail: "checked"}, Count, "yes (checked)"},
		{"n/a", NA(), Seconds, "n/a"},
		{"infinite is a failure", Num(math.Inf(1)), Seconds, "failed: not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.c.Format(tc.u))
		})
	}
}

func TestSizeLabel(t *testing.T) {
	for size, want := range map[int]string{256: "256 B", 4096: "4 KiB", 1000: "1000 B", 1536: "1536 B", 65536: "64 KiB"} {
		assert.Equal(t, want, SizeLabel(size))
	}
}

func testResults() []Result {
	a := Result{System: "alpha"}
	a.Set("x", Num(100))
	a.Set("y", Failed("boom | bang"))
	b := Result{System: "beta", Notes: []string{"tuned"}}
	b.Set("x", Num(25))
	b.Set("y", Num(3))
	return []Result{a, b}
}

func TestTable(t *testing.T) {
	rows := []Row{{"x", "metric x", Millis}, {"y", "metric y", Seconds}, {"z", "metric z", Count}}
	got := Table(rows, testResults())
	want := [][]string{
		{"metric", "alpha", "beta", "beta ÷ alpha"},
		{"metric x", "100 ms", "25.0 ms", "0.25×"},
		{"metric y", "failed: boom | bang", "3.00 s", "—"},
		{"metric z", "failed: not measured", "failed: not measured", "—"},
	}
	assert.Equal(t, want, got)

	one := Table(rows[:1], testResults()[:1])
	assert.Equal(t, [][]string{{"metric", "alpha"}, {"metric x", "100 ms"}}, one, "one system has no ratio column")
}

func TestWriteMarkdown(t *testing.T) {
	var buf bytes.Buffer
	rows := []Row{{"x", "metric x", Millis}, {"y", "metric y", Seconds}}
	require.NoError(t, WriteMarkdown(&buf, Table(rows, testResults())))
	want := "| metric | alpha | beta | beta ÷ alpha |\n" +
		"|---|---:|---:|---:|\n" +
		"| metric x | 100 ms | 25.0 ms | 0.25× |\n" +
		"| metric y | failed: boom \\| bang | 3.00 s | — |\n"
	assert.Equal(t, want, buf.String())
}

func TestWriteTextAligns(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, [][]string{{"a", "µs×"}, {"longer", "x"}}))
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "a       µs×", lines[0], "columns align by runes, not bytes")
	assert.Equal(t, "longer  x", lines[1])
}

func TestReport(t *testing.T) {
	var buf bytes.Buffer
	m := Machine{CPUs: 2, Model: "Test CPU", GoVersion: "go1.26", OS: "linux", Arch: "amd64"}
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	rows := []Row{{"x", "metric x", Millis}}
	results := testResults()
	require.NoError(t, Report(&buf, "cd bench && go run ./cmd/compare", m, at, Table(rows, results), results))
	s := buf.String()
	assert.Contains(t, s, "## Comparison of 2026-01-02 03:04 UTC")
	assert.Contains(t, s, "Command: `cd bench && go run ./cmd/compare`")
	assert.Contains(t, s, "Machine: 2 CPUs (nproc), Test CPU, linux/amd64, go1.26")
	assert.Contains(t, s, "| metric x | 100 ms | 25.0 ms | 0.25× |")
	assert.Contains(t, s, "- beta: tuned")
}

func TestRowsCoverSizes(t *testing.T) {
	o := Options{Sizes: []int{4096, 256}, Window: 8, Sustain: time.Second}
	keys := map[string]bool{}
	for _, r := range Rows(o) {
		assert.False(t, keys[r.Key], "duplicate key %s", r.Key)
		keys[r.Key] = true
	}
	for _, k := range []string{KeyP50(256), KeyP99(4096), KeyBytes(256), KeyBytes(4096), KeyRate, KeyFail, KeyWall, KeyIdleCPU, KeyIdleBytes} {
		assert.True(t, keys[k], k)
	}
	assert.Equal(t, 256, o.sustainSize(), "the sustained phase uses the smallest size")
	assert.Equal(t, "join convergence", Rows(o)[0].Label)
	o.Nodes, o.JoinRate = 101, 20
	assert.Equal(t, "join convergence, nodes joining at 20 a second (the last starts after 4.95s)", Rows(o)[0].Label, "a paced join says so")
}

func TestPercentileLost(t *testing.T) {
	hundred := make([]time.Duration, 97)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		lost    int
		p       float64
		want    time.Duration
		wantOK  bool
	}{
		{"nothing", nil, 0, 50, 0, false},
		{"all lost", nil, 3, 50, 0, false},
		{"no loss is Percentile", hundred, 0, 99, 97 * time.Millisecond, true},
		{"p50 with 3% lost", hundred, 3, 50, 50 * time.Millisecond, true},
		{"p97 with 3% lost", hundred, 3, 97, 97 * time.Millisecond, true},
		{"p99 with 3% lost is lost", hundred, 3, 99, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PercentileLost(tc.samples, tc.lost, tc.p)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}
