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
// moved for IdleTimeout, or for three of QUIC's probe timeouts on a path
// whose round trips have grown (silenceAllowed), is closed with
// ErrIdleTimeout; but only time during which this host kept its own time
// counts. A tick that comes more than a quarter of the idle timeout late,
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

// silenceClock is one connection's silence as the watch measures it.
type silenceClock struct {
	packets uint64    // received packets at the last change
	since   time.Time // when the count last changed, or the watch last forgave
}

// observe records the connection's received-packet count at now, a
// punctual tick, and reports whether it has been silent for idle.
func (s *silenceClock) observe(now time.Time, packets uint64, idle time.Duration) bool {
	if packets != s.packets || s.since.IsZero() {
		s.packets, s.since = packets, now
		return false
	}
	return now.Sub(s.since) >= idle
}

// forgive restarts the silence at now: the host did not keep its time.
func (s *silenceClock) forgive(now time.Time, packets uint64) {
	s.packets, s.since = packets, now
}

// silenceAllowed is the silence a connection may keep before it fails:
// the idle timeout, or three probe timeouts of QUIC's loss recovery if
// they are longer (RFC 9000 §10.1, which quic-go's own idle timer
// follows): on a path whose round trips have grown, a keep-alive and its
// acknowledgement take longer, and a retransmission longer still.
func silenceAllowed(idle, srtt, rttvar time.Duration) time.Duration {
	pto := srtt + max(4*rttvar, time.Millisecond) + maxAckDelay
	return max(idle, 3*pto)
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
	tick := time.NewTicker(period)
	defer tick.Stop()
	last := time.Now()
	var links []*quicLink
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		onTime := punctual(last.Add(period), now, idle) &&
			HostLag(now) < idle/starvedFraction
		last = now
		links = t.judgeSilence(now, onTime, idle, links[:0])
	}
}

// judgeSilence is one tick of the watch at now: it closes with
// ErrIdleTimeout the connections silent for idle, or, on a tick that
// was not on time, starts every connection's silence over. links is
// scratch space, returned for reuse.
func (t *QUIC) judgeSilence(now time.Time, onTime bool, idle time.Duration, links []*quicLink) []*quicLink {
	if !onTime {
		t.stats.silenceForgiven.Add(1)
	}
	t.mu.Lock()
	for c := range t.conns {
		if l, ok := c.link.(*quicLink); ok {
			links = append(links, l)
		}
	}
	t.mu.Unlock()
	for _, l := range links {
		cs := l.qc.ConnectionStats()
		if !onTime {
			l.silence.forgive(now, cs.PacketsReceived)
		} else if l.silence.observe(now, cs.PacketsReceived, silenceAllowed(idle, cs.SmoothedRTT, cs.MeanDeviation)) {
			t.stats.silenceTimeouts.Add(1)
			l.c.fail(ErrIdleTimeout)
		}
	}
	return links
}
