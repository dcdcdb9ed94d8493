package datadir

import (
	"math"
	"sync"
	"sync/atomic"
)

// DefaultReservation is how many sequence numbers a Sequencer reserves at
// a time: one write of the state file per 65,536 broadcasts.
const DefaultReservation = 1 << 16

// Sequencer reserves message sequence numbers in the state file ahead of
// their use, so that a crash can never let a restarted agent reuse one:
// before a broadcast that could use a number not yet reserved, it saves a
// reservation Step numbers further (and refuses the broadcast if it cannot
// save). It counts each broadcast as one number; a number the node
// skipped (its ID was already known) is caught up after the broadcast
// (Used). Its methods are safe for concurrent use.
type Sequencer struct {
	store *Store
	step  uint64
	// claimed is above every number the broadcasts started so far may
	// use; reserved is above every number the file allows.
	claimed, reserved atomic.Uint64
	mu                sync.Mutex // one save at a time
}

// NewSequencer returns a sequencer for a node whose next sequence number
// is first, and saves a first reservation of step numbers (step 0 means
// DefaultReservation).
func NewSequencer(store *Store, first, step uint64) (*Sequencer, error) {
	if step == 0 {
		step = DefaultReservation
	}
	q := &Sequencer{store: store, step: step}
	q.claimed.Store(first)
	q.reserved.Store(store.Saved().SequenceReserved)
	if err := q.reserveFor(first); err != nil {
		return nil, err
	}
	return q, nil
}

// Acquire makes sure the number the next broadcast uses is reserved.
// After an error the broadcast must not be made.
func (q *Sequencer) Acquire() error {
	c := q.claimed.Add(1) // this broadcast uses a number below c
	if c <= q.reserved.Load() {
		return nil
	}
	return q.reserveFor(c - 1)
}

// Used records that a broadcast used seq: a node that skipped numbers
// (their IDs were known already) used more than Acquire counted, and the
// following broadcasts are counted from seq. If seq itself was not
// reserved (a skip past the reservation), it is reserved now, late.
func (q *Sequencer) Used(seq uint64) error {
	for {
		c := q.claimed.Load()
		if seq < c || q.claimed.CompareAndSwap(c, seq+1) {
			break
		}
	}
	if seq < q.reserved.Load() {
		return nil
	}
	return q.reserveFor(seq)
}

// Reserved returns the reservation saved: every number below it may be
// used.
func (q *Sequencer) Reserved() uint64 { return q.reserved.Load() }

// reserveFor saves a reservation covering seq and step more.
func (q *Sequencer) reserveFor(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if seq < q.reserved.Load() {
		return nil
	}
	r := uint64(math.MaxUint64)
	if seq < math.MaxUint64-q.step {
		r = seq + 1 + q.step
	}
	if err := q.store.Reserve(r); err != nil {
		return err
	}
	q.reserved.Store(r)
	return nil
}
