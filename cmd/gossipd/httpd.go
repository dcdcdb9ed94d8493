package main

import (
	"encoding/json"
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
func newMetrics() (*metrics.Metrics, *prometheus.Registry, error) {
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
	mux.HandleFunc("/debug/nat.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(natStatus(node))
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
			"NAT": natStatus(node),
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
<h2>Paths</h2><p>This agent: {{.NAT.Self.Reachability}}{{if .NAT.Self.Rendezvous}}, rendezvous <code>{{.NAT.Self.Rendezvous}}</code>{{end}} (<a href="nat.json">nat.json</a>)</p>
<table><tr><th>Neighbour</th><th>Path</th><th>Dialled by</th></tr>
{{range .NAT.Neighbours}}<tr><td><code>{{.ID}}</code></td><td>{{.Path}}</td><td>{{.DialledBy}}</td></tr>
{{end}}</table>
<h2>Members</h2><table><tr><th>ID</th><th>State</th><th>Incarnation</th><th>Address</th><th>Rendezvous</th><th>Metadata</th></tr>
{{range .Members}}<tr><td><code>{{hex .ID}}</code></td><td>{{.State}}</td><td>{{.Incarnation}}</td><td><code>{{.Addr}}</code></td><td>{{if .Rendezvous}}<code>{{hex .Rendezvous}}</code>{{end}}{{if .Unreachable}} (cannot be dialled){{end}}</td><td>{{printf "%s" .Meta}}</td></tr>
{{end}}</table>
{{if .MoreMembers}}<p>{{.MoreMembers}} more members not shown: <code>gossipd members</code> lists them all.</p>{{end}}
<h2>Recent events</h2><ul>{{range .Events}}<li>{{.}}</li>{{end}}</ul>
</body></html>
`))

// natView is what /debug/nat.json shows of paths through NATs: this
// agent's reachability and rendezvous, how it reaches each neighbour,
// and what each member's record says about reaching it.
type natView struct {
	Self       natSelf        `json:"self"`
	Neighbours []natNeighbour `json:"neighbours"`
	Members    []natMember    `json:"members"`
	// MoreMembers counts the members beyond the debugMembers listed.
	MoreMembers int `json:"more_members,omitempty"`
}

type natSelf struct {
	ID string `json:"id"`
	// Reachability: "reachable" or "unreachable" (the last check's
	// answer, -nat auto), "unchecked" (-nat auto, no answer yet) or
	// "not checked (-nat off)".
	Reachability string `json:"reachability"`
	CheckedBy    string `json:"checked_by,omitempty"`
	CheckedAt    string `json:"checked_at,omitempty"`
	Asking       string `json:"asking,omitempty"`
	Rendezvous   string `json:"rendezvous,omitempty"`
	Unreachable  bool   `json:"unreachable"`
}

type natNeighbour struct {
	ID string `json:"id"`
	// Path is "direct" (a QUIC connection to or from its address), an ICE
	// link's kind ("host", "srflx" or "relay"; docs/nat.md) or "none".
	Path      string `json:"path"`
	DialledBy string `json:"dialled_by"` // "us" or "them"
}

type natMember struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	Rendezvous  string `json:"rendezvous,omitempty"`
	Unreachable bool   `json:"unreachable"`
}

func natStatus(node *membership.Node) natView {
	v := natView{Self: natSelf{ID: peerID(node.ID())}}
	r := node.Reachability()
	switch {
	case r.Checked && r.Reachable:
		v.Self.Reachability = "reachable"
	case r.Checked:
		v.Self.Reachability = "unreachable"
	case node.ChecksReachability():
		v.Self.Reachability = "unchecked"
	default:
		v.Self.Reachability = "not checked (-nat off)"
	}
	if r.Checked {
		v.Self.CheckedBy, v.Self.CheckedAt = peerID(r.By), r.At.UTC().Format(time.RFC3339)
	}
	if r.Asking != 0 {
		v.Self.Asking = peerID(r.Asking)
	}
	if id, unreachable := node.OwnRendezvous(); id != 0 || unreachable {
		v.Self.Unreachable = unreachable
		if id != 0 {
			v.Self.Rendezvous = peerID(id)
		}
	}
	v.Neighbours = []natNeighbour{}
	for _, p := range node.Paths() {
		by := "them"
		if p.Dialled {
			by = "us"
		}
		v.Neighbours = append(v.Neighbours, natNeighbour{ID: peerID(p.ID), Path: p.Kind, DialledBy: by})
	}
	members := node.MembersAfter(0, debugMembers)
	v.Members = make([]natMember, 0, len(members))
	for _, m := range members {
		nm := natMember{ID: peerID(m.ID), State: m.State.String(), Unreachable: m.Unreachable}
		if m.Rendezvous != 0 {
			nm.Rendezvous = peerID(m.Rendezvous)
		}
		v.Members = append(v.Members, nm)
	}
	total := 0
	for _, n := range node.MemberCounts() {
		total += n
	}
	v.MoreMembers = max(total-len(members), 0)
	return v
}
