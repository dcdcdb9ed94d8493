package membership

import (
	"context"
	"encoding/binary"
	"strconv"

	"github.com/plumview/plumview/roster"
)

// MessageID names one broadcast: its origin's ID and a sequence number
// that the origin seeds from the wall clock at start, so a restarted node
// does not reuse IDs.
type MessageID [16]byte

// String returns the ID as "origin-sequence" in hexadecimal, the origin
// in sixteen digits as node IDs are shown everywhere (logs, gossipd's CLI
// and /debug/), so that an ID's origin reads as its member's ID.
func (id MessageID) String() string {
	return hexID(id.Origin()) + "-" + strconv.FormatUint(id.Sequence(), 16)
}

// Origin returns the ID of the node that broadcast the message.
func (id MessageID) Origin() uint64 { return binary.BigEndian.Uint64(id[:8]) }

// Sequence returns the origin's sequence number of the message.
func (id MessageID) Sequence() uint64 { return binary.BigEndian.Uint64(id[8:]) }

// Message is a broadcast delivered to a Subscription, or a notice that the
// subscription missed messages.
type Message struct {
	ID      MessageID
	Origin  uint64 // the ID of the node that broadcast it: verified by its signature unless Config.TrustMembers
	Topic   string
	Payload []byte // shared by every subscription: read-only
	Hops    uint32 // links crossed: 0 at the origin
	// Lagged, when non-zero, marks a notice instead of a message: this
	// many messages were dropped here because the subscription's buffer
	// was full. The other fields are then empty.
	Lagged uint64
	// Gap, when its Count is non-zero, marks a gap notice instead of a
	// message: broadcasts this node missed for good (see Gap). The other
	// fields are then empty.
	Gap Gap
}

// Gap is a notice that this node never delivered Count broadcasts of the
// member Origin, its sequences First to Last (the second half of their
// MessageIDs), and that they can no longer be repaired: they were missed
// for longer than the protocol retains payloads (a long partition, say;
// gossip.GapsConfig). A gap has no topic, since the missed messages are
// unknown: every Subscription receives it, whatever topics it chose, as do
// the OnMessage functions. A broadcast of a gap that arrives after all is
// delivered as usual. Only broadcasts are followed whose origin this node
// had heard from before: what an origin broadcast before the first of its
// messages delivered here, and the last broadcasts of an origin that
// broadcasts nothing more, are not reported.
type Gap struct {
	Origin      uint64
	First, Last uint64
	Count       uint64
}

// String renders the gap for logs: "origin first-last (count)" in
// hexadecimal, the origin in sixteen digits as every node ID in logs.
func (g Gap) String() string {
	return hexID(g.Origin) + " " + strconv.FormatUint(g.First, 16) + "-" + strconv.FormatUint(g.Last, 16) +
		" (" + strconv.FormatUint(g.Count, 10) + ")"
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
	// Rendezvous is the member through which signals to this one are
	// relayed (Config.BehindNAT), 0 for none; Unreachable says that it
	// cannot be dialled (ConnectICE reaches it).
	Rendezvous  uint64
	Unreachable bool
}

func memberOf(r roster.Record) Member {
	rv := r.Rendezvous()
	return Member{ID: uint64(r.ID), Addr: r.Addr, Meta: r.Meta, Incarnation: r.Incarnation, State: State(r.State),
		Rendezvous: uint64(rv.ID), Unreachable: rv.Unreachable}
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
	return e.Kind.String() + " " + hexID(e.Member.ID)
}

// Subscription receives the broadcasts of some topics (all if none were
// given). Its buffer is bounded (Config.SubscriberBuffer): when it is full
// the newest messages are dropped for this subscription alone and counted,
// and a Message with Lagged set reports exactly how many, in their place:
// before the next message that fitted, or, when none came, as soon as the
// buffered messages have been read. The node never waits for a subscriber.
// Read it with Next or through C, not both: once C has been called, the
// goroutine feeding C takes the messages. Its methods are safe for
// concurrent use.
type Subscription struct{ s *stream[Message] }

// C returns the channel of messages and lag notices. The channel is
// unbuffered (messages wait in the subscription's buffer): the first call
// starts a goroutine that feeds it until Close, or until the node stops
// and every buffered message has been read; the channel is then closed.
// Call Close when you stop reading.
func (s *Subscription) C() <-chan Message { return s.s.channel() }

// Next returns the next message or lag notice, waiting until there is one
// or ctx ends. A message already waiting is returned even when ctx is done,
// so Next with a done context does not block. Once the subscription is
// closed, or the node stopped and every buffered message was read, it
// returns ErrClosed.
func (s *Subscription) Next(ctx context.Context) (Message, error) { return s.s.next(ctx) }

// Close ends the subscription and drops what it holds; C's channel is
// closed soon after. It is idempotent.
func (s *Subscription) Close() { s.s.close() }

// Watcher receives membership events, with the same bounded buffer and lag
// policy as a Subscription.
type Watcher struct{ s *stream[Event] }

// C returns the channel of events and lag notices, fed as a Subscription's
// is (see Subscription.C).
func (w *Watcher) C() <-chan Event { return w.s.channel() }

// Next returns the next event or lag notice, as Subscription.Next does.
func (w *Watcher) Next(ctx context.Context) (Event, error) { return w.s.next(ctx) }

// Close ends the watch and drops what it holds; C's channel is closed soon
// after. It is idempotent.
func (w *Watcher) Close() { w.s.close() }
