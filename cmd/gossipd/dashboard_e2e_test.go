package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/cmd/gossipd/internal/dashpreview"
)

// dashboardPNG is where TestDashboardInPrometheus writes its screenshot of
// the dashboard's preview (docs/dashboard-preview.png is one), when given.
var dashboardPNG = flag.String("dashboard.png", "", "TestDashboardInPrometheus: write the preview's screenshot to this PNG `file`")

// dashboardVars is the dashboard's part that TestDashboardInPrometheus
// reads beside the panels: its variables.
type dashboardVars struct {
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
			AllValue   string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValuesQuery is a query variable's definition: label_values(metric, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)$`)

// mustShow are the panels that show data as soon as three agents joined
// and broadcast a few messages: every query of theirs returns a finite
// sample.
var mustShow = []string{
	"Cluster size by state (largest member list)", "Member list disagreement",
	"Active and passive views (HyParView)", "Broadcast tree (Plumtree)",
	"Delivery rate", "Hops per delivery (quantiles)", "Hop histogram", "Delivery latency (origin to here)",
	"Payloads retained for repairs", "Send queues", "Connections",
}

// The Grafana dashboard against Prometheus: three agents, a Prometheus
// scraping them every second (from before they join), 16 broadcasts;
// once Prometheus has them all and their rate fell back to 0, every query of
// every panel, with Grafana's variables put in as Grafana does ($instance
// all agents, then the agents the instance variable's own query lists;
// $__rate_interval as Grafana computes it), is evaluated over the run by
// Prometheus' query_range API. Prometheus accepts every query, both
// choices of $instance give the same series, and the panels that must show
// data do, with the values three agents give (three alive, two active
// peers each, a median of one or two hops per delivery). The preview of the
// dashboard drawn from the results is well-formed; with Chromium, its
// screenshot shows the series' colours (-dashboard.png FILE keeps it).
func TestDashboardInPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus on PATH (apt-get install prometheus; .ci/run installs it as root): the dashboard's queries are still checked against a scrape by TestMetricsEndpoint")
	}
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/grafana/plumview.json")
	require.NoError(t, err)
	dash, err := dashpreview.Parse(raw)
	require.NoError(t, err)
	var vars dashboardVars
	require.NoError(t, json.Unmarshal(raw, &vars))

	// Prometheus first, so that it sees the agents join; the binary is
	// built before, not while it scrapes.
	binary(t)
	const scrape, step = time.Second, time.Second
	maddrs := []string{freeTCP(t), freeTCP(t), freeTCP(t)}
	prom := startPrometheus(t, promBin, scrape, maddrs)
	waitFor(t, 30*time.Second, "Prometheus scraping the three addresses", func() bool {
		return prom.value(`count(up{job="gossipd"})`) == 3
	})
	start := time.Now()
	dir := shortDir(t)
	ps := []*proc{startAgent(t, dir, "a0", "-metrics-addr", maddrs[0])}
	for i := 1; i < 3; i++ {
		ps = append(ps, startAgent(t, dir, fmt.Sprintf("a%d", i), "-seeds", ps[0].addr(), "-metrics-addr", maddrs[i]))
	}
	waitFor(t, 30*time.Second, "Prometheus sees three agents listing three alive", func() bool {
		return prom.value(`count(up{job="gossipd"} == 1)`) == 3 &&
			prom.value(`count(plumview_members{state="alive"} == 3)`) == 3
	})
	// Agents broadcast their own member records too: count from here.
	sent0, delivered0 := prom.value(`sum(plumview_broadcasts_total)`), prom.value(`sum(plumview_messages_delivered_total)`)
	const broadcasts = 16
	for i := range broadcasts {
		_, stderr, err := cli(t, "broadcast", "-socket", ps[i%3].socket, "-topic", "news", fmt.Sprintf("message %d", i))
		require.NoError(t, err, stderr)
		time.Sleep(250 * time.Millisecond) // spread over a few scrapes
	}
	var sent, delivered float64
	defer func() {
		if t.Failed() {
			t.Logf("Prometheus last saw %v broadcasts, %v deliveries", sent, delivered)
		}
	}()
	waitFor(t, 30*time.Second, "Prometheus has every broadcast, delivered by the two other agents", func() bool {
		sent, delivered = prom.value(`sum(plumview_broadcasts_total)`), prom.value(`sum(plumview_messages_delivered_total)`)
		return sent >= sent0+broadcasts && delivered >= delivered0+2*broadcasts
	})
	waitFor(t, 30*time.Second, "the broadcast rate back at 0", func() bool {
		return prom.value(`sum(rate(plumview_broadcasts_total[`+promDuration(4*scrape)+`]))`) == 0
	})
	end := time.Now()

	// Grafana's variables: $instance is a query variable (all agents by
	// its allValue, or those its query lists), $__rate_interval is
	// max($__interval + scrape interval, 4 × scrape interval).
	rateInterval := promDuration(max(step+scrape, 4*scrape))
	settings := map[string]map[string]string{}
	for _, v := range vars.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(v.Definition)
		require.NotNil(t, m, "variable %s: a label_values(metric, label) query", v.Name)
		values, err := prom.labelValues(m[1], m[2])
		require.NoError(t, err)
		require.ElementsMatch(t, maddrs, values, "variable %s lists the agents", v.Name)
		require.Equal(t, ".*", v.AllValue)
		settings["all"] = map[string]string{v.Name: v.AllValue}
		settings["each"] = map[string]string{v.Name: dashpreview.RegexValues(values)}
	}
	require.Len(t, settings, 2, "the instance variable")

	results := map[string]map[dashpreview.Key][]dashpreview.Series{}
	var problems []string
	queries := 0
	for name, set := range settings {
		set["__rate_interval"] = rateInterval
		results[name] = map[dashpreview.Key][]dashpreview.Series{}
		for _, p := range dash.Panels {
			for i, target := range p.Targets {
				expr, missing := dashpreview.Interpolate(target.Expr, set)
				if len(missing) > 0 {
					problems = append(problems, fmt.Sprintf("panel %q: query %q has variables %v this test does not know", p.Title, target.Expr, missing))
					continue
				}
				ss, err := prom.queryRange(expr, start, end, step)
				queries++
				if err != nil {
					problems = append(problems, fmt.Sprintf("panel %q: Prometheus refuses %q: %v", p.Title, expr, err))
					continue
				}
				results[name][dashpreview.Key{Panel: p.ID, Target: i}] = ss
			}
		}
	}
	require.Empty(t, problems)
	t.Logf("%d queries evaluated over %.0f s, $__rate_interval %s", queries, end.Sub(start).Seconds(), rateInterval)

	data := results["all"]
	for k, ss := range data {
		require.Len(t, results["each"][k], len(ss), "panel %d query %d: the agents by name give the series all agents do", k.Panel, k.Target)
	}
	byTitle := map[string]dashpreview.Panel{}
	for _, p := range dash.Panels {
		byTitle[p.Title] = p
	}
	for _, title := range mustShow {
		p, ok := byTitle[title]
		require.True(t, ok, "the dashboard has panel %q", title)
		for i, target := range p.Targets {
			require.False(t, math.IsInf(peak(data[dashpreview.Key{Panel: p.ID, Target: i}]), -1),
				"panel %q: query %q shows no data", title, target.Expr)
		}
	}
	series := func(title string, target int, labels map[string]string) []dashpreview.Series {
		var out []dashpreview.Series
		for _, s := range data[dashpreview.Key{Panel: byTitle[title].ID, Target: target}] {
			if hasLabels(s, labels) {
				out = append(out, s)
			}
		}
		return out
	}
	require.Equal(t, 3.0, peak(series("Cluster size by state (largest member list)", 0, map[string]string{"state": "alive"})))
	require.Equal(t, 3.0, peak(series("Member list disagreement", 1, nil)), "three agents report")
	require.Equal(t, 2.0, peak(series("Active and passive views (HyParView)", 0, nil)), "two active peers each")
	require.Positive(t, peak(series("Delivery rate", 0, nil)), "deliveries /s")
	require.Positive(t, peak(series("Delivery rate", 1, nil)), "broadcasts /s")
	p50 := peak(series("Hops per delivery (quantiles)", 0, nil))
	require.True(t, p50 >= 1 && p50 <= 2, "median hops %v: the origin's neighbours at one hop, the third agent at two at most", p50)
	require.Positive(t, peak(series("Hop histogram", 0, map[string]string{"le": "+Inf"})))
	require.Positive(t, peak(series("Payloads retained for repairs", 0, nil)))
	require.Positive(t, peak(series("Connections", 0, nil)))

	drawPreview(t, dash, data, start, end, fmt.Sprintf(
		"Not Grafana: the dashboard's queries evaluated by Prometheus %s over %.0f s of 3 gossipd agents and %d broadcasts, drawn by the test's preview renderer.",
		prom.version(t), end.Sub(start).Seconds(), broadcasts))
}

