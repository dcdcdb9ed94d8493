package transport

import (
	"time"
)

// Silence judged by a host that keeps its own time. A connection whose
// peer sends nothing, not even a keep-alive, for IdleTimeout is presumed
// dead (ErrIdleTimeout): the membership layer's fastest failure detector.
// QUIC's own idle timer cannot tell a dead peer from a host too busy to
// read its socket: when this process is starved of CPU (an overloaded
// host, a stop of the world, many nodes sharing a few cores), the peer's
// keep-alives wait unread or its own timers fire late, and connections of
// the process time out by the hundred, each failure costing a repair, a
// new handshake and a suspicion that load the host further: the collapse
// of 256 nodes on two cores under the bench's sustained load
// (docs/benchmarks.md). Lifeguard (A. Dadgar, J. Phillips, J. Currey,
// 2018, §IV-A) answers the same trap in SWIM by having a node that cannot
// keep its own time distrust its own judgement; here the same idea
// applies to the transport's idle timer.
//
// So QUIC's idle timeout is only a backstop (Config.MaxSilence), and the
// transport judges silence itself: a watch ticks every IdleTimeout/4 and
// reads each connection's count of received packets (keep-alives and
// their acknowledgements included). A connection whose count has not
// moved for the ticks of IdleTimeout, or of three of QUIC's probe
// timeouts on a path whose round trips have grown (silenceAllowed), is
// closed with ErrIdleTimeout; but only ticks during which this host kept
// its own time count (ticks, not clock readings, so that the jitter of
// the ticker never adds a tick). A tick that comes more than a quarter of the idle timeout late,
// or a look at the scheduler (starved.go) showing that the slowest
// hundredth of the process's goroutines waited, runnable, more than a
// quarter of the idle timeout, says that this process was not running
// its network goroutines in time: every connection's silence starts over.
// A dead peer is still noticed within IdleTimeout and a quarter while
// this host runs on time; a starved host notices it once it runs on time
// again, or at MaxSilence, instead of failing every live link.

// silenceTicks is how many watch ticks make one idle timeout.
const silenceTicks = 4

// starvedFraction: goroutines that wait, runnable, an idle timeout over
// this before they run mean a starved host (starved.go).
const starvedFraction = 4

// silenceClock is one connection's silence as the watch measures it, in
// ticks of the watch.
type silenceClock struct {
	packets uint64 // received packets at the last change
	since   int64  // the tick of the last change, or of the last forgiveness
	seen    bool
}

// observe records the connection's received-packet count at tick, a
// punctual tick, and reports whether it has been silent for allowed
// ticks.
func (s *silenceClock) observe(tick int64, packets uint64, allowed int64) bool {
	if packets != s.packets || !s.seen {
		s.packets, s.since, s.seen = packets, tick, true
		return false
	}
	return tick-s.since >= allowed
}

// forgive restarts the silence at tick: the host did not keep its time.
func (s *silenceClock) forgive(tick int64, packets uint64) {
	s.packets, s.since, s.seen = packets, tick, true
}

// silenceAllowed is the silence a connection may keep before it fails,
// in ticks of period: the idle timeout, or three probe timeouts of QUIC's
// loss recovery if they are longer (RFC 9000 §10.1, which quic-go's own
// idle timer follows): on a path whose round trips have grown, a
// keep-alive and its acknowledgement take longer, and a retransmission
// longer still.
func silenceAllowed(idle, period, srtt, rttvar time.Duration) int64 {
	pto := srtt + max(4*rttvar, time.Millisecond) + maxAckDelay
	d := max(idle, 3*pto)
	return int64((d + period - 1) / period)
}

// maxAckDelay is QUIC's default max_ack_delay (RFC 9000 §18.2), which
// quic-go announces: the longest a peer holds an acknowledgement back.
const maxAckDelay = 25 * time.Millisecond

// punctual reports whether a tick due at due and taken at now came on
// time: no later than a quarter of the idle timeout.
func punctual(due, now time.Time, idle time.Duration) bool {
	return now.Sub(due) <= idle/silenceTicks
}

// watchSilence is the watch of the QUIC transport's connections; it runs
// until the transport closes.
func (t *QUIC) watchSilence() {
	defer t.wg.Done()
	idle := t.cfg.IdleTimeout
	period := idle / silenceTicks
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	last := time.Now()
	var (
		links []*quicLink
		lag   lagMeter // the watch's own look at the scheduler (starved.go)
		tick  int64
	)
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-ticker.C:
		}
		now := time.Now()
		tick++
		onTime := punctual(last.Add(period), now, idle) && lag.look() < idle/starvedFraction
		last = now
		links = t.judgeSilence(tick, onTime, idle, links)
	}
}

// judgeSilence is the watch's tick number tick: it closes with
// ErrIdleTimeout the connections silent for the idle timeout, or, on a
// tick that was not on time, starts every connection's silence over.
// links is scratch space, returned for reuse, emptied so that it holds
// no closed connection.
func (t *QUIC) judgeSilence(tick int64, onTime bool, idle time.Duration, links []*quicLink) []*quicLink {
	if !onTime {
		t.stats.silenceForgiven.Add(1)
	}
	links = links[:0]
	t.mu.Lock()
	for c := range t.conns {
		if l, ok := c.link.(*quicLink); ok {
			links = append(links, l)
		}
	}
	t.mu.Unlock()
	period := idle / silenceTicks
	for _, l := range links {
		cs := l.qc.ConnectionStats()
		if !onTime {
			l.silence.forgive(tick, cs.PacketsReceived)
		} else if l.silence.observe(tick, cs.PacketsReceived, silenceAllowed(idle, period, cs.SmoothedRTT, cs.MeanDeviation)) {
			t.stats.silenceTimeouts.Add(1)
			l.c.fail(ErrIdleTimeout)
		}
	}
	clear(links)
	return links
}
