package gossip

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// withRelays makes 6, 7 and 8 neighbours of e (lonelyEngine), the relays
// of its indirect probes of member 5.
func withRelays(t *testing.T, e *Engine) []peer.ID {
	t.Helper()
	relays := []peer.ID{6, 7, 8}
	for i, id := range relays {
		do(t, e, func(out *Ready) {
			e.Receive(t0, id, &hyparview.Join{Addr: string(rune('f' + i)), Nonce: uint64(10 + i)}, out)
		})
		require.True(t, e.hv.IsActive(id), "%d is a neighbour", id)
	}
	return relays
}

// A failed probe raises the prober's local health score by one for each
// relay asked when none nacked (Lifeguard §IV-A), by one when it had no
// relay to ask; with a relay's nack in, this node hears its neighbours in
// time, the silence is the target's and the score stays; the next probe's
// timeout is scaled by the new score. A node already unhealthy suspects
// the member only when every relay nacked: otherwise its own word is
// doubted. Before, a failed probe never raised the
// score: 384 nodes in one process on two cores, every probe answered late,
// suspected each other until their member lists could not complete.
func TestFailedProbeScoresMissingNacks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		unhealthy  bool // score 1 before the probe
		relays     bool
		nacks      int
		wantRaised uint64
		suspected  bool
	}{
		{"no relay to ask", false, false, 0, 1, true},
		{"no nack", false, true, 0, 3, true},
		{"one nack of three", false, true, 1, 0, true},
		{"every relay nacked", false, true, 3, 0, true},
		{"unhealthy, no relay to ask", true, false, 0, 1, false},
		{"unhealthy, no nack", true, true, 0, 3, false},
		{"unhealthy, one nack of three", true, true, 1, 0, false},
		{"unhealthy, every relay nacked", true, true, 3, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := lonelyEngine(t, MembersConfig{})
			var relays []peer.ID
			if tc.relays {
				relays = withRelays(t, e)
			}
			score := uint8(0)
			if tc.unhealthy {
				score = 1
			}
			e.live.healthScore = score
			timeout := time.Duration(1+score) * DefaultProbeTimeout
			at := t0.Add(time.Second)
			tick := probeOnce(t, e, at)
			direct := timerOf(tick, TimerProbeTimeout, timeout)
			require.NotEqual(t, Timer{}, direct)
			require.Equal(t, peer.ID(5), tick.Sends[0].To.ID, "5 is probed")
			at = at.Add(timeout)
			out := do(t, e, func(out *Ready) { e.TimerFired(at, direct, out) })
			var nonce uint64
			asked := 0
			for _, s := range out.Sends {
				if m, ok := s.Msg.(*PingReq); ok {
					require.True(t, m.Nack, "nacks asked for")
					require.Contains(t, relays, s.To.ID)
					nonce = m.Nonce
					asked++
				}
			}
			require.Equal(t, len(relays), asked)
			for _, r := range relays[:tc.nacks] {
				do(t, e, func(out *Ready) { e.Receive(at, r, &Ack{Nonce: nonce, Nack: true}, out) })
				do(t, e, func(out *Ready) { e.Receive(at, r, &Ack{Nonce: nonce, Nack: true}, out) }) // twice: counted once
			}
			require.Equal(t, uint64(tc.nacks), e.Counters().Engine.NacksReceived)
			require.Equal(t, uint64(tc.nacks), e.Counters().Engine.StaleAcks, "a relay's second nack is stale")
			require.Zero(t, e.Counters().Engine.ProbesAnswered, "a nack answers nothing")
			indirect := timerOf(out, TimerProbeTimeout, 2*timeout)
			at = at.Add(2 * timeout)
			do(t, e, func(out *Ready) { e.TimerFired(at, indirect, out) })
			require.Equal(t, uint64(1), e.Counters().Engine.ProbesFailed)
			require.Equal(t, tc.wantRaised, e.Counters().Engine.HealthRaised)
			if tc.suspected {
				require.Equal(t, uint64(1), e.Counters().Roster.SuspicionsRaised, "the probe suspects 5")
				require.Zero(t, e.Counters().Engine.LossesDoubted)
			} else {
				require.Zero(t, e.Counters().Roster.SuspicionsRaised, "an unhealthy node's own word accuses no one")
				require.Equal(t, uint64(1), e.Counters().Engine.LossesDoubted)
			}
			require.Equal(t, time.Duration(1+uint64(score)+tc.wantRaised)*DefaultProbeTimeout, e.scaledProbeTimeout(),
				"the next probe's timeout scaled by the score")
		})
	}
}

