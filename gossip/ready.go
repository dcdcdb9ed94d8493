package gossip

import (
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Ready is one batch of what the engine asks its driver to do, appended to
// by every input method. The driver owns it: it carries out the batch, in
// the order of the fields below, then calls Reset before the next input
// (or lets several inputs accumulate first). Messages and payloads in a
// batch are read-only and may be shared with the engine's caches.
type Ready struct {
	// Sends are the messages to send, in order. A driver dials Send.To.Addr
	// when no connection to the peer is open (an empty Addr means: only
	// over an open connection).
	Sends []Send
	// Closes are the peers whose connection the protocol no longer needs,
	// once the Sends before them are flushed: carry them out after Sends.
	Closes []peer.ID
	// Timers are the timers to set: hand each back to TimerFired after its
	// delay. Timers are never cancelled; one that fires late, twice or after
	// its purpose is gone does nothing.
	Timers []TimerSet
	// Deliveries are the broadcasts to hand to the application, each once.
	Deliveries []Delivery
	// Events are the member list's transitions (member list only).
	Events []MemberEvent
	// Neighbors are the changes of HyParView's active view: the peers the
	// node is now linked with, or no longer.
	Neighbors []NeighborChange
	// ResolveContacts asks the driver to resolve the contacts it joined
	// through afresh (seed names, keys learned by dialling) and hand them to
	// ContactsResolved; set by an isolated node's rejoin tick.
	ResolveContacts bool
	// Evictions are the peers evicted for going over a budget
	// (Config.Budgets), for the driver's log; their connections are in
	// Closes already.
	Evictions []Eviction
	// Gaps are the application broadcasts missed for good, one notice per
	// range of an origin (Config.Gaps).
	Gaps []Gap
	// Views are the answers to the overlay query in progress (AskViews),
	// one per member asked: its views, or that it did not answer.
	Views []ViewsAnswer
	// Signals are the signalling messages of connections through NATs
	// for this node (signal.go), for the driver to hand to the attempt
	// they belong to.
	Signals []SignalDelivery
	// DialBacks are the dials back neighbours asked for to learn whether
	// they can be dialled (reach.go): dial each with a fresh connection
	// and report the outcome to DialedBack.
	DialBacks []DialBack

	// hv is the membership core's output buffer, lent to each HyParView
	// step and taken back after it: held here rather than in each engine,
	// it costs a driver of many engines (the simulator) one buffer, warm
	// in cache, instead of one per engine, missed on every step.
	hv []hyparview.Output
}

// Send is a message to send.
type Send struct {
	To  hyparview.Peer
	Msg Message
}

// TimerSet is a timer to set. Timer.Kind says what it is for, for logs and
// for a driver that holds the periodic shuffle itself (the papers' cycle
// model).
type TimerSet struct {
	Timer Timer
	After time.Duration
}

// Delivery is a broadcast handed to the application, once per ID.
type Delivery struct {
	ID plumtree.MessageID
	// Topic is the application message's topic (member list only: the
	// engine then unwraps the Envelope; without the member list it is
	// empty and Payload is the broadcast payload).
	Topic string
	// Payload is read-only: the engine keeps it to answer GRAFTs.
	Payload []byte
	// Hops is 0 at the origin and the number of links the payload crossed
	// elsewhere (S2 §2.3, the hop count of the Last Delivery Hop).
	Hops uint32
	// From is the neighbour the payload came from (this node for its own
	// broadcast).
	From peer.ID
	// SentAt is the origin's clock when it broadcast the message
	// (Envelope.SentAt; member list only), zero when not known. Unsigned
	// and subject to the two clocks' skew: for latency figures only.
	SentAt time.Time
}

// MemberEvent is one transition of a member, as the application sees it.
type MemberEvent struct {
	Kind   roster.EventKind
	Member roster.Record
}

// NeighborChange reports that Peer entered (Up) or left HyParView's active
// view, and why it left.
type NeighborChange struct {
	Peer   hyparview.Peer
	Up     bool
	Reason hyparview.DownReason // when !Up
}

// Reset empties the batch, keeping its storage for the next input. The
// storage keeps references to the last items until they are overwritten:
// a few messages at most, not worth clearing on every input.
func (r *Ready) Reset() {
	r.Sends = r.Sends[:0]
	r.Closes = r.Closes[:0]
	r.Timers = r.Timers[:0]
	r.Deliveries = r.Deliveries[:0]
	r.Events = r.Events[:0]
	r.Neighbors = r.Neighbors[:0]
	r.ResolveContacts = false
	r.Evictions = r.Evictions[:0]
	r.Gaps = r.Gaps[:0]
	r.Views = r.Views[:0]
	r.Signals = r.Signals[:0]
	r.DialBacks = r.DialBacks[:0]
}

// Empty reports whether the batch asks for nothing.
func (r *Ready) Empty() bool {
	return len(r.Sends) == 0 && len(r.Closes) == 0 && len(r.Timers) == 0 && len(r.Deliveries) == 0 &&
		len(r.Events) == 0 && len(r.Neighbors) == 0 && !r.ResolveContacts && len(r.Evictions) == 0 &&
		len(r.Gaps) == 0 && len(r.Views) == 0 && len(r.Signals) == 0 && len(r.DialBacks) == 0
}

// Message is a message of the pure stack: a hyparview.Message, a
// plumtree.Message, a *Digest or a *Records (peer.Message, sealed).
type Message = peer.Message
