package plumtree

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Deviation (doc.go, deviation 16): with CalmPayloadRetention below
// PayloadRetention, a payload is released after the calm retention unless
// a hold came while it was held or less than PayloadRetention before it
// came; then it is held for the whole PayloadRetention.
func TestCalmRetentionAndHolds(t *testing.T) {
	cfg := Config{PayloadRetention: 30 * time.Second, CalmPayloadRetention: 10 * time.Second}.withDefaults()
	for _, tc := range []struct {
		name        string
		deliveredAt time.Duration
		holdAt      time.Duration // <0: none
		releasedAt  time.Duration
	}{
		{"no hold: the calm retention", 0, -1, 10 * time.Second},
		{"a hold while it is held", 0, 9 * time.Second, 30 * time.Second},
		{"a hold before it came", 25 * time.Second, 0, 55 * time.Second},
		{"a hold too long before it came", 30 * time.Second, 0, 40 * time.Second},
		{"a hold after it was released", 0, 10 * time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(cfg)
			var hc histCounts
			if tc.holdAt >= 0 && tc.holdAt <= tc.deliveredAt {
				h.hold(tc.holdAt)
			}
			h.add(mid(1), []byte("p"), tc.deliveredAt, &hc)
			if tc.holdAt > tc.deliveredAt {
				h.expire(tc.holdAt, &hc) // State.Step ticks before it holds
				h.hold(tc.holdAt)
			}
			h.expire(tc.releasedAt-1, &hc)
			_, held := h.payload(mid(1))
			require.True(t, held || tc.holdAt > tc.deliveredAt && tc.holdAt >= tc.releasedAt, "held until %v", tc.releasedAt)
			h.expire(tc.releasedAt, &hc)
			_, held = h.payload(mid(1))
			require.False(t, held, "released at %v", tc.releasedAt)
			require.NoError(t, h.check())
		})
	}
}

// Whatever the deliveries, holds and clock, a payload is held at least as
// long as its retention says (calm, or the whole PayloadRetention when a
// hold covers it), never beyond PayloadRetention, and beyond its own
// retention only while an older payload that is still due waits before it
// (payloads are released oldest first), unless the count cap evicted it
// first; and the history's invariants, its next expiry included, hold
// after every step.
func TestPropertyRetentionFollowsHolds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		long := 30 * time.Second
		calm := rapid.SampledFrom([]time.Duration{time.Second, 10 * time.Second, long}).Draw(rt, "calm")
		capacity := rapid.SampledFrom([]int{2, 5, 10_000}).Draw(rt, "maxPayloads")
		h := newHistory(Config{PayloadRetention: long, CalmPayloadRetention: calm, MaxCachedPayloads: capacity}.withDefaults())
		var hc histCounts
		type item struct {
			at      time.Duration
			covered bool
			gone    bool
			evicted bool
		}
		var items []item
		var holds []time.Duration
		now := time.Duration(0)
		for step := range rapid.IntRange(20, 200).Draw(rt, "steps") {
			now += rapid.SampledFrom([]time.Duration{0, 300 * time.Millisecond, 2 * time.Second, 7 * time.Second}).Draw(rt, "advance")
			h.expire(now, &hc)
			switch rapid.IntRange(0, 2).Draw(rt, "action") {
			case 0:
				evicted := hc.heldEvicted
				h.add(mid(uint64(len(items)+1)), []byte{1}, now, &hc)
				for i := range items { // the cap evicts the oldest held first
					if hc.heldEvicted == evicted {
						break
					}
					if !items[i].gone && !items[i].evicted {
						items[i].evicted = true
						evicted++
					}
				}
				covered := len(holds) > 0 && now < holds[len(holds)-1]+long
				items = append(items, item{at: now, covered: covered})
				// An eviction may have left a payload that is due oldest:
				// the next tick releases it (State.Step ticks first).
				h.expire(now, &hc)
			case 1:
				h.hold(now)
				holds = append(holds, now)
				for i := range items {
					_, held := h.payload(mid(uint64(i + 1)))
					if held {
						items[i].covered = true
					}
				}
			}
			// Check every payload against its retention.
			waiting := false // an older payload is held and due later
			for i := range items {
				it := &items[i]
				_, held := h.payload(mid(uint64(i + 1)))
				due := it.at + calm
				if it.covered {
					due = it.at + long
				}
				switch {
				case it.evicted:
					require.False(rt, held, "step %d: payload %d evicted, still held", step, i+1)
				case now < due:
					require.True(rt, held, "step %d: payload %d (at %v, covered %v) released before %v, now %v", step, i+1, it.at, it.covered, due, now)
				case now >= it.at+long:
					require.False(rt, held, "step %d: payload %d held past PayloadRetention", step, i+1)
				case held:
					require.True(rt, waiting, "step %d: payload %d held past %v with nothing older due later", step, i+1, due)
				}
				if held && now < due && !it.evicted {
					waiting = true
				}
				if it.gone {
					require.False(rt, held)
				}
				it.gone = !held
			}
			require.NoError(rt, h.check())
		}
	})
}

// A hold reaches the history through Step, after the tick that released
// what was due.
func TestHoldPayloadsInput(t *testing.T) {
	cfg := Config{LazyPushDelay: -1, PayloadRetention: 30 * time.Second, CalmPayloadRetention: 5 * time.Second}
	s := newNode(t, 1, cfg, 2)
	step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("early")})
	step(t, s, at(4*time.Second), Input{Kind: InputBroadcast, Payload: []byte("late")})
	require.Equal(t, "hold-payloads", InputHoldPayloads.String())
	require.Empty(t, step(t, s, at(6*time.Second), Input{Kind: InputHoldPayloads}))
	require.Equal(t, uint64(1), s.Counters().PayloadHolds)
	require.Equal(t, 1, s.Sizes().CachedPayloads, "the first was due before the hold; the second is held")
	step(t, s, at(33*time.Second), Input{Kind: InputTimer, Timer: Timer{Kind: TimerDispatch}})
	require.Equal(t, 1, s.Sizes().CachedPayloads, "held for the whole retention")
	step(t, s, at(34*time.Second), Input{Kind: InputTimer, Timer: Timer{Kind: TimerDispatch}})
	require.Zero(t, s.Sizes().CachedPayloads)
}

// An eviction for the count cap that leaves, oldest, a payload no hold
// covers leaves the history's next expiry at that payload's release, not
// after it.
func TestEvictionKeepsTheNextExpiry(t *testing.T) {
	h := newHistory(Config{PayloadRetention: 30 * time.Second, CalmPayloadRetention: 10 * time.Second, MaxCachedPayloads: 2}.withDefaults())
	var hc histCounts
	h.hold(0)
	h.add(mid(1), []byte{1}, 29*time.Second, &hc) // covered: released at 59 s
	h.add(mid(2), []byte{2}, 30*time.Second, &hc) // not covered: released at 40 s
	h.expire(40*time.Second, &hc)
	require.NoError(t, h.check())
	_, held := h.payload(mid(2))
	require.True(t, held, "behind the covered one")
	h.add(mid(3), []byte{3}, 41*time.Second, &hc) // evicts 1: 2 is due now
	require.NoError(t, h.check())
	h.expire(41*time.Second, &hc)
	_, held = h.payload(mid(2))
	require.False(t, held, "released once the covered one before it went")
}
