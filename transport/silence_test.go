package transport

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A connection's silence counts, in ticks, from the last change of its
// received packets, and starts over when the host did not keep its time.
func TestSilenceClock(t *testing.T) {
	type step struct {
		tick    int64
		packets uint64
		forgive bool
		silent  bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"packets keep coming", []step{{1, 1, false, false}, {2, 2, false, false}, {3, 3, false, false}, {4, 4, false, false}, {5, 5, false, false}}},
		{"silent for the idle timeout", []step{{1, 5, false, false}, {2, 5, false, false}, {4, 5, false, false}, {5, 5, false, true}}},
		{"a packet restarts the silence", []step{{1, 5, false, false}, {4, 6, false, false}, {7, 6, false, false}, {8, 6, false, true}}},
		{"a late tick forgives", []step{{1, 5, false, false}, {4, 5, true, false}, {7, 5, false, false}, {8, 5, false, true}}},
		{"the first observation is never silent", []step{{20, 0, false, false}, {23, 0, false, false}, {24, 0, false, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c silenceClock
			for _, s := range tc.steps {
				if s.forgive {
					c.forgive(s.tick, s.packets)
					continue
				}
				assert.Equal(t, s.silent, c.observe(s.tick, s.packets, silenceTicks), "at tick %d", s.tick)
			}
		})
	}
}

func TestPunctual(t *testing.T) {
	due := time.Unix(1000, 0)
	for _, tc := range []struct {
		late time.Duration
		want bool
	}{
		{0, true}, {-time.Millisecond, true}, {250 * time.Millisecond, true}, {251 * time.Millisecond, false}, {3 * time.Second, false},
	} {
		assert.Equal(t, tc.want, punctual(due, due.Add(tc.late), time.Second), "late by %v", tc.late)
	}
}

// mutedConn drops every packet it is asked to write while muted.
type mutedConn struct {
	net.PacketConn
	muted atomic.Bool
}

func (c *mutedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.muted.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// A silent peer is failed by the watch after the idle timeout of ticks on
// time, not before: a late tick (this host starved) starts the silence
// over. The transports' own watch is held off (an idle timeout of an
// hour) so that the test drives the ticks with a clock of its own.
func TestSilenceJudgedOnlyOnTime(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	muted := &mutedConn{PacketConn: udp}
	a := newQUIC(t, Config{IdleTimeout: time.Hour})
	b := newQUIC(t, Config{IdleTimeout: time.Hour, PacketConn: muted})
	ca, _ := connect(t, a, b)
	muted.muted.Store(true)
	// Let what b sent before it fell silent arrive.
	last := ca.(*conn).link.(*quicLink).qc.ConnectionStats().PacketsReceived
	settled := 0
	for try := 0; settled < 3 && try < 600; try++ { // bounded: 30 s
		time.Sleep(50 * time.Millisecond)
		now := ca.(*conn).link.(*quicLink).qc.ConnectionStats().PacketsReceived
		if now == last {
			settled++
		} else {
			settled, last = 0, now
		}
	}
	require.Equal(t, 3, settled, "packets from the muted peer kept arriving")

	// Ticks of 250 ms, as a 1 s idle timeout has them.
	tick := func(n int64, onTime bool) { a.judgeSilence(n, onTime, time.Second, nil) }
	tick(1, true)
	tick(4, true)
	tick(7, false) // the host stalled: silence starts over
	tick(10, true)
	select {
	case <-ca.Done():
		t.Fatalf("connection failed although only three ticks of silence were on time: %v", ca.Err())
	default:
	}
	tick(11, true)
	require.ErrorIs(t, waitDone(t, ca, waitTimeout), ErrIdleTimeout)
	s := a.Stats()
	assert.EqualValues(t, 1, s.SilenceTimeouts)
	assert.EqualValues(t, 1, s.SilenceForgiven)
}

func TestMaxSilenceDefaults(t *testing.T) {
	for _, tc := range []struct{ idle, max, want time.Duration }{
		{0, 0, 10 * DefaultIdleTimeout},
		{500 * time.Millisecond, 0, 5 * time.Second},
		{time.Second, 3 * time.Second, 3 * time.Second},
		{2 * time.Second, time.Second, 2 * time.Second}, // never below IdleTimeout
	} {
		c := Config{IdleTimeout: tc.idle, MaxSilence: tc.max}.withDefaults()
		assert.Equal(t, tc.want, c.MaxSilence, "idle %v, max %v", tc.idle, tc.max)
	}
	q := newQUIC(t, Config{})
	assert.Equal(t, 10*time.Second, q.serverQUIC.MaxIdleTimeout)
}

// The silence allowed grows with the path's round trips as QUIC's own
// idle timer does (three probe timeouts), never below the idle timeout,
// in whole ticks.
func TestSilenceAllowed(t *testing.T) {
	const period = 250 * time.Millisecond
	for _, tc := range []struct {
		idle, srtt, rttvar time.Duration
		want               int64
	}{
		{time.Second, time.Millisecond, time.Millisecond, 4},
		{time.Second, 200 * time.Millisecond, 50 * time.Millisecond, 6},  // 3 × 425 ms = 1,275 ms
		{time.Second, 300 * time.Millisecond, 100 * time.Millisecond, 9}, // 3 × 725 ms = 2,175 ms
	} {
		assert.Equal(t, tc.want, silenceAllowed(tc.idle, period, tc.srtt, tc.rttvar), "%+v", tc)
	}
}

// A dialler with an idle timeout shorter than its keep-alive period keeps
// a live, idle link: its keep-alives come within half the idle timeout it
// judges, not of the QUIC backstop's (with the backstop's, every 5 s
// here, and an acceptor that pings as rarely, the watch failed the link
// after a second).
func TestShortIdleTimeoutKeepsIdleLink(t *testing.T) {
	a := newQUIC(t, Config{IdleTimeout: time.Second, KeepAlivePeriod: 5 * time.Second})
	b := newQUIC(t, Config{IdleTimeout: 10 * time.Second, KeepAlivePeriod: 5 * time.Second})
	assert.Equal(t, 500*time.Millisecond, a.clientQUIC.KeepAlivePeriod)
	ca, _ := connect(t, a, b)
	// Four idle timeouts of a: a live link must still be open. A loaded
	// host may only forgive more, never fail a link sooner.
	time.Sleep(4 * time.Second)
	select {
	case <-ca.Done():
		t.Fatalf("a live idle link failed: %v", ca.Err())
	default:
	}
}
