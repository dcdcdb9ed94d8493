package plumtree

import (
	"cmp"
	"fmt"
	"math"
	"time"
)

// history remembers delivered messages: every delivered ID for seenTTL (the
// paper's receivedMsgs, S2 Algorithm 1) and its payload for payloadTTL, to
// answer GRAFTs (S2 Algorithm 2). The paper keeps both forever and calls
// purging out of scope; we bound both in time and in size, evicting the
// oldest first (doc.go, deviation 7).
//
// One ring holds an item per remembered ID in delivery order, numbered by a
// sequence that grows by one per item; index maps an ID to its item's
// number. Since payloads are released oldest first too, the items still
// holding a payload are always the newest held ones of the ring, so their
// payloads sit in a second ring, in the same order, that holds only them:
// an ID remembered for SeenRetention costs its 24-byte item and its index
// slot, and a payload slot is paid only for PayloadRetention. So a payload
// is found by one lookup and some arithmetic, releasing one touches no map,
// and forgetting an ID is one delete. The rings and the index give back
// their capacity once mostly empty (ring.shrink, idIndex.shrink), so that a
// burst of broadcasts, such as a large cluster's joins, leaves no memory
// held for 90 s worth of them after they expire.
type history struct {
	// recent holds the last few delivered IDs, so that the duplicates of a
	// message, which mostly arrive just after its first copy, are found
	// without probing the map. Every ID in it is also in index.
	recent    [recentIDs]MessageID
	recentLen uint8
	recentPos uint8
	headSeq   uint64 // the number of items.front()

	// Then, in the next three cache lines, what recording a new payload
	// reads and writes.
	index    idIndex // the sequence number of each item
	items    ring[histItem]
	payloads ring[[]byte] // the payloads of the newest held items, oldest first
	held     int          // the newest held items hold their payloads
	bytes    int          // the total size of those payloads
	// due is no later than the first moment expire has work to do, so
	// that most calls return without touching the ring.
	due time.Duration

	seenTTL, payloadTTL time.Duration
	// calmTTL is how long a payload is held while no repair is expected;
	// holdUntil is when the last InputHoldPayloads stops holding payloads
	// for payloadTTL (doc.go, deviation 16).
	calmTTL, holdUntil time.Duration
	maxSize            int // the caps on IDs and payloads are the rings' max
}

// histCounts counts what the history forgot or released, and why. The
// state keeps them apart from the history, past the lines a new payload
// reads, since they change only as IDs and payloads expire or are evicted.
type histCounts struct {
	seenExpired, seenEvicted uint64
	heldExpired, heldEvicted uint64
}

type histItem struct {
	id MessageID
	at time.Duration // when it was delivered
}

func newHistory(c Config) history {
	return history{
		index:      newIDIndex(c.MaxSeenIDs),
		items:      newRing[histItem](c.MaxSeenIDs),
		payloads:   newRing[[]byte](c.MaxCachedPayloads),
		seenTTL:    c.SeenRetention,
		payloadTTL: c.PayloadRetention,
		calmTTL:    cmp.Or(c.CalmPayloadRetention, c.PayloadRetention),
		maxSize:    c.MaxCachedBytes,
	}
}

// recentIDs is the size of history.recent.
const recentIDs = 3

// has reports whether id was delivered and is still remembered.
func (h *history) has(id MessageID) bool {
	for i := uint8(0); i < h.recentLen; i++ {
		if h.recent[i] == id {
			return true
		}
	}
	_, _, ok := h.index.find(id, &h.items, h.headSeq)
	return ok
}

// rememberRecent puts a newly delivered id into recent, replacing the
// oldest there.
func (h *history) rememberRecent(id MessageID) {
	h.recent[h.recentPos] = id
	h.recentPos = (h.recentPos + 1) % recentIDs
	h.recentLen = min(h.recentLen+1, recentIDs)
}

// forgetRecent removes id from recent, if there.
func (h *history) forgetRecent(id MessageID) {
	for i := uint8(0); i < h.recentLen; i++ {
		if h.recent[i] == id {
			// Keep the slots filled from 0; the next write goes to the
			// freed one, which is the oldest since IDs expire oldest first.
			h.recentLen--
			h.recent[i] = h.recent[h.recentLen]
			h.recentPos = h.recentLen
			return
		}
	}
}

// payload returns the payload of id, if it is still held.
func (h *history) payload(id MessageID) ([]byte, bool) {
	pos, _, ok := h.index.find(id, &h.items, h.headSeq)
	if !ok || pos < h.items.len()-h.held {
		return nil, false
	}
	return *h.payloads.at(pos - (h.items.len() - h.held)), true
}

