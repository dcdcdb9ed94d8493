package harness

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of samples by the
// nearest-rank method: the smallest sample such that at least p percent of
// the samples are less than or equal to it. It returns 0 for no samples.
// samples need not be sorted and is not modified.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// PercentileLost is Percentile over samples plus lost samples that never
// completed and count as infinitely late; ok is false when the percentile
// falls among the lost ones (or there are no samples at all).
func PercentileLost(samples []time.Duration, lost int, p float64) (d time.Duration, ok bool) {
	total := len(samples) + lost
	if total == 0 {
		return 0, false
	}
	rank := max(1, min(int(math.Ceil(p/100*float64(total))), total))
	if rank > len(samples) {
		return 0, false
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return s[rank-1], true
}

// Ratio returns v/base and whether the ratio is meaningful: both cells hold
// numbers and base is not zero.
func Ratio(v, base Cell) (float64, bool) {
	if !v.Numeric() || !base.Numeric() || base.Value == 0 {
		return 0, false
	}
	return v.Value / base.Value, true
}

// FormatRatio prints a ratio such as "0.021×" or "7.50×", or "—" if not ok.
func FormatRatio(r float64, ok bool) string {
	if !ok {
		return "—"
	}
	return sig3(r) + "×"
}

// Unit says how a metric's value is printed.
type Unit string

// The units of the comparison's metrics.
const (
	Seconds Unit = "s"
	Millis  Unit = "ms"
	Micros  Unit = "µs"
	Bytes   Unit = "B"
	MiB     Unit = "MiB"
	PerSec  Unit = "/s"
	Count   Unit = ""
)

// Cell is one system's value for one metric: a number, a text (such as
// "n/a"), or a failure.
type Cell struct {
	// Value is the number, in the row's unit.
	Value float64 `json:"value,omitempty"`
	// Text, if set, is printed instead of Value and makes the cell
	// non-numeric.
	Text string `json:"text,omitempty"`
	// Err, if set, is the reason the phase failed; it is printed as
	// "failed: Err".
	Err string `json:"err,omitempty"`
	// Detail, if set, is printed in parentheses after the value.
	Detail string `json:"detail,omitempty"`
}

// Num returns a numeric cell.
func Num(v float64) Cell { return Cell{Value: v} }

// Failed returns a cell for a phase that failed for the reason given.
func Failed(format string, args ...any) Cell { return Cell{Err: fmt.Sprintf(format, args...)} }

// NA returns a cell for a metric that does not apply to a system.
func NA() Cell { return Cell{Text: "n/a"} }

// Numeric reports whether c holds a number.
func (c Cell) Numeric() bool {
	return c.Err == "" && c.Text == "" && !math.IsNaN(c.Value) && !math.IsInf(c.Value, 0)
}

// Format prints the cell in unit u.
func (c Cell) Format(u Unit) string {
	var s string
	switch {
	case c.Err != "":
		s = "failed: " + c.Err
	case c.Text != "":
		s = c.Text
	case !c.Numeric():
		s = "failed: not a number"
	default:
		s = sig3(c.Value)
		if u != Count {
			s += " " + string(u)
		}
	}
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// sig3 prints v with about three significant digits, never in exponent
// form.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	// Below one: round to three significant digits, drop trailing zeros.
	k := 2 - int(math.Floor(math.Log10(a)))
	s := strconv.FormatFloat(v, 'f', k, 64)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}
