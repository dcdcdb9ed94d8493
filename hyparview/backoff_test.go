package hyparview

import (
	"math"
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
	require.Equal(t, uint64(maxRequestBackoff), s.Counters().RequestBackoffs, "the timeout at the cap doubles nothing")

	shuffle := func() { step(t, s, timerInput(Timer{Kind: TimerShuffle, Nonce: s.shuffleNonce})) }
	started(s) // past its early ticks: every timer a full tick
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

// Requests sent together, as a repair sends one per missing slot, time out
// together and double the wait once; a request armed before the waits
// relaxed still raises them to one step above its own.
func TestRequestsTimingOutTogetherDoubleOnce(t *testing.T) {
	s := withPassive(withActive(newState(t, 1, Config{ActiveViewSize: 4}, 1), 2, 3, 4), 10, 11, 12, 13, 14, 15)
	s.pending = append(s.pending,
		request{peer: testPeer(10), nonce: 101}, request{peer: testPeer(11), nonce: 102}, request{peer: testPeer(12), nonce: 103})
	for _, r := range []request{s.pending[0], s.pending[1], s.pending[2]} {
		step(t, s, timerInput(Timer{Kind: TimerNeighborRequest, Peer: r.peer.ID, Nonce: r.nonce}))
	}
	require.Equal(t, uint8(1), s.backoff, "three requests of one round: one doubling")
	require.Equal(t, uint64(1), s.Counters().RequestBackoffs)

	s.backoff = 0 // relaxed while an older request, armed at 2, waited
	s.pending = append(s.pending[:0], request{peer: testPeer(13), nonce: 104, shift: 2})
	step(t, s, timerInput(Timer{Kind: TimerNeighborRequest, Peer: 13, Nonce: 104}))
	require.Equal(t, uint8(3), s.backoff)
}

// A configured timeout near the longest Duration saturates instead of
// overflowing into the past.
func TestRequestWaitSaturates(t *testing.T) {
	s := newState(t, 1, Config{}, 1)
	for b := range uint8(maxRequestBackoff + 1) {
		s.backoff = b
		require.Equal(t, time.Duration(math.MaxInt64), s.requestWait(math.MaxInt64))
		if b >= 2 {
			require.Equal(t, time.Duration(math.MaxInt64), s.requestWait(100*365*24*time.Hour), "a century, backed off")
		}
		require.Equal(t, time.Second<<b, s.requestWait(time.Second))
	}
}
