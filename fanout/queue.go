package fanout

// entry is one buffered value and the number of values dropped just
// before it, for which a lag notice precedes it.
type entry[T any] struct {
	value        T
	missedBefore uint64
}

// queue is a ring of entries that grows on demand up to a limit, so a
// subscriber that keeps up holds little memory.
type queue[T any] struct {
	buf  []entry[T]
	head int
	n    int
}

func (q *queue[T]) len() int { return q.n }

// front returns the oldest entry, or nil if the queue is empty.
func (q *queue[T]) front() *entry[T] {
	if q.n == 0 {
		return nil
	}
	return &q.buf[q.head]
}

// push appends e; the caller checks that fewer than limit are held.
func (q *queue[T]) push(e entry[T], limit int) {
	if q.n == len(q.buf) {
		grown := make([]entry[T], min(max(2*len(q.buf), 8), limit))
		for i := range q.n {
			grown[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

// pop removes and returns the oldest entry; the queue is not empty.
func (q *queue[T]) pop() entry[T] {
	e := q.buf[q.head]
	q.buf[q.head] = entry[T]{} // release what the value references
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return e
}
