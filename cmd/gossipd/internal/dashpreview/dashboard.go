// Package dashpreview reads a Grafana dashboard (the JSON model Grafana
// exports, as deploy/grafana/plumview.json) and draws a preview of it as
// one SVG picture: the panels where the dashboard's gridPos puts them,
// each with its title, its series as line charts with a legend, and a
// heatmap as a grid of cells. It is no Grafana: the series come from the
// caller (gossipd's test evaluates the panels' queries with Prometheus),
// and only what the plumview dashboard uses is understood (rows, time
// series, heatmaps, legend formats, the variables of a query).
// docs/operations.md shows the picture the test draws.
package dashpreview

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Dashboard is the part of a Grafana dashboard a preview draws.
type Dashboard struct {
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is one panel: a row (a section's heading), a time series chart or
// a heatmap, placed on Grafana's grid of 24 columns.
type Panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	GridPos GridPos  `json:"gridPos"`
	Targets []Target `json:"targets"`
}

// GridPos places a panel: X and W in columns of 24, Y and H in grid rows.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Target is one query of a panel.
type Target struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Format       string `json:"format"`
}

// Parse reads a dashboard's JSON model. Panels nested in collapsed rows
// are not read (the plumview dashboard has none); a panel outside the 24
// columns, or of no size, is an error.
func Parse(raw []byte) (*Dashboard, error) {
	var d Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	for _, p := range d.Panels {
		g := p.GridPos
		if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > 24 {
			return nil, fmt.Errorf("panel %d %q: gridPos %+v is outside the 24 columns", p.ID, p.Title, g)
		}
	}
	return &d, nil
}

// Rows is the dashboard's height in grid rows.
func (d *Dashboard) Rows() int {
	n := 0
	for _, p := range d.Panels {
		n = max(n, p.GridPos.Y+p.GridPos.H)
	}
	return n
}

// variable is a Grafana variable in a query: ${name}, [[name]] or $name.
var variable = regexp.MustCompile(`\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)`)

// Interpolate replaces the variables of expr ($name, ${name}, [[name]])
// with their values in vars, as Grafana does before it sends a query;
// it returns the names of the variables vars lacks, left in place.
func Interpolate(expr string, vars map[string]string) (string, []string) {
	var missing []string
	out := variable.ReplaceAllStringFunc(expr, func(m string) string {
		sm := variable.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		v, ok := vars[name]
		if !ok {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			return m
		}
		return v
	})
	return out, missing
}

// RegexValues formats the values of a multi-value variable for a
// Prometheus regular expression matcher (=~) as Grafana does: each value
// with the regular expression's special characters escaped, joined with |
// in parentheses. The backslashes are doubled because the expression
// holds them in a PromQL string literal.
func RegexValues(values []string) string {
	esc := make([]string, len(values))
	for i, v := range values {
		var b strings.Builder
		for _, r := range v {
			if strings.ContainsRune(`\^$.|?*+()[]{}`, r) {
				b.WriteString(`\\`)
			}
			b.WriteRune(r)
		}
		esc[i] = b.String()
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// legendLabel is a {{label}} of a legend format.
var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// Legend names a series as Grafana does: the legend format with each
// {{label}} replaced by the series' value of it; without a format, the
// series' labels as {name="value", ...} (sorted), or the expression when
// it has none.
func Legend(format string, labels map[string]string, expr string) string {
	if format != "" {
		return legendLabel.ReplaceAllStringFunc(format, func(m string) string {
			return labels[legendLabel.FindStringSubmatch(m)[1]]
		})
	}
	if len(labels) == 0 {
		return expr
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
