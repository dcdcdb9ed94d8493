package transport

import "sync"

// frameQueue is a connection's bounded send queue. Its memory grows with
// what is queued, not with the bound: a node holds a connection per
// neighbour, and a channel sized to SendQueueFrames would cost every one of
// them the full bound up front.
type frameQueue struct {
	mu     sync.Mutex
	frames []outFrame // frames[head:] are queued
	head   int
	max    int
	ready  chan struct{} // holds a token while frames may be queued
}

func newFrameQueue(max int) *frameQueue {
	return &frameQueue{max: max, ready: make(chan struct{}, 1)}
}

// push queues f and reports whether there was room.
func (q *frameQueue) push(f outFrame) bool {
	q.mu.Lock()
	if len(q.frames)-q.head >= q.max {
		q.mu.Unlock()
		return false
	}
	if q.head > 0 && q.head == len(q.frames) {
		// Empty: start again at the front, keeping the memory.
		clear(q.frames)
		q.frames, q.head = q.frames[:0], 0
	}
	q.frames = append(q.frames, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// pop removes the oldest frame, if any.
func (q *frameQueue) pop() (outFrame, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.frames) {
		return outFrame{}, false
	}
	f := q.frames[q.head]
	q.frames[q.head] = outFrame{}
	q.head++
	if q.head == len(q.frames) {
		q.frames, q.head = q.frames[:0], 0
		if cap(q.frames) > 4*minQueueCap {
			q.frames = nil // release a burst's memory
		}
	}
	return f, true
}

// len returns the number of queued frames.
func (q *frameQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames) - q.head
}

// minQueueCap is the capacity an idle queue may keep.
const minQueueCap = 64
