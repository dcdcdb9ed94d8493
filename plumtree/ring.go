package plumtree

// ring is a FIFO queue over a circular buffer that grows up to max items,
// so its memory is bounded by max, and halves once a quarter full, so that
// a burst leaves no capacity behind once it is popped. It doubles up to
// ringDoubleUpTo items and grows by a quarter past that, so that a large
// ring, such as a history holding every broadcast of a large cluster's
// last 90 s, wastes at most a fifth of itself rather than half.
type ring[T any] struct {
	buf  []T
	head int
	n    int
	max  int
}

// ringFirstSize is a ring's first buffer: small, since a node of a large
// cluster that sees few broadcasts holds few (the simulator's million
// nodes each held 16 slots for one broadcast, 740 bytes of their 7.4 KB).
const ringFirstSize = 4

// ringDoubleUpTo is the size past which a ring grows by a quarter.
const ringDoubleUpTo = 1024

func newRing[T any](max int) ring[T] { return ring[T]{max: max} }

func (r *ring[T]) len() int { return r.n }

// push appends v. The caller keeps len() < max before pushing.
func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) {
		r.grow()
	}
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = v
	r.n++
}

func (r *ring[T]) grow() {
	size := max(2*len(r.buf), ringFirstSize)
	if len(r.buf) >= ringDoubleUpTo {
		size = len(r.buf) + len(r.buf)/4
	}
	r.resize(max(min(size, r.max), r.n+1))
}

// resize moves the items to a buffer of size >= n.
func (r *ring[T]) resize(size int) {
	buf := make([]T, size)
	k := copy(buf, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(buf[k:r.n], r.buf)
	r.buf, r.head = buf, 0
}

// next returns where push would write its item if the ring did not grow,
// nil while it has no buffer.
func (r *ring[T]) next() *T {
	if len(r.buf) == 0 {
		return nil
	}
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

// at returns the i-th oldest item.
func (r *ring[T]) at(i int) *T {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// front returns the oldest item; the ring must not be empty.
func (r *ring[T]) front() *T { return &r.buf[r.head] }

// pop removes and returns the oldest item; the ring must not be empty.
func (r *ring[T]) pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
	if len(r.buf) > ringMinShrink && r.n <= len(r.buf)/4 {
		r.resize(max(len(r.buf)/2, ringMinShrink))
	}
	return v
}

// ringMinShrink is the size under which a ring keeps its buffer.
const ringMinShrink = 64
