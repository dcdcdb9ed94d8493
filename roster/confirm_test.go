package roster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// curve is the setting the tests' figures are computed for: 5 s alone,
// 2 s after K = 3 confirmations.
var curve = Config{SuspicionTimeout: 5 * time.Second, SuspicionMinTimeout: 2 * time.Second, SuspicionConfirmations: 3}

// suspicionTimers returns the suspicion timers set in out, with their delays.
func suspicionTimers(out []Output) []time.Duration {
	var ds []time.Duration
	for _, o := range ofKind(out, OutputSetTimer) {
		if o.Timer.Kind == TimerSuspicion {
			ds = append(ds, o.After)
		}
	}
	return ds
}

// TestSuspicionTimeoutCurve: Lifeguard's curve between the bounds, for the
// tests' setting (5 s, 2 s, K = 3) and with confirmations off, and the
// shortest suspicion of each.
func TestSuspicionTimeoutCurve(t *testing.T) {
	r := newRoster(t, 1, 1, curve)
	off := newRoster(t, 1, 1, Config{SuspicionConfirmations: -1, SuspicionMinTimeout: curve.SuspicionMinTimeout})
	for _, tc := range []struct {
		k        int
		want     time.Duration
		wantOff  time.Duration
		describe string
	}{
		{0, 5 * time.Second, 5 * time.Second, "one declarer: the whole timeout"},
		{1, 3500 * time.Millisecond, 5 * time.Second, "log 2 / log 4 of the way down"},
		{2, 2623 * time.Millisecond, 5 * time.Second, "log 3 / log 4"},
		{3, 2 * time.Second, 5 * time.Second, "K confirmations: the minimum"},
		{7, 2 * time.Second, 5 * time.Second, "more change nothing"},
	} {
		require.InDelta(t, tc.want, r.suspicionTimeout(tc.k), float64(time.Millisecond), tc.describe)
		require.Equal(t, tc.wantOff, off.suspicionTimeout(tc.k), tc.describe)
	}
	require.Equal(t, 3500*time.Millisecond, r.ShortestSuspicion().Round(time.Millisecond), "unsigned: one confirmation, the node's own")
	require.Equal(t, 5*time.Second, off.ShortestSuspicion(), "confirmations off: the whole timeout")
	signed := newRoster(t, 1, 1, Config{Auth: testAuth{1}, SuspicionTimeout: curve.SuspicionTimeout, SuspicionMinTimeout: curve.SuspicionMinTimeout, SuspicionConfirmations: 3})
	require.Equal(t, 2*time.Second, signed.ShortestSuspicion(), "signed: the minimum")
}

// TestOwnObservationConfirms: a node holding a suspicion it learned (no
// signatures: no declarer) that then loses its own connection to the
// member counts one confirmation and brings its timer forward, counted
// from when it learned the suspicion; a second observation of its own
// counts nothing; the member is then settled for the probes.
func TestOwnObservationConfirms(t *testing.T) {
	r := newRoster(t, 1, 1, curve)
	step(t, r, t0, receive(rec(2, StateSuspect, 4)))
	require.False(t, r.Settled(2), "learned, not observed")
	require.True(t, r.Settled(3), "unknown members need nothing")

	out := step(t, r, t0.Add(time.Second), down(2, hyparview.DownFailed))
	require.Equal(t, []time.Duration{2500 * time.Millisecond}, suspicionTimers(out), "3.5 s from learning, 1 s later")
	require.Empty(t, broadcasts(out), "without signatures there is nothing to tell")
	require.Empty(t, events(out))
	require.Equal(t, uint64(1), r.Counters().Confirmations)
	require.True(t, r.Settled(2))

	require.Empty(t, suspicionTimers(step(t, r, t0.Add(2*time.Second), down(2, hyparview.DownFailed))))
	require.Equal(t, uint64(1), r.Counters().Confirmations)

	out = step(t, r, t0.Add(3500*time.Millisecond), fire(Timer{Kind: TimerSuspicion, ID: 2, Incarnation: 4}))
	require.Equal(t, []Record{rec(2, StateFailed, 4)}, broadcasts(out))
	require.True(t, r.Settled(2), "failed")
}

