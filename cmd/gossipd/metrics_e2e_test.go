package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/membership"
)

// series is one sample line of the Prometheus text format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads addr's /metrics and parses its sample lines.
func scrape(t *testing.T, addr string) []series {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out []series
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := series{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			j := strings.LastIndex(line, "}")
			require.Greater(t, j, i, line)
			for _, m := range labelPair.FindAllStringSubmatch(line[i+1:j], -1) {
				s.labels[m[1]] = m[2]
			}
			rest = line[j+1:]
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		require.NoError(t, err, line)
		s.value = v
		out = append(out, s)
	}
	return out
}

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// find returns the series named name whose labels include want.
func find(ss []series, name string, want map[string]string) []series {
	var out []series
	for _, s := range ss {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

// labelsOf turns a MetricDef's labels into a map.
func labelsOf(d membership.MetricDef) map[string]string {
	m := map[string]string{}
	for _, l := range d.Labels {
		m[l.Name] = l.Value
	}
	return m
}

// freeTCP returns a TCP address free on loopback now.
func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// A fresh agent's /metrics lists every counter at 0, every gauge and
// every histogram; the dashboard's queries name only what it exports;
// once another agent joined and broadcast, the hop histogram holds the
// delivery and the gauges show the neighbour.
func TestMetricsEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	dir := shortDir(t)
	maddr := freeTCP(t)
	a := startAgent(t, dir, "a", "-metrics-addr", maddr)
	var fresh []series
	waitFor(t, 10*time.Second, "the first gauge sample", func() bool {
		fresh = scrape(t, maddr)
		return len(find(fresh, "plumview_members", map[string]string{"state": "alive"})) == 1
	})
	for _, d := range membership.MetricDefs() {
		name := "plumview_" + d.Name
		switch d.Kind {
		case membership.MetricCounter:
			got := find(fresh, name, labelsOf(d))
			require.Len(t, got, 1, "%s%v listed from the start", name, d.Labels)
			require.Zero(t, got[0].value, name)
		case membership.MetricGauge:
			require.Len(t, find(fresh, name, labelsOf(d)), 1, "%s%v sampled from the start", name, d.Labels)
		case membership.MetricHistogram:
			got := find(fresh, name+"_count", nil)
			require.Len(t, got, 1, "%s is a histogram", name)
			require.Zero(t, got[0].value)
			require.Len(t, find(fresh, name+"_bucket", map[string]string{"le": "+Inf"}), 1)
		}
	}
	require.Equal(t, 1.0, find(fresh, "plumview_members", map[string]string{"state": "alive"})[0].value, "it lists itself")

	raw, err := os.ReadFile("../../deploy/grafana/plumview.json")
	require.NoError(t, err)
	problems, err := dashboardProblems(raw, fresh)
	require.NoError(t, err)
	require.Empty(t, problems, "the Grafana dashboard against a fresh agent's /metrics")

	b := startAgent(t, dir, "b", "-seeds", a.addr())
	waitFor(t, 20*time.Second, "2 alive members everywhere", func() bool { return allListAlive(t, []*proc{a, b}, 2) })
	out, stderr, err := cli(t, "broadcast", "-socket", b.socket, "-topic", "news", "hello")
	require.NoError(t, err, stderr)
	require.NotEmpty(t, strings.TrimSpace(out))
	var after []series
	waitFor(t, 10*time.Second, "the delivery in the hop histogram", func() bool {
		after = scrape(t, maddr)
		c := find(after, "plumview_delivery_hops_count", nil)
		return len(c) == 1 && c[0].value >= 1
	})
	one := find(after, "plumview_delivery_hops_bucket", map[string]string{"le": "1"})
	require.Len(t, one, 1)
	require.GreaterOrEqual(t, one[0].value, 1.0, "from a neighbour, within one hop")
	waitFor(t, 10*time.Second, "the gauges show the neighbour", func() bool {
		after = scrape(t, maddr)
		return find(after, "plumview_hyparview_active_peers", nil)[0].value == 1 &&
			find(after, "plumview_members", map[string]string{"state": "alive"})[0].value == 2 &&
			find(after, "plumview_plumtree_retained_payload_bytes", nil)[0].value > 0
	})
	require.GreaterOrEqual(t, find(after, "plumview_messages_delivered_total", nil)[0].value, 1.0)
	require.GreaterOrEqual(t, find(after, "plumview_member_events_total", map[string]string{"kind": "join"})[0].value, 1.0)
}

// Selectors and grouping clauses of a PromQL expression: a metric name
// with its optional {matchers}, and by/without (labels).
var (
	promSelector = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	promGrouping = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// dashboardProblems returns what is wrong with the Grafana dashboard raw
// against the scrape ss: a query that names a metric, a label value
// matched with =, or a grouping label that ss does not show (instance and
// job are Prometheus's own labels), a query that names no plumview metric,
// and a metric the issue asks to show that no query names.
func dashboardProblems(raw []byte, ss []series) ([]string, error) {
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		return nil, err
	}
	var exprs []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(k, x)
			}
		case []any:
			for _, x := range v {
				walk(key, x)
			}
		case string:
			if key == "expr" || key == "definition" || (key == "query" && strings.Contains(v, "plumview_")) {
				exprs = append(exprs, v)
			}
		}
	}
	walk("", dash)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(exprs) == 0 {
		bad("no queries")
	}
	names := map[string]bool{}
	labels := map[string]map[string]bool{} // by metric name
	for _, s := range ss {
		names[s.name] = true
		if labels[s.name] == nil {
			labels[s.name] = map[string]bool{}
		}
		for k := range s.labels {
			labels[s.name][k] = true
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		var named []string
		for _, m := range promSelector.FindAllStringSubmatch(e, -1) {
			name := m[1]
			if !strings.HasPrefix(name, "plumview_") {
				continue
			}
			named = append(named, name)
			used[name] = true
			if !names[name] {
				bad("query %q names %s, which the agent does not export", e, name)
				continue
			}
			want := map[string]string{}
			for _, mm := range promMatcher.FindAllStringSubmatch(m[2], -1) {
				if mm[2] == "=" && !strings.Contains(mm[3], "$") && mm[1] != "instance" && mm[1] != "job" {
					want[mm[1]] = mm[3]
				}
			}
			if len(find(ss, name, want)) == 0 {
				bad("query %q selects %s with %v, which the agent does not export", e, name, want)
			}
		}
		if len(named) == 0 {
			bad("query %q names no plumview metric", e)
		}
		for _, g := range promGrouping.FindAllStringSubmatch(e, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				l = strings.TrimSpace(l)
				if l == "" || l == "instance" || l == "job" {
					continue
				}
				if !slices.ContainsFunc(named, func(n string) bool { return labels[n][l] }) {
					bad("query %q groups by %q, a label none of its metrics has", e, l)
				}
			}
		}
	}
	// What the issue asks the dashboard to show: cluster size by state,
	// delivery rate, hop histogram, repairs, failure detections, bytes and
	// queue depth.
	for _, n := range []string{"plumview_members", "plumview_messages_delivered_total", "plumview_delivery_hops_bucket",
		"plumview_plumtree_grafts_sent_total", "plumview_gaps_reported_total", "plumview_liveness_suspicions_raised_total",
		"plumview_liveness_failures_declared_total", "plumview_liveness_refutations_total",
		"plumview_plumtree_retained_payload_bytes", "plumview_send_queue_frames_max"} {
		if !used[n] {
			bad("no query shows %s", n)
		}
	}
	return problems, nil
}

