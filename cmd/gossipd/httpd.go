package main

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plumview/plumview/cmd/gossipd/internal/overlaysvg"
	"github.com/plumview/plumview/cmd/gossipd/internal/server"
	"github.com/plumview/plumview/membership"
)

// newMetrics returns the node's go-metrics instance, feeding a Prometheus
// sink in a private registry (never the global one), and that registry.
// Every metric of the node (membership.MetricDefs) is declared up front:
// the counters are exported at 0 from the start and none expires while it
// does not move; the histograms are Prometheus histograms, which a query
// can aggregate over agents (histogram_quantile of a sum of rates).
func newMetrics() (*metrics.Metrics, prometheus.Gatherer, error) {
	reg := prometheus.NewRegistry()
	opts := gmprom.PrometheusOpts{Expiration: time.Hour, Registerer: reg}
	hists := map[string]prometheus.Histogram{}
	for _, d := range membership.MetricDefs() {
		name := []string{metricsService, d.Name}
		switch d.Kind {
		case membership.MetricCounter:
			opts.CounterDefinitions = append(opts.CounterDefinitions, gmprom.CounterDefinition{Name: name, Help: d.Help, ConstLabels: d.Labels})
		case membership.MetricGauge:
			opts.GaugeDefinitions = append(opts.GaugeDefinitions, gmprom.GaugeDefinition{Name: name, Help: d.Help, ConstLabels: d.Labels})
		case membership.MetricHistogram:
			h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricsService + "_" + d.Name, Help: d.Help, Buckets: d.Buckets})
			if err := reg.Register(h); err != nil {
				return nil, nil, fmt.Errorf("gossipd: metrics: %w", err)
			}
			hists[d.Name] = h
		}
	}
	sink, err := gmprom.NewPrometheusSinkFrom(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: metrics: %w", err)
	}
	mc := metrics.DefaultConfig(metricsService)
	mc.EnableHostname = false
	mc.EnableRuntimeMetrics = false
	m, err := metrics.New(mc, &histogramSink{PrometheusSink: sink, hists: hists})
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: metrics: %w", err)
	}
	return m, reg, nil
}

// metricsService prefixes every metric name: plumview_<name>.
const metricsService = "plumview"

// histogramSink is the Prometheus sink with the samples of the declared
// histograms observed into Prometheus histograms instead of the sink's
// summaries (which cannot be aggregated over agents).
type histogramSink struct {
	*gmprom.PrometheusSink
	hists map[string]prometheus.Histogram // by name, without the service
}

func (s *histogramSink) AddSample(key []string, val float32) {
	s.AddSampleWithLabels(key, val, nil)
}

func (s *histogramSink) AddSampleWithLabels(key []string, val float32, labels []metrics.Label) {
	if len(key) == 2 && key[0] == metricsService && len(labels) == 0 {
		if h := s.hists[key[1]]; h != nil {
			h.Observe(float64(val))
			return
		}
	}
	s.PrometheusSink.AddSampleWithLabels(key, val, labels)
}

// livenessTimeout bounds how long /healthz waits for the node's loop.
const livenessTimeout = 2 * time.Second