// TestOwnSuspicionIsNoConfirmation: a node's second observation of a
// member it suspected itself confirms nothing.
func TestOwnSuspicionIsNoConfirmation(t *testing.T) {
	r := newRoster(t, 1, 1, curve)
	step(t, r, t0, receive(rec(2, StateAlive, 4)))
	step(t, r, t0, down(2, hyparview.DownFailed))
	require.True(t, r.Settled(2))
	require.Empty(t, suspicionTimers(step(t, r, t0.Add(time.Second), down(2, hyparview.DownFailed))))
	require.Zero(t, r.Counters().Confirmations)
}

// TestSignedConfirmations: with signatures on, each other declarer of the
// same suspicion counts once, but shortens the timer only once this node
// has observed the member itself; a node's own observation is broadcast as
// its own signed declaration; a forged confirmation is dropped; after K
// confirmations the timeout is the minimum and nothing more is verified.
func TestSignedConfirmations(t *testing.T) {
	r := newRoster(t, 1, 1, Config{Auth: testAuth{1}, SuspicionMinTimeout: curve.SuspicionMinTimeout})
	step(t, r, t0, receive(signedBy(rec(2, StateAlive, 4), 2, 0)))
	step(t, r, t0, receive(signedBy(rec(2, StateSuspect, 4), 2, 3)))

	out := step(t, r, t0, receive(signedBy(rec(2, StateSuspect, 4), 2, 3)))
	require.Empty(t, suspicionTimers(out), "the first declarer again")

	forged := signedBy(rec(2, StateSuspect, 4), 2, 4)
	forged.Proof.DeclarerSig = testAuth{5}.Sign(DeclarationBytes(2, 4, 4))
	require.Empty(t, suspicionTimers(step(t, r, t0, receive(forged))))
	require.Equal(t, uint64(1), r.Counters().Forged)

	out = step(t, r, t0.Add(time.Second), receive(signedBy(rec(2, StateSuspect, 4), 2, 4)))
	require.Empty(t, suspicionTimers(out), "others' declarations alone shorten nothing")
	require.Equal(t, uint64(1), r.Counters().Confirmations)
	require.False(t, r.Settled(2))

	out = step(t, r, t0.Add(time.Second), down(2, hyparview.DownFailed))
	require.Equal(t, []time.Duration{1623 * time.Millisecond}, roundMs(suspicionTimers(out)))
	b := broadcasts(out)
	require.Len(t, b, 1)
	require.Equal(t, StateSuspect, b[0].State)
	require.Equal(t, r.Self(), b[0].Proof.Declarer, "this node's own declaration")
	require.NoError(t, VerifyRecord(testAuth{9}, &b[0]))
	require.True(t, r.Settled(2))

	out = step(t, r, t0.Add(time.Second), receive(signedBy(rec(2, StateSuspect, 4), 2, 6)))
	require.Equal(t, []time.Duration{time.Second}, suspicionTimers(out), "K = 3: the minimum, 2 s from learning")
	require.Equal(t, uint64(3), r.Counters().Confirmations)

	beyond := signedBy(rec(2, StateSuspect, 4), 2, 7)
	beyond.Proof.DeclarerSig = []byte("not verified any more")
	require.Empty(t, suspicionTimers(step(t, r, t0.Add(time.Second), receive(beyond))))
	require.Equal(t, uint64(1), r.Counters().Forged, "past K no signature is checked")

	out = step(t, r, t0.Add(2*time.Second), fire(Timer{Kind: TimerSuspicion, ID: 2, Incarnation: 4}))
	require.Len(t, broadcasts(out), 1)
	require.Equal(t, StateFailed, broadcasts(out)[0].State)
	require.Equal(t, peer.ID(3), broadcasts(out)[0].Proof.Declarer, "the failure carries the first declaration")
}

