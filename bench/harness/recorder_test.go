package harness

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecorder(t *testing.T) {
	r := NewRecorder(3)
	t0 := time.Unix(100, 0)
	done := r.Sent(1, 0, t0)
	assert.Equal(t, 1, r.InFlight())

	r.Deliver(0, 1, t0.Add(time.Millisecond)) // the origin: ignored
	r.Deliver(1, 1, t0.Add(5*time.Millisecond))
	_, ok := r.Latency(1)
	assert.False(t, ok)
	assert.Equal(t, 1, r.Missing(1))
	select {
	case <-done:
		t.Fatal("complete too early")
	default:
	}

	r.Deliver(2, 1, t0.Add(9*time.Millisecond))
	<-done
	l, ok := r.Latency(1)
	require.True(t, ok)
	assert.Equal(t, 9*time.Millisecond, l)
	assert.Equal(t, 0, r.InFlight())

	r.Deliver(2, 1, t0.Add(10*time.Millisecond)) // duplicate
	r.Deliver(1, 42, t0)                         // unknown id
	r.Deliver(7, 1, t0)                          // unknown node
	dels, dups, unknown := r.Counts()
	assert.Equal(t, [3]uint64{2, 1, 2}, [3]uint64{dels, dups, unknown})
}

func TestRecorderExpire(t *testing.T) {
	r := NewRecorder(2)
	t0 := time.Unix(100, 0)
	r.Sent(1, 0, t0)
	r.Sent(2, 1, t0.Add(time.Second))
	assert.Equal(t, 2, r.InFlight())
	assert.Equal(t, 1, r.Expire(t0.Add(time.Millisecond)))
	assert.Equal(t, 1, r.InFlight())
	assert.Equal(t, 0, r.Expire(t0.Add(time.Millisecond)), "expired once only")

	r.Deliver(1, 1, t0.Add(time.Minute)) // a late delivery still counts, in flight unchanged
	assert.Equal(t, 1, r.InFlight())
	_, ok := r.Latency(1)
	assert.True(t, ok)
	r.Deliver(0, 2, t0.Add(2*time.Second))
	assert.Equal(t, 0, r.InFlight())
}

func TestWaitUntilBounded(t *testing.T) {
	calls := 0
	start := time.Now()
	ok, why := WaitUntil(t.Context(), start.Add(50*time.Millisecond), 5*time.Millisecond, func() (bool, string) {
		calls++
		return false, "never"
	})
	assert.False(t, ok)
	assert.Equal(t, "never", why)
	assert.Less(t, time.Since(start), time.Second)
	assert.Greater(t, calls, 1)

	ok, _ = WaitUntil(t.Context(), start.Add(time.Hour), time.Millisecond, func() (bool, string) { return true, "" })
	assert.True(t, ok)
}

func TestCPUModel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cpuinfo")
	require.NoError(t, os.WriteFile(p, []byte("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t: x\n"), 0o644))
	assert.Equal(t, "Some CPU @ 2.0GHz", cpuModel(p))
	assert.Equal(t, "unknown", cpuModel(filepath.Join(t.TempDir(), "missing")))
}

func TestValidate(t *testing.T) {
	good := Options{Nodes: 2, Messages: 1, Sizes: []int{8}, Timeout: time.Second, MsgTimeout: time.Second, Sustain: time.Second, Window: 1}
	assert.NoError(t, good.Validate())
	bad := good
	bad.Nodes = 1
	assert.Error(t, bad.Validate())
	bad = good
	bad.Sizes = []int{4}
	assert.Error(t, bad.Validate())
	bad = good
	bad.Window = 0
	assert.Error(t, bad.Validate())
	bad = good
	bad.Idle = -time.Second
	assert.Error(t, bad.Validate())
	bad.Idle = 2 * time.Second
	assert.Error(t, bad.Validate(), "the idle phase is bounded by the phase timeout")
	good.Idle = time.Second
	assert.NoError(t, good.Validate())
	bad = good
	bad.IdleWarmup = -time.Second
	assert.Error(t, bad.Validate())
	bad.IdleWarmup = 2 * time.Second
	assert.Error(t, bad.Validate(), "the idle warm-up is bounded by the phase timeout")
	bad = good
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		bad.JoinRate = r
		assert.Error(t, bad.Validate(), "rate %g", r)
	}
	paced := good
	paced.Nodes, paced.Timeout, paced.JoinRate = 101, time.Minute, 10 // the last joiner starts after 9.9 s
	assert.NoError(t, paced.Validate())
	paced.JoinRate = 1 // after 99 s, past the join's bound
	assert.Error(t, paced.Validate())
}

// A paced join starts joiner i (from 1) after (i-1)/rate seconds; without
// a rate, all at once.
func TestJoinDelay(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		i    int
		want time.Duration
	}{
		{0, 5, 0},
		{10, 1, 0},
		{10, 2, 100 * time.Millisecond},
		{10, 11, time.Second},
		{4, 9, 2 * time.Second},
	} {
		assert.Equal(t, tc.want, Config{JoinRate: tc.rate}.JoinDelay(tc.i), "rate %g, joiner %d", tc.rate, tc.i)
	}
}

// WaitJoinTurn ends with the context when the turn is far away.
func TestWaitJoinTurnEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := WaitJoinTurn(ctx, Config{JoinRate: 0.001}, time.Now(), 10)
	assert.ErrorIs(t, err, context.Canceled)
}

// The idle rows name the warm-up before the measured phase, when there is
// one.
func TestIdleRowsNameTheWarmup(t *testing.T) {
	label := func(o Options) string {
		for _, row := range Rows(o) {
			if row.Key == KeyIdleCPU {
				return row.Label
			}
		}
		return ""
	}
	o := Options{Idle: 10 * time.Second}
	assert.Contains(t, label(o), "idle (10s, no broadcasts)")
	o.IdleWarmup = 15 * time.Second
	assert.Contains(t, label(o), "idle (10s after 15s, no broadcasts)")
}
