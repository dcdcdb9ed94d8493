package gossip

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/roster"
)

// probeOnce fires the probe tick at at and returns its output.
func probeOnce(t *testing.T, e *Engine, at time.Time) *Ready {
	t.Helper()
	return do(t, e, func(out *Ready) { e.TimerFired(at, Timer{kind: TimerProbe}, out) })
}

// failProbe fires the probe's two timeouts (direct, then indirect) from
// at, each when it is due, and returns when the probe ended.
func failProbe(t *testing.T, e *Engine, tick *Ready, at time.Time) time.Time {
	t.Helper()
	direct := timerOf(tick, TimerProbeTimeout, -1)
	require.NotEqual(t, Timer{}, direct, "a probe started")
	at = at.Add(e.scaledProbeTimeout())
	out := do(t, e, func(out *Ready) { e.TimerFired(at, direct, out) })
	indirect := timerOf(out, TimerProbeTimeout, 2*e.scaledProbeTimeout())
	require.NotEqual(t, Timer{}, indirect, "the indirect stage waits twice the scaled timeout")
	at = at.Add(2 * e.scaledProbeTimeout())
	do(t, e, func(out *Ready) { e.TimerFired(at, indirect, out) })
	return at
}

// TestLocalHealth: a node whose probe tick fires late by more than half
// an interval (it stalled) scales its probe timeouts and the wait of its
// confirming pings, and its failed probe
// of a member others suspect confirms nothing; on time, the same probe
// confirms the suspicion. A refutation of a suspicion of this node raises
// the score too, and a probe answered in time lowers it. Before local
// health, the stalled node's failed probe counted as a confirmation and
// hastened the member's failure.
func TestLocalHealth(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tickAt        time.Duration // the first tick is due at 1 s
		wantTimeout   time.Duration
		wantConfirmed uint64
		wantDoubtful  uint64
	}{
		{"on time", time.Second, DefaultProbeTimeout, 1, 0},
		{"late by 0.4 interval", 1400 * time.Millisecond, DefaultProbeTimeout, 1, 0},
		{"late by 0.6 interval", 1600 * time.Millisecond, 2 * DefaultProbeTimeout, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := lonelyEngine(t, MembersConfig{})
			declare(t, e, t0, roster.StateSuspect)
			at := t0.Add(tc.tickAt)
			tick := probeOnce(t, e, at)
			require.NotEqual(t, Timer{}, timerOf(tick, TimerProbeTimeout, tc.wantTimeout), "probe timeout %v", tc.wantTimeout)
			require.Equal(t, 5*tc.wantTimeout, e.confirmWait(), "the confirming pings' wait scales alike")
			failProbe(t, e, tick, at)
			c := e.Counters()
			require.Equal(t, tc.wantConfirmed, c.Roster.Confirmations)
			require.Equal(t, tc.wantDoubtful, c.Roster.DoubtfulObservations)
		})
	}

	t.Run("refutation raises, an answer lowers", func(t *testing.T) {
		e := lonelyEngine(t, MembersConfig{})
		do(t, e, func(out *Ready) {
			e.Receive(t0, 3, &Records{Records: []roster.Record{{ID: 1, Addr: "a", Incarnation: 0, State: roster.StateSuspect}}}, out)
		})
		require.Equal(t, uint64(1), e.Counters().Roster.Refutations)
		tick := probeOnce(t, e, t0.Add(time.Second))
		require.Equal(t, uint64(1), e.Counters().Engine.HealthRaised)
		require.NotEqual(t, Timer{}, timerOf(tick, TimerProbeTimeout, 2*DefaultProbeTimeout))
		ping, ok := tick.Sends[0].Msg.(*Ping)
		require.True(t, ok)
		do(t, e, func(out *Ready) { e.Receive(t0.Add(1100*time.Millisecond), 5, &Ack{Nonce: ping.Nonce}, out) })
		tick = probeOnce(t, e, t0.Add(2200*time.Millisecond)) // 5 was heard from 1.1 s ago
		require.Equal(t, uint64(1), e.Counters().Engine.HealthRaised, "no new refutation")
		require.NotEqual(t, Timer{}, timerOf(tick, TimerProbeTimeout, DefaultProbeTimeout), "healthy again")
	})
}

