package harness

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is everything measured for one system: one cell per row key, plus
// notes on how the system was set up.
type Result struct {
	// System is the system's name.
	System string `json:"system"`
	// Cells maps a Row.Key to the measured cell.
	Cells map[string]Cell `json:"cells"`
	// Notes are printed under the table, prefixed by the system's name.
	Notes []string `json:"notes,omitempty"`
}

// Set stores c under key, creating the map if needed.
func (r *Result) Set(key string, c Cell) {
	if r.Cells == nil {
		r.Cells = map[string]Cell{}
	}
	r.Cells[key] = c
}

// Row is one metric of the table.
type Row struct {
	// Key identifies the metric in Result.Cells.
	Key string
	// Label is the row's title.
	Label string
	// Unit says how values are printed.
	Unit Unit
}

// Row keys of the comparison that do not depend on the payload size.
const (
	KeyJoin       = "join"
	KeyRate       = "rate"
	KeyRateBytes  = "rate.bytes"
	KeyIntact     = "intact"
	KeyFail       = "fail"
	KeyDups       = "dups"
	KeyIdleCPU    = "idle.cpu"
	KeyIdleBytes  = "idle.bytes"
	KeyCPUJoin    = "cpu.join"
	KeyCPULatency = "cpu.latency"
	KeyCPURate    = "cpu.rate"
	KeyCPUPerDel  = "cpu.perdelivery"
	KeyHeapJoin   = "heap.join"
	KeyHeapRate   = "heap.rate"
	KeyRSS        = "rss"
	KeyWall       = "wall"
)

// KeyP50, KeyP99 and KeyBytes name the rows of one payload size.
func KeyP50(size int) string { return fmt.Sprintf("p50.%d", size) }

// KeyP99 names the p99 latency row of one payload size.
func KeyP99(size int) string { return fmt.Sprintf("p99.%d", size) }

// KeyBytes names the bytes-per-delivery row of one payload size.
func KeyBytes(size int) string { return fmt.Sprintf("bytes.%d", size) }

// SizeLabel prints a payload size as "256 B" or "4 KiB".
func SizeLabel(size int) string {
	if size >= 1024 && size%1024 == 0 {
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

// Rows lists the table's rows for the options' payload sizes.
func Rows(o Options) []Row {
	join := "join convergence"
	if o.JoinRate > 0 {
		join = fmt.Sprintf("join convergence, nodes joining at %g a second (the last starts after %s)", o.JoinRate, Config{JoinRate: o.JoinRate}.JoinDelay(o.Nodes-1).Round(time.Millisecond))
	}
	rows := []Row{{KeyJoin, join, Seconds},
		{KeyIdleCPU, fmt.Sprintf("idle (%s, no broadcasts): CPU time per node and second", idleLabel(o)), Micros},
		{KeyIdleBytes, fmt.Sprintf("idle (%s, no broadcasts): bytes sent per node and second", idleLabel(o)), Bytes}}
	for _, s := range o.Sizes {
		rows = append(rows,
			Row{KeyP50(s), "latency to last node p50, " + SizeLabel(s), Millis},
			Row{KeyP99(s), "latency to last node p99, " + SizeLabel(s), Millis})
	}
	for _, s := range o.Sizes {
		rows = append(rows, Row{KeyBytes(s), "bytes sent per delivery, " + SizeLabel(s), Bytes})
	}
	ss := SizeLabel(o.sustainSize())
	return append(rows,
		Row{KeyRate, fmt.Sprintf("sustained deliveries/s, %s, %d in flight, %s", ss, o.Window, o.Sustain), PerSec},
		Row{KeyRateBytes, "bytes sent per delivery, sustained phase", Bytes},
		Row{KeyIntact, "member lists intact after the sustained phase", Count},
		Row{KeyFail, "failure detection: all see the killed node failed", Seconds},
		Row{KeyDups, "duplicate deliveries (all phases)", Count},
		Row{KeyCPUJoin, "CPU time, join phase", Seconds},
		Row{KeyCPULatency, "CPU time, latency phases", Seconds},
		Row{KeyCPURate, "CPU time, sustained phase", Seconds},
		Row{KeyCPUPerDel, "CPU time per delivery, sustained phase", Micros},
		Row{KeyHeapJoin, "heap in use after join", MiB},
		Row{KeyHeapRate, "heap in use after the sustained phase", MiB},
		Row{KeyRSS, "peak RSS of the process", MiB},
		Row{KeyWall, "wall time of the whole run", Seconds},
	)
}

// Table lays the results out as rows of strings: a header, then one line
// per row with the metric, one column per system, and one ratio column per
// system after the first (that system's value divided by the first's).
func Table(rows []Row, results []Result) [][]string {
	header := []string{"metric"}
	for _, r := range results {
		header = append(header, r.System)
	}
	for _, r := range results[min(1, len(results)):] {
		header = append(header, r.System+" ÷ "+results[0].System)
	}
	out := [][]string{header}
	for _, row := range rows {
		line := []string{row.Label}
		for _, r := range results {
			c, ok := r.Cells[row.Key]
			if !ok {
				c = Failed("not measured")
			}
			line = append(line, c.Format(row.Unit))
		}
		for _, r := range results[min(1, len(results)):] {
			line = append(line, FormatRatio(Ratio(r.Cells[row.Key], results[0].Cells[row.Key])))
		}
		out = append(out, line)
	}
	return out
}

// WriteText prints a table as aligned columns.
func WriteText(w io.Writer, table [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, line := range table {
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	return tw.Flush()
}

// WriteMarkdown prints a table as a GitHub-flavoured markdown table, with
// pipes in cells escaped.
func WriteMarkdown(w io.Writer, table [][]string) error {
	for i, line := range table {
		cells := make([]string, len(line))
		for j, c := range line {
			cells[j] = strings.ReplaceAll(c, "|", `\|`)
		}
		if _, err := fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")); err != nil {
			return err
		}
		if i == 0 {
			seps := make([]string, len(line))
			for j := range seps {
				seps[j] = "---"
				if j > 0 {
					seps[j] = "---:"
				}
			}
			fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
		}
	}
	return nil
}

// Report writes the markdown section the -out flag appends: a heading with
// the date, the exact command, the machine, the table and the notes.
func Report(w io.Writer, command string, m Machine, at time.Time, table [][]string, results []Result) error {
	fmt.Fprintf(w, "\n## Comparison of %s\n\n", at.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Command: `%s`\n\n", command)
	fmt.Fprintf(w, "Machine: %s\n\n", m)
	if err := WriteMarkdown(w, table); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, n := range Notes(results) {
		fmt.Fprintf(w, "- %s\n", n)
	}
	return nil
}

// Notes gathers the harness's and every system's notes, each prefixed with
// its source.
func Notes(results []Result) []string {
	notes := []string{"harness: " + HarnessNote}
	for _, r := range results {
		for _, n := range r.Notes {
			notes = append(notes, r.System+": "+n)
		}
	}
	return notes
}

// idleLabel names the idle phase's length, and its warm-up if any.
func idleLabel(o Options) string {
	if o.IdleWarmup > 0 {
		return fmt.Sprintf("%s after %s", o.Idle, o.IdleWarmup)
	}
	return o.Idle.String()
}
