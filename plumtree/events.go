package plumtree

import (
	"strconv"
	"time"

	"github.com/plumview/plumview/peer"
)

// InputKind tells what happened to the node.
type InputKind uint8

// The inputs Step accepts.
const (
	// InputBroadcast asks the node to broadcast Input.Payload.
	InputBroadcast InputKind = iota + 1
	// InputReceive hands the node Input.Msg, received from Input.Peer.
	InputReceive
	// InputTimer tells the node that Input.Timer, asked for by an
	// OutputSetTimer, has fired.
	InputTimer
	// InputNeighborUp tells the node that Input.Peer became a neighbour
	// (S2 Algorithm 3, NeighborUp).
	InputNeighborUp
	// InputNeighborDown tells the node that Input.Peer is no longer a
	// neighbour (S2 Algorithm 3, NeighborDown).
	InputNeighborDown
	// InputHoldPayloads tells the node that a repair may be needed soon
	// (a neighbour failed, a member is suspected): the payloads it holds,
	// and those it delivers in the next PayloadRetention, are held for
	// the whole PayloadRetention instead of CalmPayloadRetention (doc.go,
	// deviation 16). Without a CalmPayloadRetention it changes nothing.
	InputHoldPayloads
)

// String returns the kind's name.
func (k InputKind) String() string {
	switch k {
	case InputBroadcast:
		return "broadcast"
	case InputReceive:
		return "receive"
	case InputTimer:
		return "timer"
	case InputNeighborUp:
		return "neighbor-up"
	case InputNeighborDown:
		return "neighbor-down"
	case InputHoldPayloads:
		return "hold-payloads"
	default:
		return "InputKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Input is one event for Step. Which fields matter depends on Kind.
type Input struct {
	Kind InputKind
	// Peer is the authenticated sender of Msg (InputReceive) or the
	// neighbour that came up or went down.
	Peer peer.ID
	// Msg is the received message (InputReceive). The core keeps a received
	// Gossip's Payload slice: the driver must not modify it afterwards.
	Msg Message
	// Timer is the timer that fired (InputTimer).
	Timer Timer
	// Payload is what to broadcast (InputBroadcast). The core keeps the
	// slice: the caller must not modify it afterwards.
	Payload []byte
}

// OutputKind tells what the driver must do.
type OutputKind uint8

// The outputs Step appends.
const (
	// OutputSend asks the driver to send Output.Msg to Output.Peer.
	OutputSend OutputKind = iota + 1
	// OutputDeliver hands Output.Delivery to the application.
	OutputDeliver
	// OutputSetTimer asks the driver to call Step with Output.Timer once
	// Output.After has elapsed.
	OutputSetTimer
)

// String returns the kind's name.
func (k OutputKind) String() string {
	switch k {
	case OutputSend:
		return "send"
	case OutputDeliver:
		return "deliver"
	case OutputSetTimer:
		return "set-timer"
	default:
		return "OutputKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Output is one action for the driver. Which fields matter depends on Kind.
type Output struct {
	Kind OutputKind
	// Peer is the destination of Msg (OutputSend) or the neighbour a
	// delivered message came from (OutputDeliver; the node itself for a
	// local broadcast).
	Peer peer.ID
	// Msg is the message to send (OutputSend). It is read-only and may be
	// shared with other outputs.
	Msg Message
	// Delivery is the delivered message (OutputDeliver).
	Delivery Delivery
	// Timer and After describe a timer to set (OutputSetTimer).
	Timer Timer
	After time.Duration
}

// Delivery is a message handed to the application, exactly once per ID
// within SeenRetention.
type Delivery struct {
	ID MessageID
	// Payload is read-only: the core keeps it to answer GRAFTs.
	Payload []byte
	// Hops is 0 at the origin and round+1 at a receiver, the paper's hop
	// count (S2 §2.3, LDH; the origin sends round 0, and S2 counts the
	// first send as hop 1): the number of links the payload crossed on the
	// path that delivered it.
	Hops uint32
	// From is the neighbour the payload came from (the node itself for a
	// local broadcast).
	From peer.ID
}

// TimerKind tells which timer fired.
type TimerKind uint8

const (
	// TimerGraft is the paper's Timer(mID) (S2 Algorithm 2): Timer.ID names
	// the missing message.
	TimerGraft TimerKind = iota + 1
	// TimerDispatch ends an IHAVE batching window (Config.LazyPushDelay).
	TimerDispatch
)

// String returns the kind's name.
func (k TimerKind) String() string {
	switch k {
	case TimerGraft:
		return "graft"
	case TimerDispatch:
		return "dispatch"
	default:
		return "TimerKind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Timer names a timer. Timers are never cancelled: when one that is no
// longer wanted fires (late, twice, or after its message arrived), Step does
// nothing.
type Timer struct {
	Kind TimerKind
	ID   MessageID
}