// A relay asked for nacks sends one to the requester when the target has
// not answered within its probe timeout, keeps waiting one more timeout,
// and still passes on an answer that comes after the nack; a relay not
// asked for nacks (an agent of an earlier version asking) never sends one
// and waits twice the timeout, as before; a relayed probe answered in
// time is not nacked.
func TestRelayNacksASilentTarget(t *testing.T) {
	relayTimers := func(out *Ready) []TimerSet {
		var ts []TimerSet
		for _, s := range out.Timers {
			if s.Timer.Kind() == TimerProbeRelay {
				ts = append(ts, s)
			}
		}
		return ts
	}
	t.Run("silent target", func(t *testing.T) {
		e := lonelyEngine(t, MembersConfig{})
		out := do(t, e, func(out *Ready) { e.Receive(t0, 3, &PingReq{Target: 5, Nonce: 9, Nack: true}, out) })
		ping := out.Sends[0].Msg.(*Ping)
		ts := relayTimers(out)
		require.Len(t, ts, 1)
		require.Equal(t, DefaultProbeTimeout, ts[0].After, "the nack is due after one probe timeout")
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultProbeTimeout), ts[0].Timer, out) })
		require.Equal(t, []Send{{To: hyparview.Peer{ID: 3}, Msg: &Ack{Nonce: 9, Nack: true}}}, out.Sends)
		require.Equal(t, uint64(1), e.Counters().Engine.NacksSent)
		ts = relayTimers(out)
		require.Len(t, ts, 1)
		require.Equal(t, DefaultProbeTimeout, ts[0].After, "then one more timeout")
		out = do(t, e, func(out *Ready) { e.Receive(t0.Add(700*time.Millisecond), 5, &Ack{Nonce: ping.Nonce}, out) })
		require.Contains(t, out.Sends, Send{To: hyparview.Peer{ID: 3}, Msg: &Ack{Nonce: 9}}, "a late answer still goes back")
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(2*DefaultProbeTimeout), ts[0].Timer, out) })
		require.Empty(t, out.Sends)
		require.Empty(t, e.live.relays, "the relay is over")
	})
	t.Run("nack timer fires twice", func(t *testing.T) {
		e := lonelyEngine(t, MembersConfig{})
		out := do(t, e, func(out *Ready) { e.Receive(t0, 3, &PingReq{Target: 5, Nonce: 9, Nack: true}, out) })
		nack := relayTimers(out)[0].Timer
		first := do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultProbeTimeout), nack, out) })
		second := do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultProbeTimeout), nack, out) })
		require.Len(t, first.Sends, 1)
		require.Empty(t, second.Sends, "one nack")
		require.Empty(t, second.Timers, "one give-up timer")
		require.Equal(t, uint64(1), e.Counters().Engine.NacksSent)
	})
	t.Run("answered in time", func(t *testing.T) {
		e := lonelyEngine(t, MembersConfig{})
		out := do(t, e, func(out *Ready) { e.Receive(t0, 3, &PingReq{Target: 5, Nonce: 9, Nack: true}, out) })
		ping := out.Sends[0].Msg.(*Ping)
		nack := relayTimers(out)[0].Timer
		do(t, e, func(out *Ready) { e.Receive(t0.Add(100*time.Millisecond), 5, &Ack{Nonce: ping.Nonce}, out) })
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultProbeTimeout), nack, out) })
		require.Empty(t, out.Sends, "no nack after the answer")
		require.Zero(t, e.Counters().Engine.NacksSent)
	})
	t.Run("not asked", func(t *testing.T) {
		e := lonelyEngine(t, MembersConfig{})
		out := do(t, e, func(out *Ready) { e.Receive(t0, 3, &PingReq{Target: 5, Nonce: 9}, out) })
		ts := relayTimers(out)
		require.Len(t, ts, 1)
		require.Equal(t, 2*DefaultProbeTimeout, ts[0].After)
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(2*DefaultProbeTimeout), ts[0].Timer, out) })
		require.Empty(t, out.Sends)
		require.Zero(t, e.Counters().Engine.NacksSent)
	})
}

// The probe messages as an agent of an earlier version knows them, before
// the nack fields.
type (
	pingReqV1 struct {
		peer.Sealed
		Target peer.ID
		Nonce  uint64
	}
	ackV1 struct {
		peer.Sealed
		Nonce uint64
	}
)

// The nack fields are last: an agent of an earlier version decodes a
// PingReq asking for nacks, and an Ack, as it did (it skips the field, so
// it never nacks), and this version decodes theirs with the fields unset.
func TestNackFieldsAreReadByEarlierVersions(t *testing.T) {
	codec, err := NewCodec(wire.Limits{})
	require.NoError(t, err)
	old, err := wire.NewWithLimits(wire.Limits{},
		wire.Type{Tag: TagPingReq, New: func() peer.Message { return new(pingReqV1) }},
		wire.Type{Tag: TagAck, New: func() peer.Message { return new(ackV1) }})
	require.NoError(t, err)

	frame, err := codec.Encode(&PingReq{Target: 5, Nonce: 9, Nack: true})
	require.NoError(t, err)
	got, err := old.Decode(frame)
	require.NoError(t, err)
	require.Equal(t, &pingReqV1{Target: 5, Nonce: 9}, got)
	frame, err = codec.Encode(&Ack{Nonce: 9, Nack: true})
	require.NoError(t, err)
	got, err = old.Decode(frame)
	require.NoError(t, err)
	require.Equal(t, &ackV1{Nonce: 9}, got)

	frame, err = old.Encode(&pingReqV1{Target: 5, Nonce: 9})
	require.NoError(t, err)
	got, err = codec.Decode(frame)
	require.NoError(t, err)
	require.Equal(t, &PingReq{Target: 5, Nonce: 9}, got)
	frame, err = old.Encode(&ackV1{Nonce: 9})
	require.NoError(t, err)
	got, err = codec.Decode(frame)
	require.NoError(t, err)
	require.Equal(t, &Ack{Nonce: 9}, got)
}

