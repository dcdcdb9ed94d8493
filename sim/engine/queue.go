package engine

import (
	"fmt"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/peer"
)

// eventKind says what an event does when its time comes.
type eventKind uint8

const (
	// eventDeliver hands msg, sent by from, to node to.
	eventDeliver eventKind = iota + 1
	// eventTimer fires timer at node to.
	eventTimer
	// eventConnectionFailed tells node to that its connection to from failed.
	eventConnectionFailed
)

// event is one entry of the queue. Events are ordered by (at, seq): seq is
// a global counter, so two events at the same virtual time run in the order
// they were scheduled, which keeps runs deterministic. An event is 64
// bytes, one cache line: its kind follows from what it carries (kind).
type event struct {
	at    time.Duration
	seq   uint64
	to    int32
	from  int32          // eventDeliver, eventConnectionFailed: the peer
	msg   gossip.Message // eventDeliver: never nil
	timer gossip.Timer   // eventTimer: never the zero Timer
}

// kind says what the event does: a message delivers, a timer fires, and
// an event with neither reports a failed connection.
func (e *event) kind() eventKind {
	switch {
	case e.msg != nil:
		return eventDeliver
	case e.timer != gossip.Timer{}:
		return eventTimer
	}
	return eventConnectionFailed
}

// describe names the event for an invariant violation.
func (e *event) describe() string {
	switch e.kind() {
	case eventDeliver:
		return fmt.Sprintf("receive %T from node %d", e.msg, e.from)
	case eventTimer:
		return fmt.Sprintf("%v timer", e.timer.Kind())
	case eventConnectionFailed:
		return fmt.Sprintf("connection to node %d failed", e.from)
	}
	return fmt.Sprintf("event kind %d", e.kind())
}

// maxLanes bounds the FIFO lanes of a queue; a handful of delays (the link
// delay of the cycle model, each core's timer periods) carry almost every
// event.
const maxLanes = 8

// queue holds the pending events in (at, seq) order.
//
// Most events are scheduled a fixed delay after the moment they are
// scheduled: every message of the cycle model travels for the same link
// delay, every GRAFT timer runs for the same timeout. Since the clock never
// goes back, the events of one delay are due in the order they were
// scheduled, so a FIFO lane per delay keeps them ordered at the cost of an
// append and a read, touching memory in order. Events of other delays go
// to a binary min-heap. pop takes the earliest of the lanes' heads and the
// heap's top, so the order is exactly (at, seq) whatever the mix.
type queue struct {
	lanes [maxLanes]lane
	used  int // lanes[:used] have been given a delay
	heap  minHeap
	n     int
	last  *lane // the lane of the last event popped; nil for the heap
}

// lane is a FIFO of events scheduled with the same delay.
type lane struct {
	delay  time.Duration
	head   key // the first event's order, copied here so pop scans no ring
	lastAt time.Duration
	events ring
}

// key orders one event.
type key struct {
	at   time.Duration
	seq  uint64
	slot int32
}

func less(a, b *key) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *queue) len() int { return q.n }

// push adds e, scheduled at time now (e.at >= now).
func (q *queue) push(e event, now time.Duration) {
	q.n++
	if l := q.laneFor(e.at-now, e.at); l != nil {
		if l.events.len() == 0 {
			l.head = key{at: e.at, seq: e.seq}
		}
		l.lastAt = e.at
		l.events.push(e)
		return
	}
	q.heap.push(e)
}

// laneFor returns the lane for events of this delay, due at at, or nil if
// none can take it in order.
func (q *queue) laneFor(delay, at time.Duration) *lane {
	var empty *lane
	for i := 0; i < q.used; i++ {
		l := &q.lanes[i]
		if l.delay == delay {
			if at >= l.lastAt {
				return l
			}
			return nil
		}
		if empty == nil && l.events.len() == 0 {
			empty = l
		}
	}
	if q.used < maxLanes {
		empty = &q.lanes[q.used]
		q.used++
	}
	if empty != nil {
		empty.delay = delay
	}
	return empty
}

