package main

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plumview/plumview/cmd/gossipd/internal/server"
	"github.com/plumview/plumview/membership"
)

// newMetrics returns the node's go-metrics instance, feeding a Prometheus
// sink in a private registry (never the global one), and that registry.
func newMetrics() (*metrics.Metrics, prometheus.Gatherer, error) {
	reg := prometheus.NewRegistry()
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Expiration: time.Hour, Registerer: reg})
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: metrics: %w", err)
	}
	mc := metrics.DefaultConfig("plumview")
	mc.EnableHostname = false
	mc.EnableRuntimeMetrics = false
	m, err := metrics.New(mc, sink)
	if err != nil {
		return nil, nil, fmt.Errorf("gossipd: metrics: %w", err)
	}
	return m, reg, nil
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
	mux.HandleFunc("/debug/", func(w http.ResponseWriter, _ *http.Request) {
		active, passive := node.Views()
		eager, lazy := node.Trees()
		members := node.MembersAfter(0, debugMembers)
		total := 0
		for _, n := range node.MemberCounts() {
			total += n
		}
		more := max(total-len(members), 0)
		data := map[string]any{
			"ID": fmt.Sprintf("%016x", node.ID()), "Addr": node.Addr(), "Joined": srv.Joined(),
			"Active": hexIDs(active), "Passive": hexIDs(passive), "Eager": hexIDs(eager), "Lazy": hexIDs(lazy),
			"Members": members, "MoreMembers": more, "Events": srv.RecentEvents(),
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = debugPage.Execute(w, data)
	})
	return mux
}

// debugMembers bounds the members the debug page lists, so that its size
// does not grow with the cluster; `gossipd members` pages through all.
const debugMembers = 1000

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
<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}</style></head>
<body><h1>gossipd {{.ID}}</h1>
<p>Address: <code>{{.Addr}}</code> &middot; joined: {{.Joined}}</p>
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
