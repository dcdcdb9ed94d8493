package roster

import (
	"errors"
	"testing"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/stretchr/testify/require"
)

// TestSuspectThenFailAfterTimeout: a neighbour whose connection failed is
// suspected at its incarnation, the suspicion broadcast and timed; when the
// timer fires and it is still Suspect, it is declared Failed and that
// broadcast. Reference: SWIM §4.2.
func TestSuspectThenFailAfterTimeout(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	out := step(t, r, t0, receive(rec(2, StateAlive, 5)))
	require.Equal(t, []Timer{{Kind: TimerExpiry, Nonce: 1}}, timers(out), "the sweep runs while another member is held")

	out = step(t, r, t0, down(2, hyparview.DownFailed))
	require.Equal(t, []Record{rec(2, StateSuspect, 5)}, broadcasts(out))
	require.Equal(t, []string{"suspect 2:suspect@5 addr=n2"}, events(out))
	tm := timers(out)
	require.Equal(t, []Timer{{Kind: TimerSuspicion, ID: 2, Incarnation: 5}}, tm)
	require.Equal(t, DefaultConfig().SuspicionTimeout, ofKind(out, OutputSetTimer)[0].After)

	out = step(t, r, t0.Add(5*time.Second), fire(tm[0]))
	require.Equal(t, []Record{rec(2, StateFailed, 5)}, broadcasts(out))
	require.Equal(t, []string{"fail 2:failed@5 addr=n2"}, events(out))
	require.Empty(t, timers(out), "the sweep is already armed")
	require.Equal(t, Counts{Alive: 1, Failed: 1}, r.Counts())
	require.Equal(t, uint64(1), r.Counters().FailuresDeclared)
}

// TestRefutationBeatsSuspicion: a node that hears it is suspected raises
// its incarnation above the suspicion and broadcasts itself Alive; a node
// holding the suspicion takes the refutation, reports an Update, and its
// suspicion timer then fires harmlessly. Reference: SWIM §4.2.
func TestRefutationBeatsSuspicion(t *testing.T) {
	suspected := newRoster(t, 2, 5, Config{})
	observer := newRoster(t, 1, 1, Config{})
	step(t, observer, t0, receive(suspected.Record()))
	out := step(t, observer, t0, down(2, hyparview.DownFailed))
	suspicion := broadcasts(out)[0]
	tm := timers(out)[0]

	out = step(t, suspected, t0, receive(suspicion))
	refutation := broadcasts(out)
	require.Equal(t, []Record{rec(2, StateAlive, 6)}, refutation)
	require.Equal(t, uint64(6), suspected.Record().Incarnation)
	require.Equal(t, uint64(1), suspected.Counters().Refutations)
	require.Empty(t, events(out), "no events about self")

	out = step(t, observer, t0, receive(refutation...))
	require.Equal(t, []string{"update 2:alive@6 addr=n2"}, events(out))
	out = step(t, observer, t0.Add(time.Minute), fire(tm))
	require.Empty(t, out)
	require.Equal(t, uint64(1), observer.Counters().StaleTimers)
	got, _ := observer.Get(2)
	require.Equal(t, rec(2, StateAlive, 6), got)
}

// TestRefuteFailedAndStaleAlive: a Failed record about us, and an Alive one
// that supersedes ours (from an earlier life with a higher incarnation, or
// forged), are refuted too; an older record about us is ignored.
func TestRefuteFailedAndStaleAlive(t *testing.T) {
	r := newRoster(t, 1, 10, Config{})
	out := step(t, r, t0, receive(rec(1, StateFailed, 10)))
	require.Equal(t, []Record{rec(1, StateAlive, 11)}, broadcasts(out))
	out = step(t, r, t0, receive(rec(1, StateAlive, 20)))
	require.Equal(t, []Record{rec(1, StateAlive, 21)}, broadcasts(out))
	out = step(t, r, t0, receive(rec(1, StateSuspect, 3)))
	require.Empty(t, out)
	require.Equal(t, uint64(2), r.Counters().Refutations)
	// At MaxIncarnation no refutation is possible; it is counted.
	out = step(t, r, t0, receive(rec(1, StateSuspect, MaxIncarnation)))
	require.Empty(t, out)
	require.Equal(t, uint64(1), r.Counters().Unrefutable)
}

