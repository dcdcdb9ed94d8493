package membership

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// inmemMetrics returns a go-metrics instance whose sink keeps everything
// in one interval, and that sink.
func inmemMetrics(t *testing.T) (*metrics.Metrics, *metrics.InmemSink) {
	t.Helper()
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	mc := metrics.DefaultConfig("test")
	mc.EnableRuntimeMetrics, mc.EnableHostname = false, false
	m, err := metrics.New(mc, sink)
	require.NoError(t, err)
	return m, sink
}

// seriesKey is how an in-memory sink names d's series.
func seriesKey(d MetricDef) string {
	k := "test." + d.Name
	for _, l := range d.Labels {
		k += ";" + l.Name + "=" + l.Value
	}
	return k
}

func lastInterval(t *testing.T, sink *metrics.InmemSink) *metrics.IntervalMetrics {
	t.Helper()
	data := sink.Data()
	require.NotEmpty(t, data)
	return data[len(data)-1]
}

// A fresh node lists every counter at 0 and every gauge at once; after a
// broadcast from a neighbour, the gauges show the neighbour, the member
// list and the retained payload, the engine's counters have moved, and
// the hop histogram holds the delivery.
func TestMetricsFromTheStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := make([]*metrics.InmemSink, 2)
		i := 0
		c := newMemClusterWith(t, 2, func(cfg *Config) {
			cfg.Metrics, ms[i] = inmemMetrics(t)
			i++
		})
		synctest.Wait() // the first sample is taken as the node starts
		iv := lastInterval(t, ms[0])
		var counters, gauges int
		for _, d := range MetricDefs() {
			switch d.Kind {
			case MetricCounter:
				counters++
				v, ok := iv.Counters[seriesKey(d)]
				require.True(t, ok, "counter %s listed before it moves", seriesKey(d))
				require.Zero(t, v.Sum, seriesKey(d))
			case MetricGauge:
				gauges++
				_, ok := iv.Gauges[seriesKey(d)]
				require.True(t, ok, "gauge %s sampled at start", seriesKey(d))
			}
		}
		require.Greater(t, counters, 30)
		require.Greater(t, gauges, 10)
		require.Equal(t, float32(1), iv.Gauges["test.members;state=alive"].Value, "a fresh node lists itself")
		require.Zero(t, iv.Gauges["test.hyparview_active_peers"].Value)

		helloFromOneToZero(t, c)
		time.Sleep(DefaultMetricsInterval) // one more sample
		synctest.Wait()

		iv = lastInterval(t, ms[0])
		require.Equal(t, float32(1), iv.Gauges["test.hyparview_active_peers"].Value)
		require.Equal(t, float32(1), iv.Gauges["test.plumtree_eager_peers"].Value+iv.Gauges["test.plumtree_lazy_peers"].Value)
		require.Equal(t, float32(2), iv.Gauges["test.members;state=alive"].Value)
		require.Equal(t, float32(1), iv.Gauges["test.connections;state=open"].Value)
		require.Positive(t, iv.Gauges["test.plumtree_retained_payload_bytes"].Value, "the delivered payload is retained for repairs")
		require.Positive(t, iv.Counters["test.plumtree_payloads_received_total"].Sum)
		require.Equal(t, float64(1), iv.Counters["test.messages_delivered_total"].Sum)
		hops := iv.Samples["test.delivery_hops"]
		require.Equal(t, 1, hops.Count, "one delivery from another node")
		require.Equal(t, float64(1), hops.Sum, "from a neighbour: one hop")
		require.Equal(t, 1, iv.Samples["test.delivery_wait_seconds"].Count)
		latency := iv.Samples["test.delivery_latency_seconds"]
		require.Equal(t, 1, latency.Count, "the origin said when it sent it")
		require.GreaterOrEqual(t, latency.Sum, 0.0)
		require.Less(t, latency.Sum, 10.0, "one clock (virtual time) for both nodes")

		origin := lastInterval(t, ms[1])
		// Its own member record (the join) is a broadcast too.
		require.GreaterOrEqual(t, origin.Counters["test.broadcasts_total"].Sum, float64(2))
		require.Equal(t, float64(1), origin.Counters["test.messages_delivered_total"].Sum, "the origin delivers its own broadcast")
		_, sampled := origin.Samples["test.delivery_hops"]
		require.False(t, sampled, "but not as a hop sample")
	})
}

