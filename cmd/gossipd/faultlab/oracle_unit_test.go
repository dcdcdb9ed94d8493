package faultlab

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// fakeCluster is a cluster of n agents with no processes, for the oracle's
// own tests: every agent counts as live unless marked down.
func fakeCluster(n int) *cluster {
	c := &cluster{rec: newRecorder(), hist: &history{}, t0: time.Unix(1000, 0)}
	for i := range n {
		c.agents = append(c.agents, &agent{c: c, i: i, id: string(rune('a' + i)), procs: []*process{{}}})
	}
	return c
}

func (c *cluster) fakeDeliver(agent, proc int, key string, at time.Time) {
	c.rec.deliveries = append(c.rec.deliveries, delivery{procKey: procKey{agent, proc}, key: key, at: at})
}

// TestDeliveryOracle checks that the oracle finds a missing delivery, a
// duplicate, and excuses what a lag notice reported and what died with a
// killed origin.
func TestDeliveryOracle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := fakeCluster(3)
	c.rec.bcasts = []bcast{{origin: 0, key: "0:1", sent: t0}, {origin: 1, key: "1:1", sent: t0}}
	for a := range 3 {
		c.fakeDeliver(a, 0, "0:1", t0.Add(time.Millisecond))
	}
	c.fakeDeliver(1, 0, "1:1", t0)
	c.fakeDeliver(2, 0, "1:1", t0)
	f := newFigures("", 3)
	got := deliveryCheck(c, f)
	require.Contains(t, got, "agent 0 is missing 1 owed broadcasts")
	require.Equal(t, 5, f.delivered)
	require.Equal(t, 6, f.expected)

	c.rec.miss(procKey{0, 0}, "", 1) // a lag notice tells agent 0 it missed one
	f = newFigures("", 3)
	require.Empty(t, deliveryCheck(c, f))
	require.Equal(t, 1, f.reported)

	c.fakeDeliver(2, 0, "1:1", t0) // delivered twice by one process
	f = newFigures("", 3)
	require.Contains(t, deliveryCheck(c, f), "agent 2 (process 0) delivered 1:1 2 times")
	require.Equal(t, 1, f.dups)

	// A restarted agent's new process delivers 0:1 again.
	c.rec.deliveries = c.rec.deliveries[:len(c.rec.deliveries)-1]
	c.fakeDeliver(1, 1, "0:1", t0)
	f = newFigures("", 3)
	require.Contains(t, deliveryCheck(c, f), "agent 1 delivered 0:1 in 2 of its processes")
	require.Equal(t, 1, f.redelivered)
	require.Zero(t, f.dups)

	// Agent 2 broadcasts and is killed: what no live agent delivered is
	// not owed; what one did is owed by all.
	c = fakeCluster(3)
	c.agents[2].down, c.agents[2].killed = true, t0.Add(time.Second)
	c.rec.bcasts = []bcast{{origin: 2, key: "2:1", sent: t0}, {origin: 2, key: "2:2", sent: t0}}
	c.fakeDeliver(2, 0, "2:1", t0)
	c.fakeDeliver(2, 0, "2:2", t0)
	c.fakeDeliver(0, 0, "2:2", t0)
	f = newFigures("", 3)
	require.Contains(t, deliveryCheck(c, f), "agent 1 is missing 1 owed broadcasts")
	require.Equal(t, 1, f.lostWithOrigin)
}

// TestEventOracle checks that a fail event is false only when the member
// ran and was reachable from the observer over the grace before it.
func TestEventOracle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := fakeCluster(4)
	c.hist.down(3, t0.Add(10*time.Second)) // agent 3 killed at +10s
	c.hist.cut(0, 1, t0.Add(20*time.Second))
	c.hist.healCuts(t0.Add(30 * time.Second))
	fail, suspect := gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_FAIL, gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_SUSPECT
	ev := func(o, m int, kind gossipdv1.MemberEventKind, at time.Duration) {
		c.rec.events = append(c.rec.events, memberEvent{procKey: procKey{o, 0}, kind: kind, member: c.agents[m].id, at: t0.Add(at)})
	}
	ev(0, 3, fail, 16*time.Second)    // 3 is down: justified
	ev(0, 1, fail, 25*time.Second)    // 0 and 1 are cut: justified
	ev(0, 1, fail, 31*time.Second)    // within the grace after the heal: justified
	ev(0, 2, fail, 25*time.Second)    // 0 reaches 2: false
	ev(1, 0, suspect, 40*time.Second) // long after the heal: false
	f := newFigures("", 4)
	got := eventCheck(c, f)
	require.Equal(t, 1, f.falseFail)
	require.Equal(t, 1, f.falseSuspect)
	require.True(t, strings.Contains(got, "agent 0: fail 2") && strings.Contains(got, "agent 1: suspect 0"), got)
}