// peak is the largest finite value of ss, -Inf when there is none.
func peak(ss []dashpreview.Series) float64 {
	m := math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.Points {
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				m = max(m, p.V)
			}
		}
	}
	return m
}

// hasLabels reports whether s has every label of want.
func hasLabels(s dashpreview.Series, want map[string]string) bool {
	for k, v := range want {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// drawPreview draws the dashboard from data, checks the SVG is
// well-formed with a series for each panel that must show data and, when
// Chromium is there, that its screenshot shows the first series' colour
// and the heatmap's; -dashboard.png keeps the screenshot.
func drawPreview(t *testing.T, dash *dashpreview.Dashboard, data map[dashpreview.Key][]dashpreview.Series, start, end time.Time, note string) {
	t.Helper()
	var buf bytes.Buffer
	o := dashpreview.Options{Width: 1000, RowHeight: 22, Start: float64(start.UnixMilli()) / 1000, End: float64(end.UnixMilli()) / 1000, Note: note}
	require.NoError(t, dashpreview.SVG(&buf, dash, data, o))
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	drawn := map[string]int{} // series and heatmap cells by panel
	panel := ""
	var width, height int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the preview is well-formed")
		if se, ok := tok.(xml.StartElement); ok {
			attrs := map[string]string{}
			for _, a := range se.Attr {
				attrs[a.Name.Local] = a.Value
			}
			switch {
			case se.Name.Local == "svg":
				_, err := fmt.Sscan(attrs["width"]+" "+attrs["height"], &width, &height)
				require.NoError(t, err)
			case attrs["class"] == "panel":
				panel = attrs["data-id"]
			case attrs["class"] == "series" || attrs["class"] == "cell":
				drawn[panel]++
			}
		}
	}
	for _, p := range dash.Panels {
		if slices.Contains(mustShow, p.Title) {
			require.Positive(t, drawn[fmt.Sprint(p.ID)], "the preview draws panel %q", p.Title)
		}
	}

	browser := chromium()
	if browser == "" {
		t.Log("no Chromium found (apt-get install chromium): the preview is not screenshot")
		return
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write(buf.Bytes())
	}))
	defer srv.Close()
	img := screenshot(t, browser, srv.URL+"/dashboard.svg", width, height)
	if *dashboardPNG != "" {
		f, err := os.Create(*dashboardPNG)
		require.NoError(t, err)
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		require.NoError(t, enc.Encode(f, img))
		require.NoError(t, f.Close())
		t.Logf("wrote %s (%d×%d)", *dashboardPNG, width, height)
	}
	counts := map[string]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			for _, c := range []string{"#56a64b", "#c4162a"} {
				if near(img.At(x, y), c) {
					counts[c]++
				}
			}
		}
	}
	require.Greater(t, counts["#56a64b"], 200, "the screenshot shows the first series of the panels")
	require.Greater(t, counts["#c4162a"], 20, "the screenshot shows the heatmap's darkest cells")
}