// TestLateTimerHarmless: a suspicion timer that fires twice declares the
// failure once; one that fires after the member moved to a higher
// incarnation, or for a member never suspected, does nothing; so does an
// expiry timer with an old nonce.
func TestLateTimerHarmless(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	expiry := timers(step(t, r, t0, receive(rec(2, StateAlive, 1), rec(3, StateAlive, 1))))[0]
	tm := timers(step(t, r, t0, down(2, hyparview.DownFailed)))[0]
	out := step(t, r, t0, fire(tm))
	require.Len(t, broadcasts(out), 1)
	require.Empty(t, step(t, r, t0, fire(tm)), "second firing")

	tm3 := timers(step(t, r, t0, down(3, hyparview.DownFailed)))[0]
	step(t, r, t0, receive(rec(3, StateSuspect, 2))) // a newer suspicion: new timer
	require.Empty(t, step(t, r, t0, fire(tm3)), "timer of an older incarnation")
	require.Empty(t, step(t, r, t0, fire(Timer{Kind: TimerSuspicion, ID: 9})), "unknown member")
	require.Empty(t, step(t, r, t0, fire(Timer{Kind: TimerExpiry, Nonce: expiry.Nonce + 7})), "wrong nonce")
	require.Empty(t, step(t, r, t0, fire(Timer{Kind: 99})), "unknown kind")
	require.Equal(t, uint64(5), r.Counters().StaleTimers)
	got, _ := r.Get(3)
	require.Equal(t, StateSuspect, got.State)
}

// TestSuspicionFromOthersIsTimed: a suspicion learnt from another node
// starts the same timer, so Suspect records do not live forever; a
// duplicate of it starts no second timer.
func TestSuspicionFromOthersIsTimed(t *testing.T) {
	r := newRoster(t, 1, 1, Config{SuspicionTimeout: 3 * time.Second})
	out := step(t, r, t0, receive(rec(2, StateSuspect, 4)))
	require.Equal(t, []string{"join 2:suspect@4 addr=n2", "suspect 2:suspect@4 addr=n2"}, events(out))
	require.Equal(t, []Timer{{Kind: TimerExpiry, Nonce: 1}, {Kind: TimerSuspicion, ID: 2, Incarnation: 4}}, timers(out))
	require.Equal(t, 3*time.Second, ofKind(out, OutputSetTimer)[1].After)
	require.Empty(t, broadcasts(out), "received records are not rebroadcast")
	require.Empty(t, step(t, r, t0, receive(rec(2, StateSuspect, 4))))
	out = step(t, r, t0.Add(3*time.Second), fire(timers(out)[1]))
	require.Equal(t, []Record{rec(2, StateFailed, 4)}, broadcasts(out))
}

// TestLeaveShowsAsLeft: a node that leaves broadcasts Left at its
// incarnation; the others report Leave, not Fail, and HyParView's
// NeighborDown for a leave raises no suspicion.
func TestLeaveShowsAsLeft(t *testing.T) {
	leaver := newRoster(t, 2, 4, Config{})
	other := newRoster(t, 1, 1, Config{})
	step(t, other, t0, receive(leaver.Record()))
	out := step(t, leaver, t0, Input{Kind: InputLeave})
	require.Equal(t, []Record{rec(2, StateLeft, 4)}, broadcasts(out))
	require.True(t, leaver.Left())

	require.Empty(t, step(t, other, t0, down(2, hyparview.DownLeft)))
	out = step(t, other, t0, receive(broadcasts(out)...))
	require.Equal(t, []string{"leave 2:left@4 addr=n2"}, events(out))
	require.Equal(t, Counts{Alive: 1, Left: 1}, other.Counts())
	require.Empty(t, step(t, other, t0, down(2, hyparview.DownFailed)), "a Left member is not suspected")

	_, err := leaver.Step(t0, Input{Kind: InputLeave}, nil)
	require.ErrorIs(t, err, ErrLeft)
	_, err = leaver.Step(t0, Input{Kind: InputUpdateMeta}, nil)
	require.ErrorIs(t, err, ErrLeft)
	out = step(t, leaver, t0, receive(rec(2, StateFailed, 4)))
	require.Empty(t, out, "no refutation after leaving")
	require.Equal(t, uint64(1), leaver.Counters().IgnoredInputs)
}

