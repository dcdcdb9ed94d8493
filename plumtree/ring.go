package plumtree

// ring is a FIFO queue over a circular buffer that grows by doubling up to
// max items and never shrinks, so its memory is bounded by max.
type ring[T any] struct {
	buf  []T
	head int
	n    int
	max  int
}

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
	size := max(2*len(r.buf), 16)
	size = max(min(size, r.max), r.n+1)
	buf := make([]T, size)
	k := copy(buf, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(buf[k:r.n], r.buf)
	r.buf, r.head = buf, 0
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
	return v
}
