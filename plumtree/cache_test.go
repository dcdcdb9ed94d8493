package plumtree

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

func testHistory(maxSeen, maxHeld, maxBytes int) history {
	return newHistory(Config{
		SeenRetention: 90 * time.Second, PayloadRetention: 30 * time.Second,
		MaxSeenIDs: maxSeen, MaxCachedPayloads: maxHeld, MaxCachedBytes: maxBytes,
	})
}

func TestRingFIFOAndGrowth(t *testing.T) {
	r := newRing[int](40)
	for i := 0; i < 10; i++ {
		r.push(i)
	}
	for i := 0; i < 5; i++ {
		require.Equal(t, i, r.pop())
	}
	for i := 10; i < 40; i++ { // wraps around and grows past 16
		r.push(i)
	}
	require.Equal(t, 35, r.len())
	require.LessOrEqual(t, len(r.buf), 40)
	for i := 5; i < 40; i++ {
		require.Equal(t, i, *r.front())
		require.Equal(t, i, r.pop())
	}
	require.Zero(t, r.len())
}

// A node that delivered one broadcast holds a few slots for it, not 16
// in each ring: a million simulated nodes paid 740 bytes each for one.
func TestHistoryOfOneBroadcastIsSmall(t *testing.T) {
	h := newHistory(Config{}.withDefaults())
	h.add(MessageID{1}, []byte("x"), 0, &histCounts{})
	require.LessOrEqual(t, len(h.items.buf), 4)
	require.LessOrEqual(t, len(h.payloads.buf), 4)
}

// A large ring grows by a quarter, never past its max, and keeps its
// order across the growths of a wrapped buffer.
func TestRingGrowsByAQuarterWhenLarge(t *testing.T) {
	const max = 10_000
	r := newRing[int](max)
	next, first := 0, 0
	for r.len() < max {
		r.push(next)
		next++
		if next%3 == 0 { // keep the buffer wrapped as it grows
			require.Equal(t, first, r.pop())
			first++
		}
		require.LessOrEqual(t, len(r.buf), max)
		if r.len() > ringDoubleUpTo {
			require.LessOrEqual(t, len(r.buf), r.len()+r.len()/4+1, "slack past a quarter at %d items", r.len())
		}
	}
	require.Equal(t, max, len(r.buf))
	for i := 0; r.len() > 0; i++ {
		require.Equal(t, first+i, r.pop())
	}
}

func TestHistoryExpiresOldestFirst(t *testing.T) {
	h := testHistory(100, 100, 1<<20)
	var hc histCounts
	h.add(mid(1), []byte("a"), 0, &hc)
	h.add(mid(2), []byte("bb"), 10*time.Second, &hc)

	h.expire(30*time.Second-1, &hc)
	_, ok := h.payload(mid(1))
	require.True(t, ok)

	h.expire(30*time.Second, &hc)
	_, ok = h.payload(mid(1))
	require.False(t, ok, "payload of 1 expired")
	p, ok := h.payload(mid(2))
	require.True(t, ok)
	require.Equal(t, []byte("bb"), p)
	require.True(t, h.has(mid(1)), "ID of 1 still remembered")
	require.Equal(t, 2, h.bytes)

	h.expire(90*time.Second, &hc)
	require.False(t, h.has(mid(1)))
	require.True(t, h.has(mid(2)))
	h.expire(100*time.Second, &hc)
	require.False(t, h.has(mid(2)))
	require.Equal(t, uint64(2), hc.seenExpired)
	require.Equal(t, uint64(2), hc.heldExpired)
	require.NoError(t, h.check())
}

func TestHistoryCountCapsEvictOldest(t *testing.T) {
	h := testHistory(3, 2, 1<<20)
	var hc histCounts
	for i := uint64(1); i <= 4; i++ {
		h.add(mid(i), []byte{byte(i)}, 0, &hc)
		require.NoError(t, h.check())
	}
	require.False(t, h.has(mid(1)))
	require.True(t, h.has(mid(2)))
	_, ok := h.payload(mid(2))
	require.False(t, ok)
	_, ok = h.payload(mid(3))
	require.True(t, ok)
	require.Equal(t, uint64(1), hc.seenEvicted)
	require.Equal(t, uint64(2), hc.heldEvicted)
}

func TestHistoryByteCapEvictsOldest(t *testing.T) {
	h := testHistory(10, 10, 5)
	var hc histCounts
	h.add(mid(1), []byte("aa"), 0, &hc)
	h.add(mid(2), []byte("bb"), 0, &hc)
	h.add(mid(3), []byte("ccc"), 0, &hc) // 7 > 5: evicts 1, then 4 <= 5... 2+3 = 5
	_, ok1 := h.payload(mid(1))
	_, ok2 := h.payload(mid(2))
	_, ok3 := h.payload(mid(3))
	require.Equal(t, []bool{false, true, true}, []bool{ok1, ok2, ok3})
	require.Equal(t, 5, h.bytes)
	h.add(mid(4), []byte("ddddd"), 0, &hc)
	require.Equal(t, 5, h.bytes)
	require.Equal(t, 1, h.held)
	require.NoError(t, h.check())
}

