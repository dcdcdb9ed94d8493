package engine

import (
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/membership"
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
// they were scheduled, which keeps runs deterministic.
type event struct {
	at    time.Duration
	seq   uint64
	kind  eventKind
	to    int32
	from  int32
	msg   membership.Message
	timer membership.Timer
}

// queue is a min-heap of events by (at, seq). The heap itself holds small
// keys; the events sit in a slab whose free slots are reused, so sifting
// moves 24 bytes instead of a whole event and scheduling allocates only when
// the slab or the heap grows.
type queue struct {
	heap []key
	slab []event
	free []int32
}

// key orders one event of the slab.
type key struct {
	at   time.Duration
	seq  uint64
	slot int32
}

func (q *queue) len() int { return len(q.heap) }

func less(a, b *key) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *queue) push(e event) {
	var slot int32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.slab[slot] = e
	} else {
		slot = int32(len(q.slab))
		q.slab = append(q.slab, e)
	}
	q.heap = append(q.heap, key{at: e.at, seq: e.seq, slot: slot})
	h := q.heap
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&h[i], &h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// peekAt returns the time of the earliest event; the queue must not be
// empty.
func (q *queue) peekAt() time.Duration { return q.heap[0].at }

// pop removes and returns the earliest event; the queue must not be empty.
func (q *queue) pop() event {
	h := q.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	q.heap = h
	n := len(h)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&h[r], &h[l]) {
			m = r
		}
		if !less(&h[m], &h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	e := q.slab[top.slot]
	q.slab[top.slot] = event{} // release the message for the garbage collector
	q.free = append(q.free, top.slot)
	return e
}

// peerOf maps a node index to its identity in the cores. Identity 0 is left
// unused so that a zero PeerID never names a real node.
func peerOf(n int) hyparview.PeerID { return hyparview.PeerID(n + 1) }

// indexOf is the inverse of peerOf; it returns -1 for an identity that
// names no node.
func indexOf(id hyparview.PeerID, nodes int) int {
	i := int(id) - 1
	if i < 0 || i >= nodes {
		return -1
	}
	return i
}
