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

// queue is a binary min-heap of events by (at, seq), stored by value so
// that scheduling allocates only when the backing array grows.
type queue struct {
	items []event
}

func (q *queue) len() int { return len(q.items) }

func less(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *queue) push(e event) {
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&q.items[i], &q.items[parent]) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

// peek returns the earliest event; the queue must not be empty.
func (q *queue) peek() *event { return &q.items[0] }

// pop removes and returns the earliest event; the queue must not be empty.
func (q *queue) pop() event {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = event{} // release the message for the garbage collector
	q.items = q.items[:last]
	n := len(q.items)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(&q.items[r], &q.items[l]) {
			m = r
		}
		if !less(&q.items[m], &q.items[i]) {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
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