// An ID forgotten (seen cap) and delivered again holds its new payload.
func TestHistoryReaddedIDKeepsNewPayload(t *testing.T) {
	h := testHistory(2, 2, 1<<20)
	var hc histCounts
	h.add(mid(1), []byte("old"), 0, &hc)
	h.add(mid(2), []byte("x"), 0, &hc)
	h.add(mid(3), []byte("y"), 0, &hc) // forgets 1 (seen cap) and its payload (held cap)
	h.add(mid(1), []byte("new"), 0, &hc)
	p, ok := h.payload(mid(1))
	require.True(t, ok)
	require.Equal(t, []byte("new"), p)
	require.NoError(t, h.check())
}

func TestMissingFIFOEvictionAndCost(t *testing.T) {
	m := newMissingSet(3)
	created, kept := m.add(mid(1), 2, 0, 0, time.Second)
	require.True(t, created && kept)
	created, kept = m.add(mid(1), 3, 0, 0, time.Second)
	require.True(t, !created && kept)
	_, kept = m.add(mid(1), 3, 5, 0, time.Second)
	require.False(t, kept, "same announcer twice")
	m.add(mid(2), 2, 0, 0, time.Second)
	require.Equal(t, 3, m.cost)

	// Full: a new ID evicts the oldest (mid 1, cost 2).
	created, kept = m.add(mid(3), 2, 0, 0, time.Second)
	require.True(t, created && kept)
	require.Equal(t, int32(-1), m.lookup(mid(1)))
	require.Equal(t, 2, m.cost)
	require.Equal(t, uint64(1), m.evicted)
	require.NoError(t, m.check(func(peer.ID) bool { return true }, func(MessageID) bool { return false }))
}

func TestMissingNeverEvictsTheEntryItGrows(t *testing.T) {
	m := newMissingSet(2)
	m.add(mid(1), 2, 0, 0, time.Second)
	m.add(mid(1), 3, 0, 0, time.Second)
	_, kept := m.add(mid(1), 4, 0, 0, time.Second)
	require.False(t, kept)
	require.Equal(t, uint64(1), m.refused)
	require.Equal(t, 2, m.cost)
}

func TestMissingPopFirstAndRemovePeer(t *testing.T) {
	m := newMissingSet(10)
	m.add(mid(1), 2, 1, 0, time.Second)
	m.add(mid(1), 3, 2, 0, time.Second)
	m.add(mid(2), 3, 2, 0, time.Second)
	i := m.lookup(mid(1))
	require.Equal(t, ann{peer: 2, round: 1}, m.popFirst(i))
	m.entry(i).grafted = true
	require.Equal(t, ann{peer: 3, round: 2}, m.popFirst(i))
	require.Equal(t, 2, m.cost, "a used-up entry still costs one")

	m.removePeer(3)
	require.Equal(t, int32(-1), m.lookup(mid(2)), "no announcer left, no GRAFT in flight")
	require.GreaterOrEqual(t, m.lookup(mid(1)), int32(0), "a GRAFT is in flight")
	require.Equal(t, 1, m.cost)
	require.NoError(t, m.check(func(peer.ID) bool { return true }, func(MessageID) bool { return false }))
}

func TestMissingExpireByAge(t *testing.T) {
	m := newMissingSet(10)
	m.add(mid(1), 2, 0, 0, time.Second)
	m.add(mid(2), 2, 0, 5*time.Second, 6*time.Second)
	m.expire(90*time.Second, 90*time.Second)
	require.Equal(t, int32(-1), m.lookup(mid(1)))
	require.GreaterOrEqual(t, m.lookup(mid(2)), int32(0))
	require.Equal(t, uint64(1), m.expired)
}

func TestMissingSlotsAreReused(t *testing.T) {
	m := newMissingSet(4)
	for i := uint64(0); i < 1000; i++ {
		m.add(mid(i), 2, 0, 0, time.Second)
	}
	require.Len(t, m.slab, 4)
	require.Equal(t, 4, len(m.index))
	allocs := testing.AllocsPerRun(100, func() {
		m.add(mid(5000), 2, 0, 0, time.Second)
		m.remove(mid(5000))
	})
	require.Zero(t, allocs)
}

// SeenSince is when the oldest ID Seen still knows was delivered: the
// first delivery, until the cap of remembered IDs forgets it.
func TestSeenSinceFollowsTheOldestRememberedID(t *testing.T) {
	s := newNode(t, 1, Config{LazyPushDelay: -1, MaxSeenIDs: 3, MaxCachedPayloads: 3})
	_, ok := s.SeenSince()
	require.False(t, ok, "nothing delivered yet")
	for i := range 5 {
		var err error
		_, _, err = s.Broadcast(at(time.Duration(i)*time.Second), []byte{byte(i)}, nil)
		require.NoError(t, err)
		since, ok := s.SeenSince()
		require.True(t, ok)
		oldest := max(0, i-2) // three remembered
		require.True(t, since.Equal(at(time.Duration(oldest)*time.Second)), "after %d: %v", i, since)
	}
}
