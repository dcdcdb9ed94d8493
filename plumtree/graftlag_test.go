package plumtree

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// adaptive is a node whose timeout1 follows its lags, within [20, 80] ms.
func adaptive() Config {
	return Config{LazyPushDelay: -1, MinGraftTimeout: 20 * time.Millisecond, GraftTimeout1: 80 * time.Millisecond}
}

// armed returns the graft timer an IHAVE of id from peer p arms at d, or
// fails if it arms none.
func armed(t *testing.T, s *State, d time.Duration, p peer.ID, id MessageID) time.Duration {
	t.Helper()
	for _, o := range step(t, s, at(d), recv(p, ihave(Announcement{ID: id, Round: 1}))) {
		if o.Kind == OutputSetTimer && o.Timer.Kind == TimerGraft && o.Timer.ID == id {
			return o.After
		}
	}
	t.Fatalf("no graft timer armed for %v", id)
	return 0
}

// S2 §3.5 arms timeout1, a fixed value, on a message's first IHAVE.
// Deviation (doc.go, deviation 15): with MinGraftTimeout set, timeout1
// follows the lags a node measures, between MinGraftTimeout and
// GraftTimeout1: the floor before any lag; twice
// the longest lag of an eager payload behind its IHAVE; no more than
// GraftTimeout1; halved every lagHalfLife; fixed without MinGraftTimeout.
func TestTimeout1FollowsTheLags(t *testing.T) {
	ms := time.Millisecond
	s := newNode(t, 1, adaptive(), 2, 3)
	makeLazy(t, s, 3)

	require.Equal(t, 20*ms, armed(t, s, 0, 3, mid(1)), "no lag measured: the floor")
	step(t, s, at(15*ms), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, 30*ms, armed(t, s, 100*ms, 3, mid(2)), "twice the 15 ms lag")

	step(t, s, at(160*ms), recv(2, &Gossip{ID: mid(2), Round: 2, Payload: []byte("b")}))
	require.Equal(t, 80*ms, armed(t, s, 200*ms, 3, mid(3)), "a 60 ms lag: capped at GraftTimeout1")
	step(t, s, at(210*ms), recv(2, &Gossip{ID: mid(3), Round: 2, Payload: []byte("c")}))

	require.Equal(t, 60*ms, armed(t, s, 160*ms+lagHalfLife, 3, mid(4)), "the longest lag halved after a half-life")
	require.Equal(t, 30*ms, armed(t, s, 160*ms+2*lagHalfLife, 3, mid(5)), "and again")
	require.Equal(t, 20*ms, armed(t, s, 160*ms+4*lagHalfLife, 3, mid(6)), "down to the floor")

	fixed := newNode(t, 1, Config{LazyPushDelay: -1}, 2, 3)
	makeLazy(t, fixed, 3)
	armed(t, fixed, 0, 3, mid(1))
	step(t, fixed, at(5*ms), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, DefaultGraftTimeout1, armed(t, fixed, 100*ms, 3, mid(2)), "the paper's fixed timeout1")
}

// A GRAFT's answer is not a lag; the eager copy that comes after it is,
// whether it comes before the answer or as a duplicate after it.
func TestGraftAnswerIsNotALag(t *testing.T) {
	ms := time.Millisecond
	s := newNode(t, 1, adaptive(), 2, 3)
	makeLazy(t, s, 3)

	require.Equal(t, 20*ms, armed(t, s, 0, 3, mid(1)))
	require.Contains(t, step(t, s, at(20*ms), fire(TimerGraft, mid(1))), sendTo(3, &Graft{ID: mid(1), HasID: true, Round: 1}))
	step(t, s, at(21*ms), recv(3, &Gossip{ID: mid(1), Round: 1, Payload: []byte("a")}))
	require.Equal(t, 20*ms, armed(t, s, 100*ms, 3, mid(2)), "the answer, 21 ms after the IHAVE, measured nothing")

	step(t, s, at(101*ms), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, 80*ms, armed(t, s, 102*ms, 3, mid(3)), "the eager copy, 101 ms after its IHAVE: capped")

	s = newNode(t, 1, adaptive(), 2, 3, 4)
	makeLazy(t, s, 3)
	armed(t, s, 0, 3, mid(1))
	step(t, s, at(20*ms), fire(TimerGraft, mid(1)))
	step(t, s, at(24*ms), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, 48*ms, armed(t, s, 30*ms, 3, mid(2)), "the eager copy before the answer: a 24 ms lag")
	step(t, s, at(31*ms), recv(3, &Gossip{ID: mid(1), Round: 1, Payload: []byte("a")}))
	require.Equal(t, 48*ms, armed(t, s, 32*ms, 3, mid(3)), "the answer after it, a duplicate from the grafted peer, measured nothing")
}

