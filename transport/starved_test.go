package transport

import (
	"math"
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
		ok           bool
	}{
		{"too few waits", []uint64{0, 0, 0, 0, 0}, []uint64{0, 5, 0, 0, 5}, 0, false},
		{"all fast", []uint64{0, 100, 0, 0, 0}, []uint64{0, 1100, 0, 0, 0}, 0.001, true},
		{"a slow hundredth and more", []uint64{0, 0, 0, 0, 0}, []uint64{0, 90, 5, 5, 0}, 0.1, true},
		{"one slow wait in a hundred", []uint64{0, 0, 0, 0, 0}, []uint64{0, 99, 0, 0, 1}, 0.001, true},
		{"old slow waits do not count", []uint64{0, 0, 0, 0, 500}, []uint64{0, 100, 0, 0, 500}, 0.001, true},
		{"the open last bucket", []uint64{0, 0, 0, 0, 0}, []uint64{0, 0, 0, 0, 50}, 1, true},
		{"below zero is zero", []uint64{0, 0, 0, 0, 0}, []uint64{50, 0, 0, 0, 0}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := deltaQuantile(buckets, tc.counts, tc.prev, starvedQuantile)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// Every meter sees every wait: one meter's look takes nothing from
// another's, and a meter that found too few waits keeps its counts.
func TestLagMetersDoNotShareLooks(t *testing.T) {
	var a, b lagMeter
	a.look()
	b.look()
	require.Equal(t, len(a.prev), len(b.prev), "both meters started")
	if len(a.prev) == 0 {
		t.Skip("this Go runtime has no " + schedLatencyMetric)
	}
	start := append([]uint64(nil), b.prev...)
	// Make the scheduler record waits, and let the cache expire.
	deadline := time.Now().Add(time.Minute)
	for {
		done := make(chan struct{})
		for range 64 {
			go func() { done <- struct{}{} }()
		}
		for range 64 {
			<-done
		}
		time.Sleep(hostLagWindow)
		a.look()
		_, counts := hostHistogram.snapshot(nil)
		var total uint64
		for i := range counts {
			total += counts[i] - start[i]
		}
		if total >= minStarvedSamples || time.Now().After(deadline) {
			break
		}
	}
	b.look()
	var seen uint64
	for i := range b.prev {
		seen += b.prev[i] - start[i]
	}
	require.GreaterOrEqual(t, seen, uint64(minStarvedSamples), "b's look covers the waits a's looks saw too")
}