// TestOtherDownReasonsDoNotSuspect: a disconnect or a drop from the active
// view is not evidence of failure.
func TestOtherDownReasonsDoNotSuspect(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	step(t, r, t0, receive(rec(2, StateAlive, 1)))
	require.Empty(t, step(t, r, t0, down(2, hyparview.DownDisconnected)))
	require.Empty(t, step(t, r, t0, down(2, hyparview.DownDropped)))
	_, err := r.Step(t0, down(2, 0), nil)
	require.ErrorIs(t, err, ErrUnknownReason)
	got, _ := r.Get(2)
	require.Equal(t, StateAlive, got.State)
}

// TestRejoinIsJoin: a member that comes back with a higher incarnation
// after failing or leaving is a Join; a stale Alive from before is not.
func TestRejoinIsJoin(t *testing.T) {
	for _, dead := range []State{StateFailed, StateLeft} {
		r := newRoster(t, 1, 1, Config{})
		step(t, r, t0, receive(rec(2, StateAlive, 100), rec(2, dead, 100)))
		require.Empty(t, step(t, r, t0, receive(rec(2, StateAlive, 100))), "stale Alive cannot resurrect")
		out := step(t, r, t0, receive(rec(2, StateAlive, 200)))
		require.Equal(t, []string{"join 2:alive@200 addr=n2"}, events(out))
	}
}

// TestTombstoneExpiry: a tombstone is swept once RetainDead has passed, by
// the expiry timer, which re-arms while other members remain and stops
// after.
func TestTombstoneExpiry(t *testing.T) {
	cfg := Config{RetainDead: time.Hour, ExpiryInterval: 10 * time.Minute}
	r := newRoster(t, 1, 1, cfg)
	out := step(t, r, t0, receive(rec(2, StateLeft, 1)))
	require.Empty(t, events(out), "a tombstone of a member never seen is silent")
	tm := timers(out)
	require.Len(t, tm, 1)
	require.Equal(t, 10*time.Minute, ofKind(out, OutputSetTimer)[0].After)
	step(t, r, t0.Add(30*time.Minute), receive(rec(3, StateFailed, 1)))

	out = step(t, r, t0.Add(time.Hour), fire(tm[0]))
	_, ok := r.Get(2)
	require.False(t, ok, "2 expired")
	_, ok = r.Get(3)
	require.True(t, ok, "3 is younger than RetainDead")
	tm = timers(out)
	require.Len(t, tm, 1, "re-armed for 3")

	out = step(t, r, t0.Add(91*time.Minute), fire(tm[0]))
	require.Empty(t, out, "nothing left: no new timer")
	require.Equal(t, 1, r.Len())
	require.Equal(t, uint64(2), r.Counters().Expired)
	// After expiry, the stale record is accepted again: the window is RetainDead.
	out = step(t, r, t0.Add(2*time.Hour), receive(rec(2, StateAlive, 1)))
	require.Len(t, events(out), 1)
}

// TestUpdateMeta: UpdateMeta raises the incarnation and broadcasts the new
// record; the others report an Update. Metadata over the limit is an error
// and changes nothing.
func TestUpdateMeta(t *testing.T) {
	r := newRoster(t, 1, 7, Config{MaxMetaBytes: 4})
	other := newRoster(t, 2, 1, Config{})
	step(t, other, t0, receive(r.Record()))
	meta := []byte("v2")
	out := step(t, r, t0, Input{Kind: InputUpdateMeta, Meta: meta})
	meta[0] = 'X' // the roster keeps its own copy
	want := Record{ID: 1, Addr: "n1", Meta: []byte("v2"), Incarnation: 8, State: StateAlive}
	require.Equal(t, []Record{want}, broadcasts(out))
	require.Equal(t, want, r.Record())
	out = step(t, other, t0, receive(broadcasts(out)...))
	require.Equal(t, []string{`update 1:alive@8 addr=n1 meta="v2"`}, events(out))

	out, err := r.Step(t0, Input{Kind: InputUpdateMeta, Meta: []byte("12345")}, nil)
	require.ErrorIs(t, err, ErrMetaTooLarge)
	require.Empty(t, out)
	require.Equal(t, uint64(8), r.Record().Incarnation)

	_, err = New(hyparview.Peer{ID: 3}, make([]byte, 513), Config{})
	require.ErrorIs(t, err, ErrMetaTooLarge)
}

