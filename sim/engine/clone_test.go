package engine

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fingerprint summarises everything observable of a run: counters, every
// broadcast record, and every node's views, trees and core counters.
func fingerprint(s *Sim) string {
	var b strings.Builder
	fmt.Fprintf(&b, "now %v pending %d stats %+v\n", s.Now(), s.Pending(), s.Stats())
	for _, r := range s.Broadcasts() {
		fmt.Fprintf(&b, "%+v\n", r)
	}
	for n := 0; n < s.Len(); n++ {
		e := s.Engine(n)
		eager, lazy := e.PushPeers()
		c := e.Counters()
		fmt.Fprintf(&b, "%d %v active %v passive %v eager %v lazy %v hv %+v pt %+v\n", n, s.Alive(n),
			e.AppendActive(nil), e.Passive(), eager, lazy, c.HyParView, c.Plumtree)
	}
	return b.String()
}

// script runs a phase of membership rounds, crashes, restarts and
// broadcasts on s; phase selects a different mix.
func script(t *testing.T, s *Sim, phase int) {
	t.Helper()
	for round := 0; round < 6; round++ {
		require.NoError(t, s.Cycle())
		require.NoError(t, s.Quiesce(time.Minute))
		live := s.LiveNodes()
		switch (round + phase) % 3 {
		case 0:
			s.Crash(live[s.Rand().IntN(len(live))])
		case 1:
			for n := 0; n < s.Len(); n++ {
				if !s.Alive(n) {
					require.NoError(t, s.Restart(n, live[0]))
					break
				}
			}
		}
		for i := 0; i < 3; i++ {
			live = s.LiveNodes()
			_, err := s.Broadcast(live[s.Rand().IntN(len(live))], []byte(fmt.Sprintf("p%d-%d-%d", phase, round, i)))
			require.NoError(t, err)
			require.NoError(t, s.Run(s.Now()+20*time.Millisecond)) // leave events in flight
		}
	}
	require.NoError(t, s.Quiesce(time.Minute))
}

// TestCloneBehavesAsTheOriginal checks that a clone taken in the middle of
// a run (with messages and timers in flight) continues exactly as the
// original would have, and that running the original afterwards does not
// disturb the clone.
func TestCloneBehavesAsTheOriginal(t *testing.T) {
	build := func() *Sim {
		s, err := New(Config{Seed: 7, ManualShuffle: true, CheckInvariants: true,
			Network: NetworkConfig{Latency: Latency{Min: time.Millisecond, Max: 30 * time.Millisecond}, DetectOnSend: true}})
		require.NoError(t, err)
		joinThroughFirst(t, s, 60, func() error { return s.Run(s.Now() + 5*time.Millisecond) })
		script(t, s, 0)
		for i := 0; i < 3; i++ { // stop with messages in flight
			_, err := s.Broadcast(s.LiveNodes()[i], []byte(fmt.Sprint("inflight", i)))
			require.NoError(t, err)
		}
		require.NoError(t, s.Run(s.Now()+2*time.Millisecond))
		require.NotZero(t, s.Pending(), "the clone must be taken with events pending")
		return s
	}

	reference := build()
	script(t, reference, 1)
	want := fingerprint(reference)

	original := build()
	clone := original.Clone()
	script(t, original, 2) // a different future for the original
	script(t, clone, 1)
	require.NoError(t, clone.Err())
	require.Equal(t, want, fingerprint(clone))
	require.NotEqual(t, want, fingerprint(original), "the scripts should differ")
}

// A run adds its events to its EventMeter, and a clone adds only the events
// it runs after the copy.
func TestEventMeterCountsRunsAndClones(t *testing.T) {
	var meter atomic.Uint64
	s, err := New(Config{Seed: 3, ManualShuffle: true, EventMeter: &meter})
	require.NoError(t, err)
	joinThroughFirst(t, s, 30, func() error { return s.Quiesce(time.Minute) })
	require.NotZero(t, s.Stats().Events)
	require.Equal(t, s.Stats().Events, meter.Load())

	clone := s.Clone()
	before := clone.Stats().Events
	script(t, clone, 0)
	require.Equal(t, s.Stats().Events+clone.Stats().Events-before, meter.Load())
}
