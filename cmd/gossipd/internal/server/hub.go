package server

import (
	"sync"
	"sync/atomic"

	"github.com/plumview/plumview/fanout"
	"github.com/plumview/plumview/membership"
)

// delivery is one message delivered by the node, numbered by the hub.
type delivery struct {
	seq uint64
	msg membership.Message
}

// hub numbers every delivery of the node with a per-node sequence number,
// retains the most recent ones in a bounded ring for resume_from, and
// hands them to the Subscribe streams through a fan-out (fanout/): each
// stream has its own buffer and its own miss count, and learns the exact
// count of what it missed, also at the end of a burst. The hub receives
// the deliveries from the node's OnMessage hook, which never drops, so a
// stream misses only what its own buffer could not hold.
type hub struct {
	mu     sync.Mutex // orders publish and subscribe: numbering, ring, registration
	seq    uint64     // last sequence number assigned
	ring   []*delivery
	head   int
	size   int
	closed bool

	out *fanout.Fanout[*delivery]
	// resumeLagged counts the deliveries reported missed to reconnecting
	// streams because they had left the ring.
	resumeLagged atomic.Uint64
}

func newHub(retain, buffer int) *hub {
	return &hub{ring: make([]*delivery, retain), out: fanout.New(buffer, func(d *delivery) string { return d.msg.Topic })}
}

// publish numbers m, retains it and offers it to the streams without
// waiting for any. It runs on the node's goroutine (Node.OnMessage).
func (h *hub) publish(m membership.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	d := &delivery{seq: h.seq, msg: m}
	if len(h.ring) > 0 {
		i := (h.head + h.size) % len(h.ring)
		if h.size == len(h.ring) {
			h.head = (h.head + 1) % len(h.ring)
		} else {
			h.size++
		}
		h.ring[i] = d
	}
	if m.Gap.Count > 0 {
		h.out.PublishAll(d) // a gap has no topic: every stream is told
		return
	}
	h.out.Publish(d)
}

// subscribe registers a stream and returns the retained deliveries on its
// topics after resumeFrom (none if resumeFrom is 0), and how many
// deliveries after resumeFrom are no longer retained. Registration and the
// snapshot are atomic: every later delivery goes to the subscriber, so
// nothing is missed or repeated.
func (h *hub) subscribe(topics []string, resumeFrom uint64) (sub *fanout.Subscriber[*delivery], replay []*delivery, gone uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub = h.out.Subscribe(topics...)
	if h.closed || resumeFrom == 0 || resumeFrom >= h.seq {
		return sub, nil, 0
	}
	wanted := map[string]bool{}
	for _, t := range topics {
		wanted[t] = true
	}
	oldest := h.seq + 1 // nothing retained
	for i := range h.size {
		d := h.ring[(h.head+i)%len(h.ring)]
		if i == 0 {
			oldest = d.seq
		}
		if d.seq > resumeFrom && (len(topics) == 0 || wanted[d.msg.Topic] || d.msg.Gap.Count > 0) {
			replay = append(replay, d)
		}
	}
	if oldest > resumeFrom+1 {
		gone = oldest - resumeFrom - 1
	}
	return sub, replay, gone
}

// close ends every stream's subscription.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.out.Close()
}

// stats returns the last sequence number, the oldest retained one (0 if
// none), the number of subscribers, the deliveries handed to them, and
// the sum of the lag notices reported to them (after a burst, or on
// resuming past the ring).
func (h *hub) stats() (last, oldest uint64, subs int, delivered, lagged uint64) {
	h.mu.Lock()
	last = h.seq
	if h.size > 0 {
		oldest = h.ring[h.head].seq
	}
	h.mu.Unlock()
	st := h.out.Stats()
	return last, oldest, st.Subscribers, st.Delivered, st.Lagged + h.resumeLagged.Load()
}