// earliest returns the lane holding the earliest event, or nil if the
// heap's top is earlier (or every lane is empty).
func (q *queue) earliest() *lane {
	var best *key
	var bestLane *lane
	if q.heap.len() > 0 {
		best = &q.heap.keys[0]
	}
	for i := 0; i < q.used; i++ {
		l := &q.lanes[i]
		if l.events.len() > 0 && (best == nil || less(&l.head, best)) {
			best, bestLane = &l.head, l
		}
	}
	return bestLane
}

// peekAt returns the time of the earliest event; the queue must not be
// empty.
func (q *queue) peekAt() time.Duration {
	if l := q.earliest(); l != nil {
		return l.head.at
	}
	return q.heap.keys[0].at
}

// pop removes and returns the earliest event; the queue must not be empty.
func (q *queue) pop() event {
	q.n--
	l := q.earliest()
	q.last = l
	if l == nil {
		return q.heap.pop()
	}
	e := l.events.pop()
	if l.events.len() > 0 {
		next := l.events.front()
		l.head = key{at: next.at, seq: next.seq}
	}
	return e
}

// upcoming returns the event k places after the next one in the lane of
// the last event popped, a good guess of an event soon to run (that lane
// holds almost all of them in the cycle model), or nil.
func (q *queue) upcoming(k int) *event {
	l := q.last
	if l == nil || k >= l.events.size {
		return nil
	}
	r := &l.events
	return &r.buf[(r.head+k)&(len(r.buf)-1)]
}

// ring is a growable circular FIFO of events; its size is a power of two,
// so positions wrap with a mask.
type ring struct {
	buf        []event
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) push(e event) {
	if r.size == len(r.buf) {
		grown := make([]event, max(64, 2*len(r.buf)))
		for i := 0; i < r.size; i++ {
			grown[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = e
	r.size++
}

func (r *ring) front() *event { return &r.buf[r.head] }

func (r *ring) pop() event {
	e := r.buf[r.head]
	r.buf[r.head].msg = nil // release the message for the garbage collector
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
	return e
}

// minHeap is a binary min-heap of events by (at, seq). The heap itself
// holds small keys; the events sit in a slab whose free slots are reused,
// so sifting moves 24 bytes instead of a whole event and scheduling
// allocates only when the slab or the heap grows.
type minHeap struct {
	keys []key
	slab []event
	free []int32
}

func (h *minHeap) len() int { return len(h.keys) }

func (h *minHeap) push(e event) {
	var slot int32
	if n := len(h.free); n > 0 {
		slot = h.free[n-1]
		h.free = h.free[:n-1]
		h.slab[slot] = e
	} else {
		slot = int32(len(h.slab))
		h.slab = append(h.slab, e)
	}
	h.keys = append(h.keys, key{at: e.at, seq: e.seq, slot: slot})
	k := h.keys
	i := len(k) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&k[i], &k[parent]) {
			break
		}
		k[i], k[parent] = k[parent], k[i]
		i = parent
	}
}

func (h *minHeap) pop() event {
	k := h.keys
	top := k[0]
	last := len(k) - 1
	k[0] = k[last]
	k = k[:last]
	h.keys = k
	n := len(k)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&k[r], &k[l]) {
			m = r
		}
		if !less(&k[m], &k[i]) {
			break
		}
		k[i], k[m] = k[m], k[i]
		i = m
	}
	e := h.slab[top.slot]
	h.slab[top.slot] = event{} // release the message for the garbage collector
	h.free = append(h.free, top.slot)
	return e
}

// peerOf maps a node index to its identity in the cores. Identity 0 is left
// unused so that a zero PeerID never names a real node.
func peerOf(n int) peer.ID { return peer.ID(n + 1) }

// indexOf is the inverse of peerOf; it returns -1 for an identity that
// names no node.
func indexOf(id peer.ID, nodes int) int {
	i := int(id) - 1
	if i < 0 || i >= nodes {
		return -1
	}
	return i
}
