package plumtree

import (
	"fmt"
	"time"
)

// history remembers delivered messages: every delivered ID for seenTTL (the
// paper's receivedMsgs, S2 Algorithm 1) and its payload for payloadTTL, to
// answer GRAFTs (S2 Algorithm 2). The paper keeps both forever and calls
// purging out of scope; we bound both in time and in size, evicting the
// oldest first (PROTOCOL pitfall 15).
//
// One map serves both, so the hot paths (a first receipt, a duplicate, a
// GRAFT) cost one lookup. Two FIFO rings, in delivery order, drive expiry and
// eviction: seen holds one item per map record (1:1), held one item per held
// payload. A held item clears its payload only if the record still points at
// it (heldSeq), so a record re-created after its ID was forgotten is safe.
type history struct {
	records map[MessageID]record
	seen    ring[seenItem]
	held    ring[heldItem]
	bytes   int // sum of the sizes of the items in held
	nextSeq uint64

	seenTTL, payloadTTL     time.Duration
	maxSeen, maxHeld, maxBy int

	seenExpired, seenEvicted uint64
	heldExpired, heldEvicted uint64
}

type record struct {
	payload []byte
	heldSeq uint64 // the held item that owns payload; 0 once it is gone
}

type seenItem struct {
	id      MessageID
	expires time.Duration
}

type heldItem struct {
	id      MessageID
	expires time.Duration
	size    int
	seq     uint64
}

func newHistory(c Config) history {
	return history{
		records:    make(map[MessageID]record),
		seen:       newRing[seenItem](c.MaxSeenIDs),
		held:       newRing[heldItem](c.MaxCachedPayloads),
		seenTTL:    c.SeenRetention,
		payloadTTL: c.PayloadRetention,
		maxSeen:    c.MaxSeenIDs,
		maxHeld:    c.MaxCachedPayloads,
		maxBy:      c.MaxCachedBytes,
	}
}

// has reports whether id was delivered and is still remembered.
func (h *history) has(id MessageID) bool {
	_, ok := h.records[id]
	return ok
}

// payload returns the held payload of id, if it is still held.
func (h *history) payload(id MessageID) ([]byte, bool) {
	r, ok := h.records[id]
	if !ok || r.heldSeq == 0 {
		return nil, false
	}
	return r.payload, true
}

// add remembers a newly delivered id and holds its payload. The caller checks
// has(id) first and keeps len(payload) <= maxBy.
func (h *history) add(id MessageID, payload []byte, now time.Duration) {
	for h.seen.len() >= h.maxSeen {
		h.popSeen()
		h.seenEvicted++
	}
	for h.held.len() > 0 && (h.held.len() >= h.maxHeld || h.bytes+len(payload) > h.maxBy) {
		h.popHeld()
		h.heldEvicted++
	}
	h.nextSeq++
	h.records[id] = record{payload: payload, heldSeq: h.nextSeq}
	h.seen.push(seenItem{id: id, expires: now + h.seenTTL})
	h.held.push(heldItem{id: id, expires: now + h.payloadTTL, size: len(payload), seq: h.nextSeq})
	h.bytes += len(payload)
}

// expire forgets what has been kept for its retention by now.
func (h *history) expire(now time.Duration) {
	for h.held.len() > 0 && h.held.front().expires <= now {
		h.popHeld()
		h.heldExpired++
	}
	for h.seen.len() > 0 && h.seen.front().expires <= now {
		h.popSeen()
		h.seenExpired++
	}
}

func (h *history) popSeen() {
	it := h.seen.pop()
	delete(h.records, it.id)
}

func (h *history) popHeld() {
	it := h.held.pop()
	h.bytes -= it.size
	if r, ok := h.records[it.id]; ok && r.heldSeq == it.seq {
		h.records[it.id] = record{}
	}
}

// check verifies the history's invariants.
func (h *history) check() error {
	if h.seen.len() > h.maxSeen || h.held.len() > h.maxHeld || h.bytes > h.maxBy {
		return fmt.Errorf("plumtree: history over its caps: %d ids, %d payloads, %d bytes", h.seen.len(), h.held.len(), h.bytes)
	}
	if len(h.records) != h.seen.len() {
		return fmt.Errorf("plumtree: history has %d records but %d seen items", len(h.records), h.seen.len())
	}
	bytes := 0
	for i := 0; i < h.held.len(); i++ {
		bytes += h.held.at(i).size
	}
	if bytes != h.bytes {
		return fmt.Errorf("plumtree: history counts %d held bytes, holds %d", h.bytes, bytes)
	}
	for i := 0; i < h.seen.len(); i++ {
		if _, ok := h.records[h.seen.at(i).id]; !ok {
			return fmt.Errorf("plumtree: seen item %v has no record", h.seen.at(i).id)
		}
	}
	return nil
}
