package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/plumtree"
)

// joinThroughFirst adds n nodes to s, the first alone and each other
// through the first, running settle (if not nil) after each join.
func joinThroughFirst(t *testing.T, s *Sim, n int, settle func() error) {
	t.Helper()
	for i := 0; i < n; i++ {
		id, err := s.AddNode()
		require.NoError(t, err)
		if id == 0 {
			s.Join(id)
		} else {
			s.Join(id, 0)
		}
		if settle != nil {
			require.NoError(t, settle())
		}
	}
}

// buildCluster joins n nodes one by one through node 0 and runs the given
// number of membership cycles, checking invariants throughout.
func buildCluster(t *testing.T, n, cycles int, seed uint64) *Sim {
	t.Helper()
	s, err := New(Config{Seed: seed, ManualShuffle: true, CheckInvariants: true,
		Network: NetworkConfig{DetectOnSend: true}})
	require.NoError(t, err)
	joinThroughFirst(t, s, n, func() error { return s.Quiesce(time.Minute) })
	for c := 0; c < cycles; c++ {
		require.NoError(t, s.Cycle())
		require.NoError(t, s.Quiesce(time.Minute))
	}
	return s
}

func TestStableClusterDeliversToAll(t *testing.T) {
	s := buildCluster(t, 200, 10, 1)
	for i := 0; i < 20; i++ {
		origin := s.Rand().IntN(s.Len())
		id, err := s.Broadcast(origin, []byte(fmt.Sprint("m", i)))
		require.NoError(t, err)
		require.NoError(t, s.Quiesce(time.Minute))
		b, ok := s.BroadcastByID(id)
		require.True(t, ok)
		require.Equal(t, origin, b.Origin)
		require.Equal(t, 200, b.Delivered, "broadcast %d reached %d of 200", i, b.Delivered)
	}
}

func TestQueueOrdersByTimeThenSequence(t *testing.T) {
	var q queue
	seq := uint64(0)
	push := func(at time.Duration) {
		seq++
		q.push(event{at: at, seq: seq}, 0)
	}
	for _, at := range []time.Duration{5, 1, 3, 1, 5, 0, 2} {
		push(at)
	}
	var got []string
	for q.len() > 0 {
		e := q.pop()
		got = append(got, fmt.Sprintf("%d/%d", e.at, e.seq))
	}
	require.Equal(t, []string{"0/6", "1/2", "1/4", "2/7", "3/3", "5/1", "5/5"}, got)
}

// TestLiveCountFollowsEveryChangeOfLiveness checks the kept count of running
// nodes and LiveNode against a scan, through crashes, a leave, a restart
// and a clone.
func TestLiveCountFollowsEveryChangeOfLiveness(t *testing.T) {
	s := buildCluster(t, 30, 2, 3)
	check := func(s *Sim) {
		t.Helper()
		live := s.LiveNodes()
		require.Equal(t, len(live), s.LiveCount())
		for k, n := range live {
			require.Equal(t, n, s.LiveNode(k), "live node %d", k)
		}
		require.Equal(t, -1, s.LiveNode(len(live)))
		require.Equal(t, -1, s.LiveNode(-1))
	}
	check(s)
	for _, n := range []int{0, 7, 8, 29} {
		s.Crash(n)
	}
	s.Crash(7) // a second crash changes nothing
	check(s)
	require.Equal(t, 26, s.LiveCount())
	s.Leave(3)
	s.Leave(3)
	check(s)
	require.NoError(t, s.Restart(8, 1))
	require.NoError(t, s.Quiesce(time.Minute))
	check(s)
	c := s.Clone()
	c.Crash(1)
	check(c)
	check(s)
	require.Equal(t, s.LiveCount()-1, c.LiveCount())
}

// A link's own loss drops about that share of the messages on it, both
// ways, on top of the network's; 0 restores the link; a clone keeps its
// own copy of the setting.
func TestLinkLossDropsItsShareOfTheLinksMessages(t *testing.T) {
	s := buildCluster(t, 2, 1, 5)
	require.Error(t, s.SetLinkLoss(0, 0, 0.5), "a node has no link to itself")
	require.Error(t, s.SetLinkLoss(0, 2, 0.5), "no node 2")
	require.Error(t, s.SetLinkLoss(-1, 1, 0.5))
	require.Error(t, s.SetLinkLoss(0, 1, 1.5))
	require.Error(t, s.SetLinkLoss(0, 1, -0.1))
	require.Error(t, s.SetLinkLoss(0, 1, math.NaN()))

	c := s.Clone()
	require.NoError(t, s.SetLinkLoss(1, 0, 0.3))
	const messages = 2000
	deliveredAt1 := func(s *Sim, from int) int {
		n := 0
		for i := 0; i < messages; i++ {
			id, err := s.Broadcast(from, []byte(fmt.Sprint("m", from, i)))
			require.NoError(t, err)
			require.NoError(t, s.Quiesce(time.Minute))
			b, _ := s.BroadcastByID(id)
			n += b.Delivered - 1 // the origin delivers its own
		}
		return n
	}
	// With two nodes every payload crosses the one link, once.
	got := deliveredAt1(s, 0) + deliveredAt1(s, 1)
	require.InDelta(t, 0.7, float64(got)/(2*messages), 0.03, "delivered %d of %d", got, 2*messages)
	require.InDelta(t, 0.3*2*messages, float64(s.Stats().MessagesLost), 0.03*2*messages)

	require.Equal(t, messages, deliveredAt1(c, 0), "the clone's link is not lossy")
	require.Zero(t, c.Stats().MessagesLost)

	lost := s.Stats().MessagesLost
	require.NoError(t, s.SetLinkLoss(0, 1, 0))
	require.Equal(t, messages, deliveredAt1(s, 1))
	require.Equal(t, lost, s.Stats().MessagesLost)
}