// Once a second GRAFT went out for a message (timeout2), a late answer to
// the first cannot be told from the eager copy: nothing is measured, so a
// retry does not pin timeout1 at its ceiling. A payload from a peer that
// is not a neighbour measures nothing either.
func TestRetriedGraftAndStrangersMeasureNothing(t *testing.T) {
	ms := time.Millisecond
	s := newNode(t, 1, adaptive(), 2, 3, 4)
	makeLazy(t, s, 3, 4)

	armed(t, s, 0, 3, mid(1))
	step(t, s, at(0), recv(4, ihave(Announcement{ID: mid(1), Round: 1})))
	require.Contains(t, step(t, s, at(20*ms), fire(TimerGraft, mid(1))), sendTo(3, &Graft{ID: mid(1), HasID: true, Round: 1}))
	require.Contains(t, step(t, s, at(60*ms), fire(TimerGraft, mid(1))), sendTo(4, &Graft{ID: mid(1), HasID: true, Round: 1}))
	step(t, s, at(65*ms), recv(4, &Gossip{ID: mid(1), Round: 1, Payload: []byte("a")}))
	step(t, s, at(66*ms), recv(3, &Gossip{ID: mid(1), Round: 1, Payload: []byte("a")}))
	step(t, s, at(70*ms), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, 20*ms, armed(t, s, 100*ms, 3, mid(2)), "answers to a retried GRAFT and the eager copy measured nothing")

	step(t, s, at(140*ms), recv(99, &Gossip{ID: mid(2), Round: 2, Payload: []byte("b")}))
	require.Equal(t, 20*ms, armed(t, s, 150*ms, 3, mid(3)), "a stranger's payload, 40 ms after the IHAVE, measured nothing")

	step(t, s, at(170*ms), fire(TimerGraft, mid(3)))
	step(t, s, at(171*ms), recv(3, &Gossip{ID: mid(3), Round: 1, Payload: []byte("c")}))
	require.Equal(t, 1, s.lag.live, "the GRAFT's answer: the eager copy may still come")
	step(t, s, at(200*ms), recv(99, &Gossip{ID: mid(3), Round: 2, Payload: []byte("c")}))
	require.Equal(t, 1, s.lag.live, "a stranger's late copy measured nothing")
	require.Equal(t, 20*ms, armed(t, s, 201*ms, 3, mid(4)))
}

// The ring of grafted messages holds the last graftedRingSize; an eager
// copy of an older one measures nothing, and the ring's live count
// follows its slots.
func TestGraftedRingKeepsTheLast(t *testing.T) {
	ms := time.Millisecond
	s := newNode(t, 1, adaptive(), 2, 3)
	makeLazy(t, s, 3)
	n := graftedRingSize + 2
	for k := range n {
		d := time.Duration(k) * 100 * ms
		id := mid(uint64(k + 1))
		require.Equal(t, 20*ms, armed(t, s, d, 3, id))
		step(t, s, at(d+20*ms), fire(TimerGraft, id))
		step(t, s, at(d+21*ms), recv(3, &Gossip{ID: id, Round: 1, Payload: []byte("a")}))
	}
	require.Equal(t, graftedRingSize, s.lag.live)
	last := time.Duration(n) * 100 * ms
	step(t, s, at(last), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, graftedRingSize, s.lag.live, "the oldest left the ring: its eager copy measured nothing")
	require.Equal(t, 20*ms, armed(t, s, last, 3, mid(100)))
	step(t, s, at(last+10*ms), recv(2, &Gossip{ID: mid(uint64(n)), Round: 2, Payload: []byte("a")}))
	require.Equal(t, graftedRingSize-1, s.lag.live)
	require.Equal(t, 80*ms, armed(t, s, last+10*ms, 3, mid(101)), "the newest's eager copy, late, measured: capped")

	c := s.Clone()
	require.Equal(t, s.lag, c.lag, "a clone carries the measure")
}

// A clone measures its lags apart from its original: a lag the clone
// measures does not lengthen the original's timeout1, nor the other way
// round.
func TestCloneMeasuresItsOwnLags(t *testing.T) {
	ms := time.Millisecond
	s := newNode(t, 1, adaptive(), 2, 3)
	makeLazy(t, s, 3)
	armed(t, s, 0, 3, mid(1))
	c := s.Clone()

	step(t, c, at(15*ms), recv(2, &Gossip{ID: mid(1), Round: 2, Payload: []byte("a")}))
	require.Equal(t, 30*ms, armed(t, c, 100*ms, 3, mid(2)), "the clone measured a 15 ms lag")
	require.Equal(t, 20*ms, armed(t, s, 100*ms, 3, mid(2)), "the original measured none")

	step(t, s, at(130*ms), recv(2, &Gossip{ID: mid(2), Round: 2, Payload: []byte("b")}))
	require.Equal(t, 60*ms, armed(t, s, 200*ms, 3, mid(3)), "the original measured a 30 ms lag")
	require.Equal(t, 30*ms, armed(t, c, 200*ms, 3, mid(3)), "the clone still its own 15 ms")
	require.NoError(t, s.Invariants())
	require.NoError(t, c.Invariants())
}
