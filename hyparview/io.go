package hyparview

import (
	"strconv"
	"time"

	"github.com/plumview/plumview/peer"
)

// Peer is a node's identity together with what a real node needs to dial it.
// Addr is opaque to this package and may be empty in simulation.
type Peer struct {
	ID   peer.ID
	Addr string
}

// InputKind names the kind of an Input. The zero value is not valid.
type InputKind uint8

const (
	// InputJoin starts the node. Contacts are tried in order; with no
	// contacts the node is the first of a cluster. The contacts are kept
	// for re-joining when the node finds itself isolated; a later
	// InputJoin replaces them.
	InputJoin InputKind = iota + 1
	// InputLeave leaves the overlay gracefully. Later inputs are ignored.
	InputLeave
	// InputReceive delivers Msg from the authenticated peer From.
	InputReceive
	// InputTimer reports that Timer fired.
	InputTimer
	// InputConnectionFailed reports that the connection to From failed or
	// could not be established.
	InputConnectionFailed
	// InputContact asks Contacts[0] with high priority to become a
	// neighbour, unless it is this node, already active or being asked.
	// Our addition for partition healing: the composition (package
	// gossip), whose member list shows nodes it has no path to (their
	// records say they failed), tries one of them now and then, as serf's
	// reconnect does, instead of waiting for a random refresh.
	InputContact
	// InputConnectionClosed reports that From closed its connection to
	// this node deliberately, with a reason: it is alive, so this is not
	// a failure. An active link over the connection is gone as if From
	// had sent Disconnect (alive): From moves to the passive view and the
	// node repairs. A request pending to From is given up. Our addition
	// (doc.go, deviation 13).
	InputConnectionClosed
)

// String returns a short lower-case name.
func (k InputKind) String() string {
	switch k {
	case InputJoin:
		return "join"
	case InputLeave:
		return "leave"
	case InputReceive:
		return "receive"
	case InputTimer:
		return "timer"
	case InputConnectionFailed:
		return "connection-failed"
	case InputContact:
		return "contact"
	case InputConnectionClosed:
		return "connection-closed"
	}
	return "InputKind(" + strconv.Itoa(int(k)) + ")"
}

// Input is one event handed to Step. Which fields matter depends on Kind.
type Input struct {
	Kind     InputKind
	From     peer.ID // InputReceive: the sender; InputConnectionFailed, InputConnectionClosed: the peer
	Msg      Message // InputReceive
	Timer    Timer   // InputTimer
	Contacts []Peer  // InputJoin: seed contacts, tried in order; InputContact: the peer to ask
}

// OutputKind names the kind of an Output. The zero value is not valid.
type OutputKind uint8

const (
	// OutputSend asks the driver to send Msg to Peer, dialling Peer.Addr if
	// no connection exists.
	OutputSend OutputKind = iota + 1
	// OutputClose tells the driver the core no longer needs its connection
	// to Peer. It always follows any send to Peer in the same batch.
	OutputClose
	// OutputNeighborUp reports that Peer entered the active view.
	OutputNeighborUp
	// OutputNeighborDown reports that Peer left the active view, for Reason.
	OutputNeighborDown
	// OutputSetTimer asks the driver to hand Timer back after After.
	OutputSetTimer
)

// String returns a short lower-case name.
func (k OutputKind) String() string {
	switch k {
	case OutputSend:
		return "send"
	case OutputClose:
		return "close"
	case OutputNeighborUp:
		return "neighbor-up"
	case OutputNeighborDown:
		return "neighbor-down"
	case OutputSetTimer:
		return "set-timer"
	}
	return "OutputKind(" + strconv.Itoa(int(k)) + ")"
}

// Output is one action Step asks the driver to take. Which fields matter
// depends on Kind.
type Output struct {
	Kind   OutputKind
	Peer   Peer          // Send: destination; Close, NeighborUp, NeighborDown: the peer
	Msg    Message       // Send
	Timer  Timer         // SetTimer
	After  time.Duration // SetTimer: fire after this long
	Reason DownReason    // NeighborDown
}

// DownReason says why a peer left the active view. The zero value is not
// valid.
type DownReason uint8

const (
	// DownFailed: the connection failed or a request timed out.
	DownFailed DownReason = iota + 1
	// DownDisconnected: the peer sent a Disconnect and is still alive.
	DownDisconnected
	// DownLeft: the peer left the overlay, or this node did.
	DownLeft
	// DownDropped: this node dropped the peer to make room for another.
	DownDropped
)

// String returns a short lower-case name.
func (r DownReason) String() string {
	switch r {
	case DownFailed:
		return "failed"
	case DownDisconnected:
		return "disconnected"
	case DownLeft:
		return "left"
	case DownDropped:
		return "dropped"
	}
	return "DownReason(" + strconv.Itoa(int(r)) + ")"
}

// TimerKind names the purpose of a Timer. The zero value is not valid.
type TimerKind uint8

const (
	// TimerShuffle starts the periodic shuffle (S1 §4.4).
	TimerShuffle TimerKind = iota + 1
	// TimerNeighborRequest bounds the wait for a NeighborReply.
	TimerNeighborRequest
	// TimerJoin bounds the wait for a contact's answer to Join.
	TimerJoin
)

// String returns a short lower-case name.
func (k TimerKind) String() string {
	switch k {
	case TimerShuffle:
		return "shuffle"
	case TimerNeighborRequest:
		return "neighbor-request"
	case TimerJoin:
		return "join"
	}
	return "TimerKind(" + strconv.Itoa(int(k)) + ")"
}

// Timer identifies a timer set by an OutputSetTimer. Timers are never
// cancelled: one that fires late, twice, or after its purpose is gone is
// ignored.
type Timer struct {
	Kind  TimerKind
	Peer  peer.ID
	Nonce uint64
}