// Run leaves the clock at its target, so that joins spaced by Run(Now()+d)
// happen d apart even when no event falls in between (before, the clock
// stood at the last event run, and a thousand joins 5 ms apart all
// happened at time 0); Quiesce leaves it at the last event, as the papers'
// cycle model needs.
func TestRunAdvancesTheClockToItsTarget(t *testing.T) {
	s, err := New(Config{Seed: 1, ManualShuffle: true})
	require.NoError(t, err)
	id, err := s.AddNode()
	require.NoError(t, err)
	s.Join(id)
	for range 10 {
		require.NoError(t, s.Run(s.Now()+5*time.Millisecond))
	}
	require.Equal(t, 50*time.Millisecond, s.Now())
	require.NoError(t, s.Run(10*time.Millisecond), "a target in the past runs nothing")
	require.Equal(t, 50*time.Millisecond, s.Now(), "and leaves the clock")

	other, err := s.AddNode()
	require.NoError(t, err)
	s.Join(other, id)
	require.NoError(t, s.Quiesce(time.Hour))
	require.Less(t, s.Now(), time.Hour+50*time.Millisecond, "Quiesce stops at the last event")
	require.Greater(t, s.Now(), 50*time.Millisecond, "after the join's messages")
}

// With Latency.PerMessage each message on a link draws its own delay, in
// the range, and a link still delivers in the order it sent; the same seed
// gives the same delays.
func TestPerMessageDelaysKeepEachLinkInOrder(t *testing.T) {
	arrivals := func(seed uint64) []time.Duration {
		s, err := New(Config{Seed: seed, ManualShuffle: true,
			Network: NetworkConfig{Latency: Latency{Min: time.Millisecond, Max: 100 * time.Millisecond, PerMessage: true}}})
		require.NoError(t, err)
		for range 2 {
			_, err := s.AddNode()
			require.NoError(t, err)
		}
		for i := range 200 {
			// Every 20 ms: some sends land before the previous message.
			s.now = time.Duration(i) * 20 * time.Millisecond
			s.send(0, s.peerAt(1).ID, &plumtree.IHave{})
		}
		var evs []event
		for s.queue.len() > 0 {
			evs = append(evs, s.queue.pop())
		}
		// In the order sent, which is the order of seq.
		slices.SortFunc(evs, func(a, b event) int { return cmp.Compare(a.seq, b.seq) })
		var at []time.Duration
		for _, e := range evs {
			require.Equal(t, int32(1), e.to)
			at = append(at, e.at)
		}
		return at
	}
	at := arrivals(1)
	require.Len(t, at, 200)
	distinct := map[time.Duration]bool{}
	waited := 0
	for i, a := range at {
		sent := time.Duration(i) * 20 * time.Millisecond
		require.GreaterOrEqual(t, a-sent, time.Millisecond)
		if i > 0 {
			require.GreaterOrEqual(t, a, at[i-1], "in order on the link")
			if a == at[i-1] {
				waited++
			}
		}
		if a-sent <= 100*time.Millisecond {
			distinct[a-sent] = true
		}
	}
	require.Positive(t, waited, "some messages waited for the one before")
	require.Greater(t, len(distinct), 10, "delays drawn per message, not per link")
	require.Equal(t, at, arrivals(1))
}

// Per-message delays draw from a source of their own: the run's other
// choices (Rand) come out the same with them on or off.
func TestPerMessageDelaysLeaveTheRunsChoices(t *testing.T) {
	next := func(perMessage bool) uint64 {
		s, err := New(Config{Seed: 3, ManualShuffle: true,
			Network: NetworkConfig{Latency: Latency{Min: time.Millisecond, Max: 100 * time.Millisecond, PerMessage: perMessage}}})
		require.NoError(t, err)
		for range 2 {
			_, err := s.AddNode()
			require.NoError(t, err)
		}
		for range 50 {
			s.send(0, s.peerAt(1).ID, &plumtree.IHave{})
		}
		return s.Rand().Uint64()
	}
	require.Equal(t, next(false), next(true))
}
