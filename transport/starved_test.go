package transport

import (
	"math"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tail of the waits since the last look is read from the difference
// of two cumulative histograms; too few waits say nothing.
func TestDeltaQuantile(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0.001, 0.01, 0.1, 1, math.Inf(1)}
	for _, tc := range []struct {
		name         string
		prev, counts []uint64
		want         float64
	}{
		{"too few waits", []uint64{0, 0, 0, 0, 0}, []uint64{0, 5, 0, 0, 5}, 0},
		{"all fast", []uint64{0, 100, 0, 0, 0}, []uint64{0, 1100, 0, 0, 0}, 0.001},
		{"a slow hundredth and more", []uint64{0, 0, 0, 0, 0}, []uint64{0, 90, 5, 5, 0}, 0.1},
		{"old slow waits do not count", []uint64{0, 0, 0, 0, 500}, []uint64{0, 100, 0, 0, 500}, 0.001},
		{"the open last bucket", []uint64{0, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 50}, 1},
		{"below zero is zero", []uint64{0, 0, 0, 0, 0}, []uint64{50, 0, 0, 0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, deltaQuantile(buckets, tc.counts, tc.prev, starvedQuantile))
		})
	}
}

// The sampler reads the runtime's histogram at most once per gap, and
// its first look has nothing to compare with.
func TestSchedSampler(t *testing.T) {
	s := &schedSampler{sample: []metrics.Sample{{Name: schedLatencyMetric}}}
	now := time.Now()
	require.Zero(t, s.tailLatency(now, time.Second), "the first look")
	first := s.last
	s.tailLatency(now.Add(time.Millisecond), time.Second)
	require.Equal(t, first, s.last, "within the gap, no new look")
	s.tailLatency(now.Add(2*time.Second), time.Second)
	require.Equal(t, now.Add(2*time.Second), s.last)
}
