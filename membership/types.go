package membership

import (
	"encoding/binary"
	"strconv"

	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// MessageID names one broadcast: its origin's ID and a sequence number
// that the origin seeds from the wall clock at start, so a restarted node
// does not reuse IDs.
type MessageID [16]byte

// String returns the ID as "origin-sequence" in hexadecimal.
func (id MessageID) String() string { return plumtree.MessageID(id).String() }

// Origin returns the ID of the node that broadcast the message.
func (id MessageID) Origin() uint64 { return binary.BigEndian.Uint64(id[:8]) }

// Message is a broadcast delivered to a Subscription, or a notice that the
// subscription missed messages.
type Message struct {
	ID      MessageID
	Origin  uint64 // the ID of the node that broadcast it
	Topic   string
	Payload []byte // shared by every subscription: read-only
	Hops    uint32 // links crossed: 0 at the origin
	// Lagged, when non-zero, marks a notice instead of a message: this
	// many messages were dropped because the buffer was full. The other
	// fields are then empty.
	Lagged uint64
}

// State is where a member stands.
type State uint8

// The states of a member, in the order of precedence at equal incarnation.
const (
	StateAlive   State = State(roster.StateAlive)
	StateSuspect State = State(roster.StateSuspect)
	StateFailed  State = State(roster.StateFailed)
	StateLeft    State = State(roster.StateLeft)
)

// String returns "alive", "suspect", "failed" or "left".
func (s State) String() string { return roster.State(s).String() }

// Member is one entry of the member list.
type Member struct {
	ID          uint64
	Addr        string // what Join accepts: "<base64url key>@host:port"
	Meta        []byte
	Incarnation uint64
	State       State
}

func memberOf(r roster.Record) Member {
	return Member{ID: uint64(r.ID), Addr: r.Addr, Meta: r.Meta, Incarnation: r.Incarnation, State: State(r.State)}
}

// EventKind names a membership event.
type EventKind uint8

// The membership events. They concern other members, never this node.
const (
	EventJoin    EventKind = EventKind(roster.EventJoin)    // a member became present
	EventUpdate  EventKind = EventKind(roster.EventUpdate)  // its metadata or address changed, or it refuted a suspicion
	EventSuspect EventKind = EventKind(roster.EventSuspect) // a member is suspected of having failed
	EventFail    EventKind = EventKind(roster.EventFail)    // a member was declared failed
	EventLeave   EventKind = EventKind(roster.EventLeave)   // a member left gracefully
)

// String returns "join", "update", "suspect", "fail" or "leave".
func (k EventKind) String() string {
	if k == 0 {
		return "lagged"
	}
	return roster.EventKind(k).String()
}

// Event is a membership event delivered to a Watcher, or a notice that the
// watcher missed events.
type Event struct {
	Kind   EventKind
	Member Member
	// Lagged, when non-zero, marks a notice instead of an event: this many
	// events were dropped because the buffer was full.
	Lagged uint64
}

// String renders the event for logs.
func (e Event) String() string {
	if e.Lagged > 0 {
		return "lagged " + strconv.FormatUint(e.Lagged, 10)
	}
	return e.Kind.String() + " " + strconv.FormatUint(e.Member.ID, 16)
}

// Subscription receives the broadcasts of some topics (all if none were
// given). Its buffer is bounded (Config.SubscriberBuffer): when it is full
// the newest messages are dropped and a Message with Lagged set reports
// how many, before the next message that fits. The node never waits for a
// subscriber.
type Subscription struct {
	n      *Node
	topics map[string]bool // nil: every topic
	f      *feed[Message]
}

// C returns the channel of messages. It is closed after Close, or when the
// node stops.
func (s *Subscription) C() <-chan Message { return s.f.ch }

// Close ends the subscription; its channel is closed soon after.
// It is idempotent.
func (s *Subscription) Close() {
	s.f.markClosed()
	s.n.post(func() { s.n.dropSubscription(s) })
}

func (s *Subscription) wants(topic string) bool { return s.topics == nil || s.topics[topic] }

// Watcher receives membership events, with the same bounded buffer and lag
// policy as a Subscription.
type Watcher struct {
	n *Node
	f *feed[Event]
}

// C returns the channel of events. It is closed after Close, or when the
// node stops.
func (w *Watcher) C() <-chan Event { return w.f.ch }

// Close ends the watch; its channel is closed soon after. It is idempotent.
func (w *Watcher) Close() {
	w.f.markClosed()
	w.n.post(func() { w.n.dropWatcher(w) })
}