// TestNeighborUp: a neighbour we do not know is added Alive at incarnation
// 0 and superseded by its own record; a Suspect member is not revived by
// NeighborUp (only it may refute).
func TestNeighborUp(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	out := step(t, r, t0, Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: 2, Addr: "n2"}})
	require.Equal(t, []string{"join 2:alive@0 addr=n2"}, events(out))
	require.Empty(t, broadcasts(out))
	out = step(t, r, t0, receive(Record{ID: 2, Addr: "n2", Meta: []byte("m"), Incarnation: 9, State: StateAlive}))
	require.Equal(t, []string{`update 2:alive@9 addr=n2 meta="m"`}, events(out))

	step(t, r, t0, receive(rec(3, StateSuspect, 2)))
	require.Empty(t, step(t, r, t0, Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: 3}}))
	got, _ := r.Get(3)
	require.Equal(t, StateSuspect, got.State)
	require.Empty(t, step(t, r, t0, Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: 1}}), "self")
}

// TestEventsOncePerTransition: duplicates and older records emit nothing;
// a Failed member that turns out to have left is reported as Leave.
func TestEventsOncePerTransition(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	var evs []string
	for _, x := range []Record{
		rec(2, StateAlive, 1), rec(2, StateAlive, 1), rec(2, StateAlive, 2),
		rec(2, StateSuspect, 2), rec(2, StateAlive, 1), rec(2, StateFailed, 2),
		rec(2, StateFailed, 2), rec(2, StateLeft, 2), rec(2, StateFailed, 2),
	} {
		evs = append(evs, events(step(t, r, t0, receive(x)))...)
	}
	require.Equal(t, []string{
		"join 2:alive@1 addr=n2", "suspect 2:suspect@2 addr=n2",
		"fail 2:failed@2 addr=n2", "leave 2:left@2 addr=n2",
	}, evs)
}

// TestLocalMisuse: unknown inputs are errors with the package prefix; a bad
// Config is refused by New.
func TestLocalMisuse(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	_, err := r.Step(t0, Input{}, nil)
	require.ErrorIs(t, err, ErrUnknownInput)
	require.ErrorContains(t, err, "roster:")
	_, err = New(hyparview.Peer{ID: 0}, nil, Config{})
	require.ErrorContains(t, err, "roster:")
	for _, cfg := range []Config{
		{SuspicionTimeout: -1}, {RetainDead: -time.Second}, {ExpiryInterval: -1},
		{MaxMetaBytes: -1}, {MaxMetaBytes: 1 << 20}, {Incarnation: MaxIncarnation + 1},
	} {
		err := cfg.Validate()
		require.Error(t, err, "%+v", cfg)
		require.ErrorContains(t, err, "roster:")
		_, err = New(hyparview.Peer{ID: 1}, nil, cfg)
		require.Error(t, err)
	}
	require.NoError(t, Config{}.Validate())
	require.Equal(t, DefaultConfig(), newRoster(t, 1, 0, Config{}).Config())
	r = newRoster(t, 1, MaxIncarnation, Config{})
	_, err = r.Step(t0, Input{Kind: InputUpdateMeta}, nil)
	require.True(t, errors.Is(err, ErrIncarnationExhausted))
}

// TestAnnounce broadcasts our record unchanged.
func TestAnnounce(t *testing.T) {
	r := newRoster(t, 1, 3, Config{})
	out := step(t, r, t0, Input{Kind: InputAnnounce})
	require.Equal(t, []Record{rec(1, StateAlive, 3)}, broadcasts(out))
}

// A clone is independent of its original.
func TestCloneIsIndependent(t *testing.T) {
	r, err := New(hyparview.Peer{ID: 1, Addr: "a"}, nil, Config{})
	require.NoError(t, err)
	c := r.Clone()
	_, err = c.Step(time.Unix(0, 0), Input{Kind: InputReceive, Records: []Record{{ID: 2, Addr: "b", State: StateAlive}}}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, r.Len())
	require.Equal(t, 2, c.Len())
	require.NoError(t, r.Invariants())
	require.NoError(t, c.Invariants())
}
