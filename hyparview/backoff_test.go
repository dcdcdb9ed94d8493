package hyparview

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Each unanswered request doubles the wait of the next ones, up to 16
// times the configured timeout; a shuffle period without a timeout halves
// it again (doc.go, deviation 6). A peer that answers in 1.5 s, past the
// 500 ms of the default Neighbor timeout, is thus answered in time from
// the third try on, where every try used to be cancelled by its own timer.
func TestRequestTimeoutsBackOffAndRelax(t *testing.T) {
	base := DefaultConfig().NeighborRequestTimeout
	s := withPassive(withActive(newState(t, 1, Config{ActiveViewSize: 2}, 1), 2, 3), 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
	out := step(t, s, failed(2))
	wait := func(out []Output) (Timer, time.Duration) {
		t.Helper()
		for _, o := range out {
			if o.Kind == OutputSetTimer && o.Timer.Kind == TimerNeighborRequest {
				return o.Timer, o.After
			}
		}
		t.Fatalf("no request timer in %v", out)
		return Timer{}, 0
	}
	timer, after := wait(out)
	require.Equal(t, base, after)
	for _, want := range []time.Duration{2 * base, 4 * base, 8 * base, 16 * base, 16 * base} {
		out = step(t, s, timerInput(timer))
		timer, after = wait(out)
		require.Equal(t, want, after)
	}
	require.Equal(t, uint8(maxRequestBackoff), s.backoff)

	shuffle := func() { step(t, s, timerInput(Timer{Kind: TimerShuffle, Nonce: s.shuffleNonce})) }
	s.started = true
	s.armShuffle()
	shuffle() // timeouts in the period just ended: no relief yet
	require.Equal(t, uint8(maxRequestBackoff), s.backoff)
	for want := maxRequestBackoff - 1; want >= 0; want-- {
		shuffle()
		require.Equal(t, uint8(want), s.backoff)
	}
	shuffle()
	require.Zero(t, s.backoff)
	require.Equal(t, base, s.requestWait(base))
}