// TestConfirmationsEndWithTheSuspicion: a refutation forgets the
// observers; a new suspicion at the new incarnation starts afresh.
func TestConfirmationsEndWithTheSuspicion(t *testing.T) {
	r := newRoster(t, 1, 1, curve)
	step(t, r, t0, receive(rec(2, StateSuspect, 4)))
	step(t, r, t0, down(2, hyparview.DownFailed))
	step(t, r, t0, receive(rec(2, StateAlive, 5)))
	require.Empty(t, r.suspicions)
	step(t, r, t0, receive(rec(2, StateSuspect, 5)))
	require.False(t, r.Settled(2))
	out := step(t, r, t0, down(2, hyparview.DownFailed))
	require.Equal(t, []time.Duration{3500 * time.Millisecond}, suspicionTimers(out))
	c := r.Clone()
	step(t, r, t0, receive(rec(2, StateAlive, 6)))
	require.True(t, c.Settled(2), "the clone keeps its own observers")
	require.NotSame(t, r.suspicions[2], c.suspicions[2])
}

// TestConfirmationConfigValidates: the new bounds are checked.
func TestConfirmationConfigValidates(t *testing.T) {
	require.Error(t, Config{SuspicionConfirmations: maxObservers}.Validate())
	require.Error(t, Config{SuspicionMinTimeout: maxDuration + 1}.Validate())
	require.NoError(t, Config{SuspicionConfirmations: -1, SuspicionMinTimeout: -1}.Validate())
	r := newRoster(t, 1, 1, Config{SuspicionMinTimeout: -1})
	step(t, r, t0, receive(rec(2, StateSuspect, 4)))
	require.Empty(t, suspicionTimers(step(t, r, t0, down(2, hyparview.DownFailed))), "negative minimum: off")
}

func roundMs(ds []time.Duration) []time.Duration {
	for i := range ds {
		ds[i] = ds[i].Round(time.Millisecond)
	}
	return ds
}

// TestDeclarationsAtAHealShortenNothing: a partition heals and the other
// side's declarations about a member this node still reaches arrive all
// at once, signed by several declarers: without an observation of its
// own, this node times the whole SuspicionTimeout, which gives the member
// time to refute.
func TestDeclarationsAtAHealShortenNothing(t *testing.T) {
	r := newRoster(t, 1, 1, Config{Auth: testAuth{1}, SuspicionMinTimeout: curve.SuspicionMinTimeout})
	step(t, r, t0, receive(signedBy(rec(2, StateAlive, 4), 2, 0)))
	var all []time.Duration
	for _, declarer := range []peer.ID{3, 4, 5, 6} {
		all = append(all, suspicionTimers(step(t, r, t0, receive(signedBy(rec(2, StateSuspect, 4), 2, declarer))))...)
	}
	require.Equal(t, []time.Duration{5 * time.Second}, all)
	require.Equal(t, uint64(3), r.Counters().Confirmations)
	out := step(t, r, t0.Add(3*time.Second), receive(signedBy(rec(2, StateAlive, 5), 2, 0)))
	require.Equal(t, []string{"update 2:alive@5 addr=n2"}, events(out), "refuted in time")
}

// TestDoubtfulObservationsConfirmNothing: a node that knows itself
// unhealthy still suspects a member it loses, but its loss of a member
// already suspected confirms nothing.
func TestDoubtfulObservationsConfirmNothing(t *testing.T) {
	r := newRoster(t, 1, 1, curve)
	step(t, r, t0, receive(rec(2, StateSuspect, 4), rec(3, StateAlive, 4)))
	doubtful := down(2, hyparview.DownFailed)
	doubtful.Doubtful = true
	require.Empty(t, suspicionTimers(step(t, r, t0, doubtful)))
	require.Equal(t, uint64(1), r.Counters().DoubtfulObservations)
	require.Zero(t, r.Counters().Confirmations)
	require.False(t, r.Settled(2), "still wants an observation of its own")

	doubtful = down(3, hyparview.DownFailed)
	doubtful.Doubtful = true
	out := step(t, r, t0, doubtful)
	require.Equal(t, []string{"suspect 3:suspect@4 addr=n3"}, events(out), "a suspicion is raised all the same")
	require.Equal(t, []time.Duration{5 * time.Second}, suspicionTimers(out))
}