// add remembers a newly delivered id and holds its payload, counting in hc
// what it evicts for room. The caller checks has(id) first and keeps
// len(payload) <= maxSize.
func (h *history) add(id MessageID, payload []byte, now time.Duration, hc *histCounts) {
	for h.items.len() >= h.items.max {
		h.forgetOldest()
		hc.seenEvicted++
	}
	for h.held > 0 && (h.held >= h.payloads.max || h.bytes+len(payload) > h.maxSize) {
		h.releaseOldest()
		hc.heldEvicted++
	}
	h.index.insert(id, h.headSeq+uint64(h.items.len()), &h.items, h.headSeq)
	h.items.push(histItem{id: id, at: now})
	h.payloads.push(payload)
	h.rememberRecent(id)
	h.held++
	h.bytes += len(payload)
	h.due = min(h.due, min(h.releaseAt(now), now+h.seenTTL))
	if h.held > 1 {
		// An eviction may have left, oldest, a payload no hold covers,
		// due before the evicted one was.
		h.due = min(h.due, h.nextDue())
	}
}

// releaseAt returns when a payload delivered at at is released: after
// payloadTTL when a hold covers it (it came before holdUntil), after
// calmTTL otherwise. A hold comes after a tick that released what was due
// (State.Step), so it covers only payloads still held or still to come.
// Payloads are released oldest first: one due after calmTTL waits behind
// an older one that a hold covers.
func (h *history) releaseAt(at time.Duration) time.Duration {
	if at < h.holdUntil {
		return at + h.payloadTTL
	}
	return at + h.calmTTL
}

// hold holds every payload held at now, and every payload delivered
// before now+payloadTTL, for the whole payloadTTL.
func (h *history) hold(now time.Duration) {
	h.holdUntil = max(h.holdUntil, now+h.payloadTTL)
}

// expire forgets what has been kept for its retention by now, counting it
// in hc.
func (h *history) expire(now time.Duration, hc *histCounts) {
	if now < h.due {
		return
	}
	for h.held > 0 && h.releaseAt(h.items.at(h.items.len()-h.held).at) <= now {
		h.releaseOldest()
		hc.heldExpired++
	}
	for h.items.len() > 0 && h.items.front().at+h.seenTTL <= now {
		h.forgetOldest()
		hc.seenExpired++
	}
	h.due = h.nextDue()
}

// nextDue returns when the oldest held payload or remembered ID expires.
func (h *history) nextDue() time.Duration {
	due := time.Duration(math.MaxInt64)
	if h.held > 0 {
		due = h.releaseAt(h.items.at(h.items.len() - h.held).at)
	}
	if h.items.len() > 0 {
		due = min(due, h.items.front().at+h.seenTTL)
	}
	return due
}

// releaseOldest drops the oldest held payload; held must be > 0.
func (h *history) releaseOldest() {
	h.bytes -= len(h.payloads.pop())
	h.held--
}

// forgetOldest forgets the oldest ID, and its payload if still held.
func (h *history) forgetOldest() {
	if h.held == h.items.len() {
		h.releaseOldest()
	}
	id := h.items.front().id
	if _, slot, ok := h.index.find(id, &h.items, h.headSeq); ok {
		h.index.removeSlot(slot, &h.items, h.headSeq)
		h.index.shrink(&h.items, h.headSeq)
	}
	h.items.pop()
	h.headSeq++
	h.forgetRecent(id)
}

// check verifies the history's invariants.
func (h *history) check() error {
	n := h.items.len()
	if n > h.items.max || h.held > h.payloads.max || h.bytes > h.maxSize || h.held > n || h.held < 0 || h.payloads.len() != h.held {
		return fmt.Errorf("plumtree: history over its caps: %d ids, %d payloads, %d bytes", n, h.held, h.bytes)
	}
	if next := h.nextDue(); h.due > next {
		return fmt.Errorf("plumtree: history expects its next expiry at %v, after the due %v", h.due, next)
	}
	for _, id := range h.recent[:h.recentLen] {
		if _, _, ok := h.index.find(id, &h.items, h.headSeq); !ok {
			return fmt.Errorf("plumtree: recent ID %v is not remembered", id)
		}
	}
	if h.index.len() != n {
		return fmt.Errorf("plumtree: history indexes %d ids, holds %d", h.index.len(), n)
	}
	bytes := 0
	for i := 0; i < n; i++ {
		it := h.items.at(i)
		if pos, _, ok := h.index.find(it.id, &h.items, h.headSeq); !ok || pos != i {
			return fmt.Errorf("plumtree: history item %v is not indexed", it.id)
		}
	}
	for i := 0; i < h.payloads.len(); i++ {
		bytes += len(*h.payloads.at(i))
	}
	if bytes != h.bytes {
		return fmt.Errorf("plumtree: history counts %d held bytes, holds %d", h.bytes, bytes)
	}
	return nil
}
