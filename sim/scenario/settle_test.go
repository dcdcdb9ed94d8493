package scenario

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/sim/engine"
)

// treesSettled finds the first run of settleRun broadcasts after the
// reference time whose RMR is low; broadcasts before it do not count.
func TestTreesSettled(t *testing.T) {
	// rmr builds a broadcast started at second s with the given RMR
	// (reached by 101 nodes: RMR = payloads/100 - 1).
	rmr := func(s int, r float64) engine.Broadcast {
		return engine.Broadcast{Start: time.Duration(s) * time.Second, Delivered: 101, PayloadSent: int(100 * (1 + r))}
	}
	low, high := 0.0, 0.5
	cases := []struct {
		name string
		bs   []engine.Broadcast
		ref  time.Duration
		want time.Duration
	}{
		{"settled at once", []engine.Broadcast{rmr(1, low), rmr(2, low), rmr(3, low), rmr(4, low), rmr(5, low)}, 0, time.Second},
		{"a high one restarts the run", []engine.Broadcast{rmr(1, low), rmr(2, high), rmr(3, low), rmr(4, low), rmr(5, low), rmr(6, low), rmr(7, low)}, 0, 3 * time.Second},
		{"too short a run", []engine.Broadcast{rmr(1, low), rmr(2, low), rmr(3, low), rmr(4, low)}, 0, -1},
		{"before the reference", []engine.Broadcast{rmr(1, low), rmr(2, low), rmr(3, low), rmr(4, low), rmr(5, low), rmr(6, low)}, 3 * time.Second, -1},
		{"never", []engine.Broadcast{rmr(1, high), rmr(2, high), rmr(3, high), rmr(4, high), rmr(5, high)}, 0, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, treesSettled(c.bs, c.ref))
		})
	}
}