// The checker itself finds a misspelt metric, a label value the agent
// never exports, a grouping by a label it lacks, and a query without a
// plumview metric.
func TestDashboardProblemsFound(t *testing.T) {
	ss := []series{
		{name: "plumview_members", labels: map[string]string{"state": "alive"}},
		{name: "plumview_messages_delivered_total", labels: map[string]string{}},
	}
	raw := []byte(`{"panels": [{"targets": [
		{"expr": "max by (state) (plumview_members)"},
		{"expr": "sum(rate(plumview_messages_delivered_total[1m]))"},
		{"expr": "sum(rate(plumview_messages_delivered[1m]))"},
		{"expr": "plumview_members{state=\"zombie\"}"},
		{"expr": "sum by (kind) (plumview_members)"},
		{"expr": "up"}
	]}]}`)
	problems, err := dashboardProblems(raw, ss)
	require.NoError(t, err)
	joined := strings.Join(problems, "\n")
	require.Contains(t, joined, "names plumview_messages_delivered, which the agent does not export")
	require.Contains(t, joined, `selects plumview_members with map[state:zombie]`)
	require.Contains(t, joined, `groups by "kind"`)
	require.Contains(t, joined, `query "up" names no plumview metric`)
	require.Contains(t, joined, "no query shows plumview_delivery_hops_bucket")
	require.NotContains(t, joined, `"max by (state) (plumview_members)"`, "a good query is no problem")
}