// A nack counts only for the current probe's indirect stage, from a relay
// asked for it: one under another nonce, from a peer not asked, or while
// the probe is still direct is stale, and the failed probe then raises
// the score as with no nack at all.
func TestStaleNacksDoNotClearTheProber(t *testing.T) {
	e := lonelyEngine(t, MembersConfig{})
	withRelays(t, e)
	at := t0.Add(time.Second)
	tick := probeOnce(t, e, at)
	direct := timerOf(tick, TimerProbeTimeout, DefaultProbeTimeout)
	ping := tick.Sends[0].Msg.(*Ping)
	do(t, e, func(out *Ready) { e.Receive(at, 6, &Ack{Nonce: ping.Nonce, Nack: true}, out) }) // still direct
	at = at.Add(DefaultProbeTimeout)
	out := do(t, e, func(out *Ready) { e.TimerFired(at, direct, out) })
	do(t, e, func(out *Ready) { e.Receive(at, 6, &Ack{Nonce: ping.Nonce + 2, Nack: true}, out) }) // another nonce
	do(t, e, func(out *Ready) { e.Receive(at, 3, &Ack{Nonce: ping.Nonce, Nack: true}, out) })     // not asked
	require.Equal(t, uint64(3), e.Counters().Engine.StaleAcks)
	require.Zero(t, e.Counters().Engine.NacksReceived)
	indirect := timerOf(out, TimerProbeTimeout, 2*DefaultProbeTimeout)
	do(t, e, func(out *Ready) { e.TimerFired(at.Add(2*DefaultProbeTimeout), indirect, out) })
	require.Equal(t, uint64(1), e.Counters().Engine.ProbesFailed)
	require.Equal(t, uint64(3), e.Counters().Engine.HealthRaised, "no nack: each relay's silence counts")
}

// A connection that fails while the probe is direct moves it to its
// indirect stage at once, and the direct stage's timer, still pending,
// ends nothing when it fires: the relays keep their whole wait to answer
// or nack. Before, that timer ended the indirect stage after one
// timeout, so no nack could come, and the prober suspected the member
// and raised its own score.
func TestDirectTimerDoesNotEndTheIndirectStage(t *testing.T) {
	e := lonelyEngine(t, MembersConfig{})
	relays := withRelays(t, e)
	at := t0.Add(time.Second)
	tick := probeOnce(t, e, at)
	direct := timerOf(tick, TimerProbeTimeout, DefaultProbeTimeout)
	out := do(t, e, func(out *Ready) { e.ConnectionFailed(at.Add(50*time.Millisecond), 5, out) })
	indirect := timerOf(out, TimerProbeTimeout, 2*DefaultProbeTimeout)
	require.NotEqual(t, Timer{}, indirect, "the probe went indirect at once")
	do(t, e, func(out *Ready) { e.TimerFired(at.Add(DefaultProbeTimeout), direct, out) })
	require.Zero(t, e.Counters().Engine.ProbesFailed, "the direct stage's timer ends nothing")
	require.Equal(t, probeIndirect, e.live.stage)
	nonce := e.live.nonce
	for _, r := range relays {
		do(t, e, func(out *Ready) { e.Receive(at.Add(600*time.Millisecond), r, &Ack{Nonce: nonce, Nack: true}, out) })
	}
	do(t, e, func(out *Ready) { e.TimerFired(at.Add(1050*time.Millisecond), indirect, out) })
	require.Equal(t, uint64(1), e.Counters().Engine.ProbesFailed)
	require.Equal(t, uint64(3), e.Counters().Engine.NacksReceived)
	require.Zero(t, e.Counters().Engine.HealthRaised, "the relays nacked: the silence is the target's")
}

// A loss an unhealthy node doubted (a probe of another member in
// progress) is checked by its next probe, before the round-robin list.
func TestDoubtedLossIsProbedNext(t *testing.T) {
	e := lonelyEngine(t, MembersConfig{})
	for _, id := range []peer.ID{7, 8, 9} {
		do(t, e, func(out *Ready) {
			e.Receive(t0, 3, &Records{Records: []roster.Record{{ID: id, Addr: "x", Incarnation: 1, State: roster.StateAlive}}}, out)
		})
	}
	e.live.healthScore = 1
	e.live.startProbe(hyparview.Peer{ID: 9, Addr: "x"}, 99)
	do(t, e, func(out *Ready) { e.ConnectionFailed(t0.Add(time.Second), 8, out) })
	require.Equal(t, uint64(1), e.Counters().Engine.LossesDoubted)
	e.live.stage = probeIdle // the probe of 9 ended
	tick := probeOnce(t, e, t0.Add(2*time.Second))
	require.Equal(t, peer.ID(8), tick.Sends[0].To.ID, "the doubted member is probed first")
}
