package transport

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A connection's silence counts from the last change of its received
// packets, and starts over when the host did not keep its time.
func TestSilenceClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		ms      int
		packets uint64
		forgive bool
		silent  bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"packets keep coming", []step{{0, 1, false, false}, {500, 2, false, false}, {1000, 3, false, false}, {1500, 4, false, false}}},
		{"silent for the idle timeout", []step{{0, 5, false, false}, {500, 5, false, false}, {999, 5, false, false}, {1000, 5, false, true}}},
		{"a packet restarts the silence", []step{{0, 5, false, false}, {900, 6, false, false}, {1800, 6, false, false}, {1900, 6, false, true}}},
		{"a late tick forgives", []step{{0, 5, false, false}, {900, 5, true, false}, {1800, 5, false, false}, {1900, 5, false, true}}},
		{"the first observation is never silent", []step{{5000, 0, false, false}, {5999, 0, false, false}, {6000, 0, false, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c silenceClock
			for _, s := range tc.steps {
				if s.forgive {
					c.forgive(at(s.ms), s.packets)
					continue
				}
				assert.Equal(t, s.silent, c.observe(at(s.ms), s.packets, time.Second), "at %d ms", s.ms)
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
	for settled := 0; settled < 3; {
		time.Sleep(50 * time.Millisecond)
		now := ca.(*conn).link.(*quicLink).qc.ConnectionStats().PacketsReceived
		if now == last {
			settled++
		} else {
			settled, last = 0, now
		}
	}

	base := time.Now()
	tick := func(ms int, onTime bool) {
		a.judgeSilence(base.Add(time.Duration(ms)*time.Millisecond), onTime, time.Second, nil)
	}
	tick(0, true)
	tick(750, true)
	tick(1500, false) // the host stalled: silence starts over
	tick(2250, true)
	select {
	case <-ca.Done():
		t.Fatalf("connection failed although only %v of silence was on time: %v", 750*time.Millisecond, ca.Err())
	default:
	}
	tick(2500, true)
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
// idle timer does (three probe timeouts), never below the idle timeout.
func TestSilenceAllowed(t *testing.T) {
	for _, tc := range []struct{ idle, srtt, rttvar, want time.Duration }{
		{time.Second, time.Millisecond, time.Millisecond, time.Second},
		{time.Second, 200 * time.Millisecond, 50 * time.Millisecond, 3 * (200 + 200 + 25) * time.Millisecond},
		{400 * time.Millisecond, 100 * time.Millisecond, 10 * time.Millisecond, 3 * (100 + 40 + 25) * time.Millisecond},
	} {
		assert.Equal(t, tc.want, silenceAllowed(tc.idle, tc.srtt, tc.rttvar), "%+v", tc)
	}
}
