package plumtree

import (
	"strconv"

	"github.com/plumview/plumview/peer"
)

// MessageType tells which of the four protocol messages a Message is.
type MessageType uint8

// The four message types of S2 §3.3 (Algorithms 1 and 2).
const (
	MessageGossip MessageType = iota + 1
	MessageIHave
	MessageGraft
	MessagePrune
)

// String returns the paper's name of the message type.
func (t MessageType) String() string {
	switch t {
	case MessageGossip:
		return "GOSSIP"
	case MessageIHave:
		return "IHAVE"
	case MessageGraft:
		return "GRAFT"
	case MessagePrune:
		return "PRUNE"
	default:
		return "MessageType(" + strconv.Itoa(int(t)) + ")"
	}
}

// Message is one protocol message: *Gossip, *IHave, *Graft or *Prune. The
// core never sees bytes; the wire package encodes these structs.
//
// Messages the core emits may be shared between several outputs (the same
// *Gossip goes to every eager peer) and may share their Payload with the
// core's cache: drivers must treat them as read-only.
type Message interface {
	peer.Message
	Type() MessageType
}

// Gossip carries a payload (S2 Algorithm 1, GOSSIP). Round is the number of
// hops the payload travelled before this one: 0 from the origin.
type Gossip struct {
	peer.Sealed
	ID      MessageID
	Round   uint32
	Payload []byte
}

// Announcement tells a lazy peer that a message exists and at which round the
// announcing node would have relayed it (S2 Algorithm 1, IHAVE).
type Announcement struct {
	ID    MessageID
	Round uint32
}

// IHave carries one or more announcements to a lazy peer. The paper sends one
// announcement per IHAVE in its simulations; it allows piggybacking several
// (S2 §3.4), which is what Config.LazyPushDelay and MaxIHaveEntries control.
type IHave struct {
	peer.Sealed
	Entries []Announcement
}

// Graft asks a peer to make its link to the sender eager again (S2
// Algorithm 2). With HasID it also asks for the payload of ID, which the peer
// answers with a Gossip of round Round. Without HasID it is the
// optimisation's GRAFT(null) (S2 Algorithm 4): the link changes, no payload
// is wanted.
type Graft struct {
	peer.Sealed
	ID    MessageID
	HasID bool
	Round uint32
}

// Prune asks a peer to make its link to the sender lazy (S2 Algorithm 1).
type Prune struct {
	peer.Sealed
}

// Type returns MessageGossip.
func (*Gossip) Type() MessageType { return MessageGossip }

// Type returns MessageIHave.
func (*IHave) Type() MessageType { return MessageIHave }

// Type returns MessageGraft.
func (*Graft) Type() MessageType { return MessageGraft }

// Type returns MessagePrune.
func (*Prune) Type() MessageType { return MessagePrune }

// thePrune is shared by every Prune the core sends: it carries nothing.
var thePrune = &Prune{}
