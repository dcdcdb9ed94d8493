package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The samples of a declared histogram land in a Prometheus histogram,
// those of any other key in the sink's summaries; a declared counter is
// exported before it moves.
func TestHistogramSink(t *testing.T) {
	m, g, err := newMetrics()
	require.NoError(t, err)
	m.AddSample([]string{"delivery_hops"}, 3)
	m.AddSample([]string{"delivery_hops"}, 1)
	m.AddSample([]string{"something_else"}, 7)
	families, err := g.Gather()
	require.NoError(t, err)
	types := map[string]string{}
	events := 0
	for _, f := range families {
		types[f.GetName()] = f.GetType().String()
		if f.GetName() == "plumview_member_events_total" {
			events = len(f.GetMetric())
		}
		if f.GetName() == "plumview_delivery_hops" {
			h := f.GetMetric()[0].GetHistogram()
			require.Equal(t, uint64(2), h.GetSampleCount())
			require.Equal(t, 4.0, h.GetSampleSum())
		}
	}
	require.Equal(t, "HISTOGRAM", types["plumview_delivery_hops"])
	require.Equal(t, "SUMMARY", types["plumview_something_else"])
	require.Equal(t, "COUNTER", types["plumview_messages_delivered_total"])
	require.Equal(t, 5, events, "one series per event kind, at 0")
}

// BenchmarkDeliverySamples measures what a delivery adds to the metrics:
// the two histogram samples, through go-metrics and the sink.
func BenchmarkDeliverySamples(b *testing.B) {
	m, _, err := newMetrics()
	require.NoError(b, err)
	for b.Loop() {
		m.AddSample([]string{"delivery_hops"}, 3)
		m.AddSample([]string{"delivery_wait_seconds"}, 0.0003)
	}
}
