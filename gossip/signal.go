package gossip

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// Signalling through the overlay (docs/nat.md). Two nodes that may sit
// behind NATs find a path to each other with ICE (RFC 8445, package ice),
// which needs them to exchange a few signalling messages (credentials,
// candidates, a ready barrier) before any direct path exists. A node
// behind a NAT cannot be dialled, so it keeps a link to a reachable node,
// its rendezvous, and names it in its signed record
// (roster.Rendezvous); a Signal to it travels to the rendezvous, which
// relays it over that link:
//
//	A --Signal{From: A, To: B}--> R --the same Signal--> B
//
// and B answers the same way, through A's rendezvous, or directly when A
// can be dialled. R relays only what the sender signs for itself
// (From is the authenticated peer the Signal came from), only to a member
// whose signed record names R as its rendezvous, and only over its
// active link to it: it never dials on a peer's behalf, so it cannot be
// made to reach anyone but the members that chose it. Each relayed
// Signal is charged to the sender's BudgetSignal. B takes a Signal whose
// From is not the peer it came from only from its own rendezvous. The
// engine only routes: the signals' content is the driver's (an
// ice.Signal's encoding, at most MaxSignalBytes).

// Signal is one signalling message of a connection attempt through NATs,
// from From to To, relayed by To's rendezvous when To names one. Session
// tells the attempts of one pair of nodes apart; Data is opaque here.
type Signal struct {
	peer.Sealed
	From, To peer.ID
	Session  uint64
	Data     []byte
}

// TagSignal is Signal's extension tag in the wire codec.
const TagSignal byte = 72

// MaxSignalBytes bounds a Signal's data: an ice.Signal's encoding is at
// most about 520 bytes (a candidate of 512).
const MaxSignalBytes = 2048

// Validate refuses a Signal without both ends or a session, to its own
// sender, or with no data or more than MaxSignalBytes.
func (m *Signal) Validate() error {
	switch {
	case m.From == 0 || m.To == 0 || m.From == m.To:
		return fmt.Errorf("signal from %d to %d", m.From, m.To)
	case m.Session == 0:
		return errors.New("signal without a session")
	case len(m.Data) == 0 || len(m.Data) > MaxSignalBytes:
		return fmt.Errorf("signal of %d bytes (1 to %d)", len(m.Data), MaxSignalBytes)
	}
	return nil
}

// SignalDelivery is a Signal for this node, handed to the driver
// (Ready.Signals). From is the sender as the rendezvous that relayed it
// says, or the peer it came from; the data is the driver's to check.
type SignalDelivery struct {
	From    peer.ID
	Session uint64
	Data    []byte
}

// SignalRefusal says why a Signal was not relayed or taken
// (Counters.SignalsRefused).
type SignalRefusal uint8

// The reasons a Signal is refused.
const (
	// SignalNotRendezvous: relaying was asked of a node that the
	// receiver's record does not name as its rendezvous (or the receiver
	// is not a present member).
	SignalNotRendezvous SignalRefusal = iota
	// SignalNotLinked: the receiver names this node but is not its active
	// neighbour: there is no link to relay over.
	SignalNotLinked
	// SignalSpoofed: a Signal whose From is not the peer it came from,
	// other than from this node's own rendezvous.
	SignalSpoofed
	// SignalOverBudget: the sender had spent its BudgetSignal.
	SignalOverBudget
	// SignalNoMembers: a Signal to a node without the member list.
	SignalNoMembers

	signalRefusalCount = iota
)

// String returns a short lower-case name.
func (r SignalRefusal) String() string {
	switch r {
	case SignalNotRendezvous:
		return "not-rendezvous"
	case SignalNotLinked:
		return "not-linked"
	case SignalSpoofed:
		return "spoofed"
	case SignalOverBudget:
		return "over-budget"
	case SignalNoMembers:
		return "no-members"
	}
	return "SignalRefusal(" + strconv.Itoa(int(r)) + ")"
}

// Errors of SendSignal.
var (
	// ErrSignalSize: data empty or over MaxSignalBytes, or a zero session.
	ErrSignalSize = errors.New("gossip: signal of a bad size or without a session")
	// ErrUnknownMember: the destination is not a present member.
	ErrUnknownMember = errors.New("gossip: not a present member")
	// ErrNoRoute: the destination cannot be dialled and names no
	// rendezvous.
	ErrNoRoute = errors.New("gossip: member unreachable and without a rendezvous")
)

// SendSignal sends data to member to under session: through its
// rendezvous when its record names one (other than this node), directly
// otherwise; over the open link only when this node is its rendezvous.
// It needs the member list.
func (e *Engine) SendSignal(now time.Time, to peer.ID, session uint64, data []byte, out *Ready) error {
	if e.roster == nil {
		return ErrNoMembers
	}
	if session == 0 || len(data) == 0 || len(data) > MaxSignalBytes {
		return fmt.Errorf("%w: %d bytes", ErrSignalSize, len(data))
	}
	self := e.roster.Self()
	rec, ok := e.roster.Get(to)
	if !ok || to == self || !rec.State.Present() {
		return fmt.Errorf("%w: %d", ErrUnknownMember, to)
	}
	msg := &Signal{From: self, To: to, Session: session, Data: slices.Clone(data)}
	rv := rec.Rendezvous()
	switch {
	case rv.ID == self:
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: to}, Msg: msg})
	case rv.ID != 0:
		addr := rv.Addr
		if r, ok := e.roster.Get(rv.ID); ok && r.State.Present() {
			addr = r.Addr // its own word over another's
		}
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: rv.ID, Addr: addr}, Msg: msg})
	case rv.Unreachable:
		return fmt.Errorf("%w: %d", ErrNoRoute, to)
	default:
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: to, Addr: rec.Addr}, Msg: msg})
	}
	e.count().SignalsSent++
	return nil
}

