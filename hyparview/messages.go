package hyparview

import (
	"strconv"

	"github.com/plumview/plumview/peer"
)

// MessageType names the kind of a Message. The wire codec uses it as the
// message tag, and Counters index their per-type arrays by it. The zero value
// is not a valid type.
type MessageType uint8

// The six message types of S1 §4 and Algorithm 1, plus NeighborReply, which
// answers NEIGHBOR and JOIN and closes the symmetry handshake (doc.go,
// deviation 1).
const (
	TypeJoin MessageType = iota + 1
	TypeForwardJoin
	TypeNeighbor
	TypeNeighborReply
	TypeDisconnect
	TypeShuffle
	TypeShuffleReply
)

// MessageTypeCount is one more than the largest MessageType, so arrays indexed
// by MessageType have this length.
const MessageTypeCount = int(TypeShuffleReply) + 1

// String returns the paper's name of the message type.
func (t MessageType) String() string {
	switch t {
	case TypeJoin:
		return "Join"
	case TypeForwardJoin:
		return "ForwardJoin"
	case TypeNeighbor:
		return "Neighbor"
	case TypeNeighborReply:
		return "NeighborReply"
	case TypeDisconnect:
		return "Disconnect"
	case TypeShuffle:
		return "Shuffle"
	case TypeShuffleReply:
		return "ShuffleReply"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Message is a protocol message: one of *Join, *ForwardJoin, *Neighbor,
// *NeighborReply, *Disconnect, *Shuffle or *ShuffleReply. The sender is not
// part of the message; it is the authenticated Input.From of the connection
// the message arrived on.
//
// Step never modifies a received message. Messages it emits may share slices
// with the messages it received, so neither side may modify them afterwards.
type Message interface {
	peer.Message
	Type() MessageType
}

// Priority is the urgency of a Neighbor request (S1 §4.3).
type Priority uint8

const (
	// PriorityLow asks for a free slot; the receiver may refuse.
	PriorityLow Priority = iota + 1
	// PriorityHigh is sent by a node with an empty active view, and for the
	// end of a join walk; the receiver always accepts.
	PriorityHigh
)

// String returns "low" or "high".
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityHigh:
		return "high"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// Join asks a contact node to take the sender into its active view (S1 §4.2).
// The contact answers with a NeighborReply carrying the same Nonce.
type Join struct {
	peer.Sealed
	Addr  string // the joiner's own address
	Nonce uint64 // the link nonce chosen by the joiner
}

// ForwardJoin carries a new node on a random walk through the active views
// (S1 §4.2). The walk ends when TTL reaches zero or at a node with at most one
// active neighbour.
type ForwardJoin struct {
	peer.Sealed
	NewNode Peer
	TTL     int
}

// Neighbor asks the receiver to add the sender to its active view (S1 §4.3).
// It is also how the end of a join walk reaches the new node.
type Neighbor struct {
	peer.Sealed
	Priority Priority
	Addr     string // the sender's own address
	Nonce    uint64 // the link nonce chosen by the sender
}

// NeighborReply answers a Neighbor or a Join with the request's Nonce.
type NeighborReply struct {
	peer.Sealed
	Accepted bool
	Addr     string // the replier's own address
	Nonce    uint64
}

// Disconnect tells the receiver that the sender removed it from its active
// view (S1 §4.3). Alive is false when the sender is leaving the overlay, so
// the receiver should not keep it in its passive view. Nonce names the link
// being torn down; a Disconnect for an older link is ignored.
type Disconnect struct {
	peer.Sealed
	Alive bool
	Nonce uint64
}

// Shuffle carries a sample of the origin's views on a random walk (S1 §4.4).
// Peers holds the origin itself, some active and some passive members.
type Shuffle struct {
	peer.Sealed
	Origin Peer
	TTL    int
	Peers  []Peer
}

// ShuffleReply answers a Shuffle with a sample of the acceptor's passive view
// (S1 §4.4). It is sent straight to the shuffle's origin.
type ShuffleReply struct {
	peer.Sealed
	Peers []Peer
}

// Type returns TypeJoin.
func (*Join) Type() MessageType { return TypeJoin }

// Type returns TypeForwardJoin.
func (*ForwardJoin) Type() MessageType { return TypeForwardJoin }

// Type returns TypeNeighbor.
func (*Neighbor) Type() MessageType { return TypeNeighbor }

// Type returns TypeNeighborReply.
func (*NeighborReply) Type() MessageType { return TypeNeighborReply }

// Type returns TypeDisconnect.
func (*Disconnect) Type() MessageType { return TypeDisconnect }

// Type returns TypeShuffle.
func (*Shuffle) Type() MessageType { return TypeShuffle }

// Type returns TypeShuffleReply.
func (*ShuffleReply) Type() MessageType { return TypeShuffleReply }