// httpHandler serves /metrics (Prometheus text format), /debug/ (an HTML
// page of the node's views, trees, members and recent events), /healthz
// (liveness: whether the node's own loop answers, whatever its peers do)
// and /readyz (readiness: 200 once the node has joined, 503 before and
// from the moment it starts draining to leave).
func httpHandler(g prometheus.Gatherer, node *membership.Node, srv *server.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.Joined() {
			http.Error(w, "not ready: the node has not joined the cluster, or is leaving it", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		answered := make(chan struct{})
		go func() { node.Views(); close(answered) }() // Views goes through the node's loop
		select {
		case <-answered:
			_, _ = io.WriteString(w, "ok\n")
		case <-time.After(livenessTimeout):
			http.Error(w, "gossipd: the node's loop did not answer", http.StatusServiceUnavailable)
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/overlay.svg", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_ = overlaysvg.Render(w, nodePicture(node))
	})
	mux.HandleFunc("/debug/", func(w http.ResponseWriter, _ *http.Request) {
		active, passive := node.Views()
		eager, lazy := node.Trees()
		members := node.MembersAfter(0, debugMembers)
		total := 0
		for _, n := range node.MemberCounts() {
			total += n
		}
		more := max(total-len(members), 0)
		var svg strings.Builder
		_ = overlaysvg.Render(&svg, nodePicture(node))
		data := map[string]any{
			"ID": fmt.Sprintf("%016x", node.ID()), "Addr": node.Addr(), "Joined": srv.Joined(),
			"Active": hexIDs(active), "Passive": hexIDs(passive), "Eager": hexIDs(eager), "Lazy": hexIDs(lazy),
			"Members": members, "MoreMembers": more, "Events": srv.RecentEvents(),
			"Picture": template.HTML(svg.String()), "Refresh": int(debugRefresh / time.Second),
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = debugPage.Execute(w, data)
	})
	return mux
}

// debugMembers bounds the members the debug page lists, so that its size
// does not grow with the cluster; `gossipd members` pages through all.
const debugMembers = 1000

// debugRefresh is how often the debug page reloads itself.
const debugRefresh = 5 * time.Second

// nodePicture is this node's overlay as the debug page draws it: the node,
// the peers of its views, and the members of its list up to
// overlaysvg.MaxNodes, coloured by state (the picture counts the others);
// only this node's views are known, so the links drawn are its own.
func nodePicture(node *membership.Node) overlaysvg.Picture {
	active, passive := node.Views()
	eager, lazy := node.Trees()
	self := overlaysvg.Node{ID: node.ID(), Self: true, Known: true, Active: active, Passive: passive, Eager: eager, Lazy: lazy}
	state := map[uint64]string{}
	members := node.MembersAfter(0, debugMembers)
	for _, m := range members {
		state[m.ID] = m.State.String()
	}
	self.State = state[self.ID]
	nodes := []overlaysvg.Node{self}
	drawn := map[uint64]bool{self.ID: true}
	add := func(id uint64) {
		if !drawn[id] && len(nodes) < overlaysvg.MaxNodes {
			drawn[id] = true
			nodes = append(nodes, overlaysvg.Node{ID: id, State: state[id]})
		}
	}
	for _, l := range [][]uint64{active, passive} {
		for _, id := range l {
			add(id)
		}
	}
	for _, m := range members {
		add(m.ID)
	}
	total := 0
	for _, n := range node.MemberCounts() {
		total += n
	}
	return overlaysvg.Picture{Title: fmt.Sprintf("gossipd %016x: its views and member list", node.ID()), Nodes: nodes,
		Omitted: max(total-len(nodes), 0)}
}

func hexIDs(ids []uint64) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, fmt.Sprintf("%016x", id))
	}
	return out
}

var debugPage = template.Must(template.New("debug").Funcs(template.FuncMap{
	"hex": func(id uint64) string { return fmt.Sprintf("%016x", id) },
}).Parse(`<!doctype html>
<html><head><title>gossipd {{.ID}}</title>
<meta http-equiv="refresh" content="{{.Refresh}}">
<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style></head>
<body><h1>gossipd {{.ID}}</h1>
<p>Address: <code>{{.Addr}}</code> &middot; joined: {{.Joined}} &middot; this page reloads every {{.Refresh}} s</p>
<h2>Overlay</h2><div id="overlay">{{.Picture}}</div>
<p><a href="overlay.svg">overlay.svg</a>; <code>gossipd status -cluster -svg FILE</code> draws every member's views.</p>
<h2>HyParView</h2><p>Active view: {{range .Active}}<code>{{.}}</code> {{end}}</p>
<p>Passive view: {{range .Passive}}<code>{{.}}</code> {{end}}</p>
<h2>Plumtree</h2><p>Eager peers: {{range .Eager}}<code>{{.}}</code> {{end}}</p>
<p>Lazy peers: {{range .Lazy}}<code>{{.}}</code> {{end}}</p>
<h2>Members</h2><table><tr><th>ID</th><th>State</th><th>Incarnation</th><th>Address</th><th>Metadata</th></tr>
{{range .Members}}<tr><td><code>{{hex .ID}}</code></td><td>{{.State}}</td><td>{{.Incarnation}}</td><td><code>{{.Addr}}</code></td><td>{{printf "%s" .Meta}}</td></tr>
{{end}}</table>
{{if .MoreMembers}}<p>{{.MoreMembers}} more members not shown: <code>gossipd members</code> lists them all.</p>{{end}}
<h2>Recent events</h2><ul>{{range .Events}}<li>{{.}}</li>{{end}}</ul>
</body></html>
`))