// fromOwnRendezvous reports whether msg is a Signal relayed by this
// node's own rendezvous: not charged to the rendezvous's budget here,
// since the rendezvous charged each sender's to its own, and many
// senders' signals through one rendezvous must not get it evicted.
func (e *Engine) fromOwnRendezvous(from peer.ID, msg Message) bool {
	if _, ok := msg.(*Signal); !ok || e.roster == nil {
		return false
	}
	return e.roster.OwnRendezvous().ID == from
}

// onSignal takes a Signal for this node, or relays one as the receiver's
// rendezvous (see the rules above).
func (e *Engine) onSignal(from peer.ID, m *Signal, out *Ready) {
	self := e.roster.Self()
	if m.To == self {
		if m.From != from && e.roster.OwnRendezvous().ID != from {
			e.count().SignalsRefused[SignalSpoofed]++
			return
		}
		e.count().SignalsReceived++
		out.Signals = append(out.Signals, SignalDelivery{From: m.From, Session: m.Session, Data: m.Data})
		return
	}
	if m.From != from {
		e.count().SignalsRefused[SignalSpoofed]++
		return
	}
	rec, ok := e.roster.Get(m.To)
	if !ok || !rec.State.Present() || rec.Rendezvous().ID != self {
		e.count().SignalsRefused[SignalNotRendezvous]++
		return
	}
	if !e.hv.IsActive(m.To) {
		e.count().SignalsRefused[SignalNotLinked]++
		return
	}
	e.count().SignalsRelayed++
	out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: m.To}, Msg: m})
}

// chooseRendezvous keeps this node's rendezvous when it sits behind a NAT
// (MembersConfig.BehindNAT): the current one while it stays an active
// neighbour whose record does not say it cannot be dialled (a neighbour
// on the node's own LAN, chosen before its own check, later says so),
// else the active neighbour of smallest ID whose signed record says it
// can be dialled; none while there is no such neighbour. A
// change raises the incarnation and publishes the record. Called on every
// change of the active view, when records arrive by anti-entropy, and on
// the rejoin tick, which also asks a member that can be dialled for a
// link while there is none to choose (askRendezvous).
func (e *Engine) chooseRendezvous(now time.Time, out *Ready) {
	if !e.unreachable() || e.roster == nil || e.roster.Left() {
		return
	}
	cur := e.roster.OwnRendezvous()
	if cur.ID != 0 && e.hv.IsActive(cur.ID) {
		if r, ok := e.roster.Get(cur.ID); ok && !r.Rendezvous().Unreachable {
			return
		}
	}
	next := roster.Rendezvous{Unreachable: true}
	for _, p := range e.hv.Active() {
		r, ok := e.roster.Get(p.ID)
		if !ok || r.Proof == nil || r.State != roster.StateAlive || r.Rendezvous().Unreachable {
			continue
		}
		if next.ID == 0 || p.ID < next.ID {
			next.ID, next.Addr = p.ID, r.Addr
		}
	}
	if next == cur {
		return
	}
	if e.stepRoster(now, roster.Input{Kind: roster.InputSetRendezvous, Rendezvous: next}, out) == nil {
		e.count().RendezvousChanges++
	}
}

// askRendezvous asks, on the rejoin tick of a node behind a NAT that has
// no rendezvous, a member that can be dialled (signed, Alive, not said
// unreachable, not active), drawn at random, for a link: the next
// rendezvous once it comes up. So does a node whose reachability check
// has no answer yet and no neighbour to ask (reachAlone): the link
// brings one. A node with no such member waits for its contacts' records.
func (e *Engine) askRendezvous(now time.Time, out *Ready) {
	if e.roster == nil || e.roster.Left() || e.hv.ActiveLen() == 0 {
		return // an isolated node rejoins through its contacts first
	}
	if !(e.unreachable() && e.roster.OwnRendezvous().ID == 0) && !e.reachAlone() {
		return
	}
	var pick hyparview.Peer
	n := 0
	self := e.roster.Self()
	for r := range e.roster.All() {
		if r.ID == self || r.State != roster.StateAlive || r.Addr == "" || r.Proof == nil || r.Rendezvous().Unreachable || e.hv.IsActive(r.ID) {
			continue
		}
		n++
		if e.rng.IntN(n) == 0 {
			pick = hyparview.Peer{ID: r.ID, Addr: r.Addr}
		}
	}
	if n == 0 {
		return
	}
	e.count().RendezvousAsked++
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputContact, Contacts: []hyparview.Peer{pick}}, out)
}