// An unhealthy node (its own timers late, health score above zero) does
// not suspect a member listed alive whose connection failed, a neighbour
// or not: its connection most likely timed out because the node could
// not read it in time. The member is probed through the neighbours first,
// and suspected only if that probe fails with every relay's nack (here
// there is no relay, so it is not); with a probe of another member in
// progress, the loss is doubted and counted, and nothing else happens.
// A healthy node suspects a lost neighbour at once, as before, and a
// member it is not linked with once a probe through its neighbours fails
// (at once if one is in progress). Before, every node of an overloaded
// process suspected its neighbours as their keep-alives went unread, and,
// once unhealthy, still whenever a probe was in progress: 448 nodes in one
// process raised thousands of suspicions at the join.
func TestUnhealthyNodeChecksALostNeighbourFirst(t *testing.T) {
	for _, tc := range []struct {
		name        string
		neighbour   bool
		score       uint8
		busy        bool // a probe of another member in progress
		suspectedAt bool // suspected as the connection fails
		probed      bool // an indirect probe of 5 started
	}{
		{"healthy", true, 0, false, true, false},
		{"healthy, busy", true, 0, true, true, false},
		{"unhealthy", true, 1, false, false, true},
		{"unhealthy, busy", true, 1, true, false, false},
		{"not a neighbour, healthy", false, 0, false, false, true},
		{"not a neighbour, healthy, busy", false, 0, true, true, false},
		{"not a neighbour, unhealthy, busy", false, 1, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := lonelyEngine(t, MembersConfig{})
			if tc.neighbour {
				do(t, e, func(out *Ready) { e.Receive(t0, 5, &hyparview.Join{Addr: "e", Nonce: 7}, out) })
				require.True(t, e.hv.IsActive(5), "5 is a neighbour")
			}
			e.live.healthScore = tc.score
			if tc.busy {
				e.live.target, e.live.nonce, e.live.stage = hyparview.Peer{ID: 9, Addr: "i"}, 99, probeDirect
			}
			out := do(t, e, func(out *Ready) { e.ConnectionFailed(t0.Add(time.Second), 5, out) })
			r, _ := e.roster.Get(5)
			require.Equal(t, tc.suspectedAt, r.State == roster.StateSuspect, "suspected at once")
			probe := timerOf(out, TimerProbeTimeout, 2*e.scaledProbeTimeout())
			require.Equal(t, tc.probed, probe != Timer{}, "an indirect probe of 5 started")
			doubted := !tc.suspectedAt && !tc.probed
			require.Equal(t, doubted, e.Counters().Engine.LossesDoubted == 1, "the loss doubted")
			if !tc.probed {
				return
			}
			do(t, e, func(out *Ready) { e.TimerFired(t0.Add(3*time.Second), probe, out) })
			r, _ = e.roster.Get(5)
			// No relay to nack: a healthy node's failed probe suspects; an
			// unhealthy node's is doubted (nack.go).
			require.Equal(t, tc.score == 0, r.State == roster.StateSuspect, "the failed probe suspects it")
			require.Equal(t, tc.score > 0, e.Counters().Engine.LossesDoubted == 1, "the failed probe doubted")
		})
	}
}

// A host whose goroutines waited a quarter of the probe timeout or more
// before they ran (NoteHostLag) raises the score as a late tick does, and
// the probe timeouts scale; a shorter wait, or an engine without the
// member list, changes nothing.
func TestHostLagRaisesHealthScore(t *testing.T) {
	for _, tc := range []struct {
		name        string
		lag         time.Duration
		wantRaised  uint64
		wantTimeout time.Duration
	}{
		{"no lag", 0, 0, DefaultProbeTimeout},
		{"just under a quarter", DefaultProbeTimeout/4 - time.Millisecond, 0, DefaultProbeTimeout},
		{"a quarter", DefaultProbeTimeout / 4, 1, 2 * DefaultProbeTimeout},
		{"seconds", 3 * time.Second, 1, 2 * DefaultProbeTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := lonelyEngine(t, MembersConfig{})
			e.NoteHostLag(t0, tc.lag)
			require.Equal(t, tc.wantRaised, e.Counters().Engine.HealthRaised)
			require.Equal(t, tc.wantTimeout, e.scaledProbeTimeout())
		})
	}
	plain := newEngine(t, 1)
	plain.NoteHostLag(t0, time.Minute)
	require.Zero(t, plain.Counters().Engine.HealthRaised)
}
