package gossip

import (
	"errors"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Message is a message of the pure stack: a hyparview.Message, a
// plumtree.Message, a *Digest or a *Records (peer.Message, sealed).
type Message = peer.Message

// Layer names the core a timer belongs to.
type Layer uint8

// The layers of an Engine.
const (
	LayerHyParView Layer = iota + 1
	LayerPlumtree
	LayerRoster
	// LayerMemberSync is the member list's periodic anti-entropy with a
	// random neighbour (MembersConfig.SyncInterval); the timer carries
	// nothing else.
	LayerMemberSync
)

// Timer is a timer of either core, tagged with its layer.
type Timer struct {
	Layer     Layer
	HyParView hyparview.Timer
	Plumtree  plumtree.Timer
	Roster    roster.Timer
}

// InputKind says which fields of an Input are set.
type InputKind uint8

// The inputs an Engine accepts.
const (
	// InputJoin starts the node and joins through Input.Contacts (none for
	// the first node of a cluster).
	InputJoin InputKind = iota + 1
	// InputLeave leaves the cluster gracefully.
	InputLeave
	// InputBroadcast disseminates Input.Payload to every node.
	InputBroadcast
	// InputReceive hands over Input.Msg received from Input.From.
	InputReceive
	// InputTimer reports that Input.Timer fired.
	InputTimer
	// InputConnectionFailed reports that the connection to Input.From failed
	// or could not be established.
	InputConnectionFailed
	// InputUpdateMeta replaces this node's metadata with Input.Meta (member
	// list only).
	InputUpdateMeta
	// InputRejoin is the driver's periodic partition-healing tick, with the
	// seed contacts freshly resolved in Input.Contacts (member list only;
	// see rejoin).
	InputRejoin
)

// Input is one event for Engine.Step.
type Input struct {
	Kind     InputKind
	From     peer.ID
	Msg      Message
	Timer    Timer
	Contacts []hyparview.Peer
	Payload  []byte
	// Topic names an application message's topic (InputBroadcast, member
	// list only).
	Topic string
	// Meta is the new metadata (InputUpdateMeta).
	Meta []byte
}

// OutputKind says which fields of an Output are set.
type OutputKind uint8

// The outputs an Engine produces.
const (
	// OutputSend asks the driver to send Output.Msg to Output.Peer, dialling
	// Peer.Addr if no connection is open (an empty Addr means: only over an
	// open connection).
	OutputSend OutputKind = iota + 1
	// OutputClose says the connection to Output.Peer is no longer needed once
	// the messages sent before it are flushed.
	OutputClose
	// OutputSetTimer asks the driver to fire Output.Timer after Output.After.
	OutputSetTimer
	// OutputDeliver hands Output.Delivery to the application.
	OutputDeliver
	// OutputNeighborUp reports that Output.Peer joined the active view.
	OutputNeighborUp
	// OutputNeighborDown reports that Output.Peer left the active view, for
	// Output.Reason.
	OutputNeighborDown
	// OutputEvent reports that the member Output.Record went through the
	// transition Output.Event (member list only).
	OutputEvent
)

// Output is one action an Engine asks its driver to carry out.
type Output struct {
	Kind     OutputKind
	Peer     hyparview.Peer
	Msg      Message
	Timer    Timer
	After    time.Duration
	Delivery plumtree.Delivery
	Reason   hyparview.DownReason
	// Topic is a delivered application message's topic (member list only:
	// Delivery.Payload is then the application's data).
	Topic  string
	Event  roster.EventKind
	Record roster.Record
}

// EngineCounters counts what the Engine itself drops; each core keeps its
// own counters.
type EngineCounters struct {
	// UnknownMessages counts received messages of neither core.
	UnknownMessages uint64
	// UnknownTimers counts timers with no valid layer.
	UnknownTimers uint64
	// MalformedPayloads counts delivered broadcasts that were not a valid
	// Envelope (member list only).
	MalformedPayloads uint64
	// MemberSyncs counts the periodic anti-entropy exchanges started
	// (member list only).
	MemberSyncs uint64
}

// ErrUnknownInput is returned for an Input whose Kind is not one of the
// declared kinds.
var ErrUnknownInput = errors.New("gossip: unknown input kind")
