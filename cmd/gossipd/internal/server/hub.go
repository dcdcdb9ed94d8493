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

// deliveryOverhead is what the ring counts for a delivery besides its
// payload and topic: the delivery, its pointer and the message's fixed
// fields, rounded up.
const deliveryOverhead = 128

// size is what retaining d costs, as the ring's byte bound counts it.
func (d *delivery) size() int { return deliveryOverhead + len(d.msg.Payload) + len(d.msg.Topic) }

// hub numbers every delivery of the node with a per-node sequence number,
// scoped by an epoch chosen when the agent starts, retains the most recent
// ones in a ring bounded in count and in bytes for resume_from, and
// hands them to the Subscribe streams through a fan-out (fanout/): each
// stream has its own buffer and its own miss count, and learns the exact
// count of what it missed, also at the end of a burst. The hub receives
// the deliveries from the node's OnMessage hook, which never drops, so a
// stream misses only what its own buffer could not hold.
type hub struct {
	epoch uint64     // scopes seq: a restarted agent has another one
	mu    sync.Mutex // orders publish and subscribe: numbering, ring, registration
	seq   uint64     // last sequence number assigned
	ring  []*delivery
	head  int
	size  int
	bytes int // the retained deliveries' sizes
	// maxBytes bounds bytes; the oldest deliveries are dropped first.
	maxBytes int
	closed   bool

	out *fanout.Fanout[*delivery]
	// resumeLagged counts the deliveries reported missed to reconnecting
	// streams because they had left the ring.
	resumeLagged atomic.Uint64
	// resumeRestarted counts the restart notices sent to streams that
	// resumed from a previous epoch.
	resumeRestarted atomic.Uint64
}

func newHub(epoch uint64, retain, retainBytes, buffer int) *hub {
	return &hub{
		epoch: epoch, ring: make([]*delivery, retain), maxBytes: retainBytes,
		out: fanout.New(buffer, func(d *delivery) string { return d.msg.Topic }),
	}
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
	h.retain(d)
	if m.Gap.Count > 0 {
		h.out.PublishAll(d) // a gap has no topic: every stream is told
		return
	}
	h.out.Publish(d)
}

// retain puts d in the ring, dropping the oldest deliveries until both
// bounds hold; a delivery larger than the byte bound by itself empties the
// ring and is not retained.
func (h *hub) retain(d *delivery) {
	if len(h.ring) == 0 {
		return
	}
	sz := d.size()
	for h.size > 0 && (h.size == len(h.ring) || h.bytes+sz > h.maxBytes) {
		h.bytes -= h.ring[h.head].size()
		h.ring[h.head] = nil
		h.head = (h.head + 1) % len(h.ring)
		h.size--
	}
	if sz > h.maxBytes {
		return
	}
	h.ring[(h.head+h.size)%len(h.ring)] = d
	h.size++
	h.bytes += sz
}

// subscribe registers a stream and returns the retained deliveries on its
// topics after resumeFrom (none if resumeFrom is 0), and how many
// deliveries after resumeFrom are no longer retained. Registration and the
// snapshot are atomic: every later delivery goes to the subscriber, so
// nothing is missed or repeated.
//
// resumeFrom is a sequence number of epoch resumeEpoch (0: the current
// one). If that is another epoch, or no epoch is given and resumeFrom is
// beyond the last number assigned (which only a previous epoch can have
// given), the agent restarted since: restarted is true, and the replay is
// every retained delivery of this epoch on the topics, since nobody knows
// what the stream missed.
func (h *hub) subscribe(topics []string, resumeFrom, resumeEpoch uint64) (sub *fanout.Subscriber[*delivery], replay []*delivery, gone uint64, restarted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub = h.out.Subscribe(topics...)
	if h.closed || resumeFrom == 0 {
		return sub, nil, 0, false
	}
	if (resumeEpoch != 0 && resumeEpoch != h.epoch) || (resumeEpoch == 0 && resumeFrom > h.seq) {
		restarted, resumeFrom = true, 0
	}
	if resumeFrom >= h.seq {
		return sub, nil, 0, restarted
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
	if oldest > resumeFrom+1 && !restarted {
		gone = oldest - resumeFrom - 1
	}
	return sub, replay, gone, restarted
}

// oldest returns the oldest retained sequence number, 0 if none; h.mu is
// held.
func (h *hub) oldest() uint64 {
	if h.size == 0 {
		return 0
	}
	return h.ring[h.head].seq
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
// resuming past the ring, not counting restart notices).
func (h *hub) stats() (last, oldest uint64, subs int, delivered, lagged uint64) {
	h.mu.Lock()
	last, oldest = h.seq, h.oldest()
	h.mu.Unlock()
	st := h.out.Stats()
	return last, oldest, st.Subscribers, st.Delivered, st.Lagged + h.resumeLagged.Load()
}
