package server

import (
	"sync"

	"github.com/plumview/plumview/membership"
)

// delivery is one message delivered by the node, numbered by the hub.
type delivery struct {
	seq uint64
	msg membership.Message
}

// item is what a subscriber's stream carries: a delivery, or a lag notice
// when lagged is non-zero.
type item struct {
	d      delivery
	lagged uint64
}

// hub numbers the node's deliveries with a per-node sequence number,
// retains the most recent ones in a bounded ring for resume_from, and fans
// them out to the subscribers without ever waiting for one: a full
// subscriber buffer drops the delivery and counts it, and a lag notice with
// the count precedes the next item that fits.
type hub struct {
	mu     sync.Mutex
	seq    uint64     // last sequence number assigned
	ring   []delivery // retained deliveries, oldest first from head
	head   int
	size   int
	subs   map[*subscriber]struct{}
	closed bool
	buffer int
	lagged uint64 // deliveries dropped across subscribers, a counter
}

// subscriber is one Subscribe stream.
type subscriber struct {
	topics map[string]bool // nil: every topic
	ch     chan item
	missed uint64 // dropped since the last notice; guarded by hub.mu
	done   chan struct{}
}

func newHub(retain, buffer int) *hub {
	return &hub{ring: make([]delivery, retain), subs: map[*subscriber]struct{}{}, buffer: buffer}
}

func (s *subscriber) wants(topic string) bool { return s.topics == nil || s.topics[topic] }

// publish numbers m, retains it and hands it to the subscribers. A notice
// from the node that it dropped k messages advances the sequence by k and
// is passed on to every subscriber as missed messages.
func (h *hub) publish(m membership.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.Lagged > 0 {
		h.seq += m.Lagged
		for s := range h.subs {
			s.missed += m.Lagged
		}
		return
	}
	h.seq++
	d := delivery{seq: h.seq, msg: m}
	if len(h.ring) > 0 {
		i := (h.head + h.size) % len(h.ring)
		if h.size == len(h.ring) {
			h.head = (h.head + 1) % len(h.ring)
		} else {
			h.size++
		}
		h.ring[i] = d
	}
	for s := range h.subs {
		if s.wants(m.Topic) {
			h.offer(s, item{d: d})
		}
	}
}

// offer hands it to s without waiting, preceded by a lag notice if s
// missed items. h.mu is held.
func (h *hub) offer(s *subscriber, it item) {
	if s.missed > 0 {
		select {
		case s.ch <- item{lagged: s.missed}:
			s.missed = 0
		default:
			s.missed++
			h.lagged++
			return
		}
	}
	select {
	case s.ch <- it:
	default:
		s.missed++
		h.lagged++
	}
}

// subscribe registers a subscriber and returns the retained deliveries on
// its topics after resumeFrom (none if resumeFrom is 0), and how many
// deliveries after resumeFrom are no longer retained. Registration and the
// snapshot are atomic: every later delivery goes to the subscriber's
// channel, so nothing is missed or repeated.
func (h *hub) subscribe(topics []string, resumeFrom uint64) (s *subscriber, replay []delivery, gone uint64) {
	s = &subscriber{ch: make(chan item, h.buffer), done: make(chan struct{})}
	if len(topics) > 0 {
		s.topics = map[string]bool{}
		for _, t := range topics {
			s.topics[t] = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.done)
		return s, nil, 0
	}
	h.subs[s] = struct{}{}
	if resumeFrom == 0 || resumeFrom >= h.seq {
		return s, nil, 0
	}
	oldest := h.seq + 1 // nothing retained
	for i := range h.size {
		d := h.ring[(h.head+i)%len(h.ring)]
		if i == 0 {
			oldest = d.seq
		}
		if d.seq > resumeFrom && s.wants(d.msg.Topic) {
			replay = append(replay, d)
		}
	}
	if oldest > resumeFrom+1 {
		gone = oldest - resumeFrom - 1
	}
	return s, replay, gone
}

// unsubscribe removes s.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.done)
	}
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.done)
	}
}

// stats returns the last sequence number, the oldest retained one (0 if
// none), the number of subscribers and the deliveries dropped for slow
// subscribers.
func (h *hub) stats() (last, oldest uint64, subs int, lagged uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.size > 0 {
		oldest = h.ring[h.head].seq
	}
	return h.seq, oldest, len(h.subs), h.lagged
}