// helloFromOneToZero joins c's two nodes and has node 0 receive a
// broadcast of node 1.
func helloFromOneToZero(t *testing.T, c *memCluster) {
	t.Helper()
	c.joinAll()
	sub := c.nodes[0].Subscribe("t")
	defer sub.Close()
	_, err := c.nodes[1].Broadcast(context.Background(), "t", []byte("hello"))
	require.NoError(t, err)
	receiveN(t, sub, 1, 10*time.Second)
}

// Every metric is documented in docs/operations.md under its exported name.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, d := range MetricDefs() {
		if seen[d.Name] {
			continue
		}
		seen[d.Name] = true
		require.True(t, strings.Contains(string(doc), "`plumview_"+d.Name+"`") || strings.Contains(string(doc), "`plumview_"+d.Name+"{"),
			"plumview_%s is not in docs/operations.md", d.Name)
		if d.Kind == MetricCounter {
			require.True(t, strings.HasSuffix(d.Name, "_total"), d.Name)
		} else {
			require.False(t, strings.HasSuffix(d.Name, "_total"), d.Name)
		}
	}
}

// Without Config.Metrics a node emits nothing and pays nothing for it: the
// default sets no sink (it was a private in-memory one nobody could read,
// which every delivery fed four series), the node still delivers, and
// its emitters neither allocate nor touch the engine.
func TestNoMetricsUnlessAskedFor(t *testing.T) {
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := transport.NewMemNetwork(1).Listen("alone", id, transport.MemConfig{})
	require.NoError(t, err)
	defer tr.Close()
	cfg, err := testConfig(tr, 1).withDefaults()
	require.NoError(t, err)
	require.Nil(t, cfg.Metrics, "no default sink")

	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 2)
		helloFromOneToZero(t, c)

		nd := c.nodes[0]
		require.Nil(t, nd.metrics)
		var allocs float64
		require.NoError(t, nd.call(context.Background(), func() {
			allocs = testing.AllocsPerRun(100, func() {
				nd.incr(mDelivered, 1)
				nd.incrLabel(mEvents, "kind", "join")
				nd.gauge(mActive, 1)
				nd.gaugeLabel(mMembers, "state", "alive", 2)
				nd.observeDelivery(3, time.Now().Add(-time.Millisecond))
				nd.sampleMetrics()
			})
		}))
		require.Zero(t, allocs, "emitting without a sink allocates nothing")
		require.Nil(t, nd.st.engineSeen, "the engine's counters were never read for export")
	})
}

// A negative MetricsInterval is refused.
func TestMetricsIntervalValidated(t *testing.T) {
	cfg := Config{Transport: nil, MetricsInterval: -time.Second}
	_, err := cfg.withDefaults()
	require.ErrorContains(t, err, "MetricsInterval")
}

// BenchmarkSampleMetrics measures one sample of the gauges and the
// engine's counters into a Prometheus sink, through the node's goroutine,
// on a node with a neighbour and a member list of two.
func BenchmarkSampleMetrics(b *testing.B) {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Registerer: prometheus.NewRegistry()})
	require.NoError(b, err)
	mc := metrics.DefaultConfig("plumview")
	mc.EnableRuntimeMetrics, mc.EnableHostname = false, false
	m, err := metrics.New(mc, sink)
	require.NoError(b, err)
	net := transport.NewMemNetwork(1)
	var nodes []*Node
	for i := range 2 {
		id, err := transport.GenerateIdentity()
		require.NoError(b, err)
		tr, err := net.Listen(fmt.Sprint("node", i), id, transport.MemConfig{})
		require.NoError(b, err)
		cfg := testConfig(tr, uint64(i+1))
		cfg.Metrics = m
		nd, err := New(cfg)
		require.NoError(b, err)
		defer nd.Close()
		nodes = append(nodes, nd)
	}
	ctx := context.Background()
	require.NoError(b, nodes[0].Join(ctx))
	require.NoError(b, nodes[1].Join(ctx, nodes[0].Addr()))
	nd := nodes[0]
	for b.Loop() {
		_ = nd.call(ctx, nd.sampleMetrics)
	}
}
