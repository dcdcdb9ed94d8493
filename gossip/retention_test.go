package gossip

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// newCalmEngine is node 1 with the production payload retentions (10 s
// while nothing fails, 30 s after a failure), joined, with node 2 as its
// neighbour, and the member list when members is set.
func newCalmEngine(t *testing.T, members bool) *Engine {
	t.Helper()
	cfg := Config{Plumtree: plumtree.Config{CalmPayloadRetention: DefaultCalmPayloadRetention}}
	if members {
		cfg.Members = &MembersConfig{Roster: roster.Config{Incarnation: 1}}
	}
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	do(t, e, func(out *Ready) { e.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	return e
}

// firstHeldAt broadcasts a byte at t0+at (which also releases what is due
// by then) and reports whether e still holds the first broadcast, the
// only one of firstSize bytes or more.
func firstHeldAt(t *testing.T, e *Engine, at time.Duration) bool {
	t.Helper()
	do(t, e, func(out *Ready) {
		_, err := e.Broadcast(t0.Add(at), "", []byte{1}, out)
		require.NoError(t, err)
	})
	return e.PlumtreeSizes().CachedBytes >= firstSize
}

const firstSize = 10_000

// While nothing fails a payload is held for the calm retention; a failed
// neighbour or a suspected member holds it, and what comes next, for the
// whole PayloadRetention (plumtree/doc.go, deviation 16), so that the
// repairs after a partition find it.
func TestFailuresHoldPayloads(t *testing.T) {
	// A neighbour's record says member 3 is suspected (the member list
	// shows it only once 3 was asked, evidence.go; the hold comes at
	// once).
	suspect := func(t *testing.T, e *Engine, now time.Time, out *Ready) {
		recs := []roster.Record{{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}}
		require.NoError(t, e.stepRoster(now, roster.Input{Kind: roster.InputReceive, Records: recs}, out))
		recs[0].State = roster.StateSuspect
		require.NoError(t, e.stepRoster(now, roster.Input{Kind: roster.InputReceive, Records: recs}, out))
		r, ok := e.roster.Get(3)
		require.True(t, ok)
		require.Equal(t, roster.StateSuspect, r.State)
	}
	for _, tc := range []struct {
		name    string
		members bool
		fail    func(t *testing.T, e *Engine, now time.Time, out *Ready)
	}{
		{"nothing fails", false, nil},
		{"nothing fails, with the member list", true, nil},
		{"a neighbour fails", false, func(_ *testing.T, e *Engine, now time.Time, out *Ready) { e.ConnectionFailed(now, 2, out) }},
		{"a member is suspected", true, suspect},
		{"a member leaves", true, func(t *testing.T, e *Engine, now time.Time, out *Ready) {
			recs := []roster.Record{{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}}
			require.NoError(t, e.stepRoster(now, roster.Input{Kind: roster.InputReceive, Records: recs}, out))
			recs[0].State = roster.StateLeft
			require.NoError(t, e.stepRoster(now, roster.Input{Kind: roster.InputReceive, Records: recs}, out))
			require.Equal(t, roster.EventLeave, out.Events[len(out.Events)-1].Kind)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCalmEngine(t, tc.members)
			do(t, e, func(out *Ready) {
				_, err := e.Broadcast(t0, "", make([]byte, firstSize), out)
				require.NoError(t, err)
			})
			if tc.fail != nil {
				do(t, e, func(out *Ready) { tc.fail(t, e, t0.Add(5*time.Second), out) })
			}
			require.True(t, firstHeldAt(t, e, 10*time.Second-1))
			if tc.fail == nil {
				require.False(t, firstHeldAt(t, e, 10*time.Second), "released after the calm retention")
				return
			}
			require.True(t, firstHeldAt(t, e, 30*time.Second-1), "held past the calm retention")
			require.False(t, firstHeldAt(t, e, 30*time.Second), "released after the whole retention")
		})
	}
}

// While members are missing (Suspect or Failed, looked for by the rejoin
// tick), each tick within ten PayloadRetentions of the last loss holds
// payloads again, so that a partition that lasts longer than
// PayloadRetention still finds, when it heals, the payloads of its last
// PayloadRetention; long after the loss (a member that crashed stays
// listed Failed for an hour) the ticks hold nothing.
func TestRejoinTickHoldsWhileMembersAreMissing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		missing bool
		at      time.Duration // of the broadcast; the tick comes a second later
		held    bool
	}{
		{"nobody missing", false, 40 * time.Second, false},
		{"a member missing since its failure", true, 40 * time.Second, true},
		{"long after the failure", true, 10 * plumtree.DefaultPayloadRetention, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCalmEngine(t, true)
			if tc.missing {
				do(t, e, func(out *Ready) {
					recs := []roster.Record{{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}}
					require.NoError(t, e.stepRoster(t0, roster.Input{Kind: roster.InputReceive, Records: recs}, out))
					recs[0].State = roster.StateFailed
					require.NoError(t, e.stepRoster(t0, roster.Input{Kind: roster.InputReceive, Records: recs}, out))
				})
			}
			// Past the hold of the failure itself.
			do(t, e, func(out *Ready) {
				_, err := e.Broadcast(t0.Add(tc.at), "", make([]byte, firstSize), out)
				require.NoError(t, err)
			})
			do(t, e, func(out *Ready) { e.TimerFired(t0.Add(tc.at+time.Second), Timer{kind: TimerRejoin}, out) })
			require.Equal(t, tc.held, firstHeldAt(t, e, tc.at+DefaultCalmPayloadRetention+time.Second))
		})
	}
}
