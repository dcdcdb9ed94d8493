package harness

import (
	"sync"
	"time"
)

// Recorder tracks broadcasts and their deliveries: who sent what when, which
// node delivered it, and duplicates. A message is complete once every node
// other than its origin has delivered it. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	nodes    int
	msgs     map[uint64]*msgState
	inFlight int
	total    uint64 // deliveries to nodes other than the origin
	dups     uint64
	unknown  uint64
}

type msgState struct {
	origin  int
	sent    time.Time
	last    time.Time
	seen    []uint64 // bitset over nodes
	count   int
	done    chan struct{}
	expired bool
}

// NewRecorder returns a recorder for a cluster of the given size.
func NewRecorder(nodes int) *Recorder {
	return &Recorder{nodes: nodes, msgs: map[uint64]*msgState{}}
}

// Sent registers message id, broadcast from origin at time at; call it
// before handing the message to the system. The returned channel is closed
// when every other node has delivered it.
func (r *Recorder) Sent(id uint64, origin int, at time.Time) <-chan struct{} {
	m := &msgState{origin: origin, sent: at, seen: make([]uint64, (r.nodes+63)/64), done: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[id] = m
	r.inFlight++
	if r.nodes <= 1 {
		close(m.done)
		r.inFlight--
	}
	return m.done
}

// Deliver records that node delivered id at time at; it has the signature of
// DeliverFunc. Deliveries at the origin are ignored.
func (r *Recorder) Deliver(node int, id uint64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.msgs[id]
	if !ok || node < 0 || node >= r.nodes {
		r.unknown++
		return
	}
	if node == m.origin {
		return
	}
	word, bit := node/64, uint64(1)<<(node%64)
	if m.seen[word]&bit != 0 {
		r.dups++
		return
	}
	m.seen[word] |= bit
	m.count++
	r.total++
	if at.After(m.last) {
		m.last = at
	}
	if m.count == r.nodes-1 {
		close(m.done)
		if !m.expired {
			r.inFlight--
		}
	}
}

// Latency returns the time from sending id until the last node delivered
// it, and whether every node has delivered it.
func (r *Recorder) Latency(id uint64) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.msgs[id]
	if !ok || m.count < r.nodes-1 {
		return 0, false
	}
	if r.nodes <= 1 {
		return 0, true
	}
	return m.last.Sub(m.sent), true
}

// Missing returns how many nodes (other than the origin) have not delivered
// id.
func (r *Recorder) Missing(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.msgs[id]
	if !ok {
		return r.nodes - 1
	}
	return r.nodes - 1 - m.count
}

// InFlight is the number of sent messages neither complete nor expired.
func (r *Recorder) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

// Expire stops counting as in flight the incomplete messages sent before
// cutoff, and returns how many it expired. Their later deliveries are still
// recorded.
func (r *Recorder) Expire(cutoff time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if !m.expired && m.count < r.nodes-1 && m.sent.Before(cutoff) {
			m.expired = true
			r.inFlight--
			n++
		}
	}
	return n
}

// Counts returns the deliveries to non-origin nodes, the duplicate
// deliveries, and the deliveries of unknown ids, all since the start.
func (r *Recorder) Counts() (deliveries, duplicates, unknown uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.dups, r.unknown
}
