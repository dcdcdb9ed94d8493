package roster

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/plumview/plumview/peer"
)

// MaxIncarnation is the largest valid incarnation. Incarnations fit in an
// int64 so that the runtime can seed them from Unix nanoseconds; a received
// record above it is malformed. Keeping the top half free guarantees that a
// node can always refute by taking an incarnation above any valid one.
const MaxIncarnation = math.MaxInt64

// MaxAddrBytes bounds Record.Addr in received records, so a peer cannot make
// every node store an address of unbounded size. Addresses with a handful
// of dial candidates fit comfortably; the figure is a guess to validate.
const MaxAddrBytes = 1024

// State is where a member stands. The zero value is not valid. The numeric
// order is the precedence at equal incarnation: Left > Failed > Suspect >
// Alive.
type State uint8

// The states of a member.
const (
	// StateAlive: the member is up, as far as anyone knows.
	StateAlive State = iota + 1
	// StateSuspect: a node lost its connection to the member and suspects
	// it; the member refutes by announcing a higher incarnation.
	StateSuspect
	// StateFailed: a suspicion was not refuted in time. Kept as a tombstone.
	StateFailed
	// StateLeft: the member left gracefully. Kept as a tombstone.
	StateLeft
)

// stateCount bounds the State values, for arrays indexed by State.
const stateCount = int(StateLeft) + 1

// Valid reports whether s is one of the declared states.
func (s State) Valid() bool { return s >= StateAlive && s <= StateLeft }

// Present reports whether a member in state s belongs to the cluster as the
// application sees it: Alive or Suspect.
func (s State) Present() bool { return s == StateAlive || s == StateSuspect }

// String returns a short lower-case name.
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateFailed:
		return "failed"
	case StateLeft:
		return "left"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Record is what the cluster knows about one member. Records are the unit of
// dissemination: the runtime broadcasts them through Plumtree and exchanges
// them in anti-entropy.
type Record struct {
	// ID names the member. 0 is reserved and never valid.
	ID peer.ID
	// Addr is what a node needs to dial the member, opaque here (what
	// hyparview.Peer.Addr carries).
	Addr string
	// Meta is the member's application metadata, at most
	// Config.MaxMetaBytes. Records handed out by the Roster own their Meta.
	Meta []byte
	// Incarnation orders the member's announcements; only the member raises
	// it (to change Meta, or to refute a suspicion).
	Incarnation uint64
	// State is where the member stands at this incarnation.
	State State
	// Proof carries the signatures that make the record believable when
	// signatures are on (Config.Auth); nil when they are off. It is not
	// compared (Compare): honest nodes never hold two records equal in
	// everything else with different proofs but for a suspicion declared
	// by two nodes at once, where either declaration will do. Records
	// handed out by the Roster share their Proof with it: do not modify
	// it.
	Proof *Proof
}

// String renders the record compactly, as "7:alive@3" with " addr=" and
// " meta=" when set.
func (r Record) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%s@%d", r.ID, r.State, r.Incarnation)
	if r.Addr != "" {
		fmt.Fprintf(&b, " addr=%s", r.Addr)
	}
	if len(r.Meta) > 0 {
		fmt.Fprintf(&b, " meta=%q", r.Meta)
	}
	return b.String()
}

// Compare orders two records about the same member by precedence: the
// result is positive when a supersedes b, negative when b supersedes a, and
// 0 when they are identical. A higher incarnation wins; at equal
// incarnation the higher State wins (Left > Failed > Suspect > Alive); the
// remaining ties, which honest members never produce, are broken by Addr
// and then Meta, bytewise, so that the order is total and merging is a
// maximum: commutative, associative and idempotent. IDs are not compared.
func Compare(a, b Record) int {
	if c := compareHead(a.Incarnation, a.State, a.Addr, b.Incarnation, b.State, b.Addr); c != 0 {
		return c
	}
	return bytes.Compare(a.Meta, b.Meta)
}

// compareHead orders by incarnation, state and address.
func compareHead(ai uint64, as State, aa string, bi uint64, bs State, ba string) int {
	if c := cmp.Compare(ai, bi); c != 0 {
		return c
	}
	if c := cmp.Compare(as, bs); c != 0 {
		return c
	}
	return strings.Compare(aa, ba)
}

// entry is a record as the roster works on it: its body (table.go), which
// the table stores interned, and this node's since. The address and the
// metadata share one immutable string, the address first: without
// metadata it is the received record's Addr itself, shared with nothing
// written.
type entry struct {
	am      string // addr, then meta
	inc     uint64
	since   int64  // Unix nanoseconds when the entry took its current state
	addrLen uint16 // len(addr); MaxAddrBytes fits
	state   State
}

// addr returns the member's address.
func (e *entry) addr() string { return e.am[:e.addrLen] }

// meta returns the member's metadata.
func (e *entry) meta() string { return e.am[e.addrLen:] }

// setAddrMeta stores addr and meta, allocating only when meta is not
// empty. addr is at most MaxAddrBytes long.
func (e *entry) setAddrMeta(addr, meta string) {
	e.addrLen = uint16(len(addr))
	if meta == "" {
		e.am = addr
		return
	}
	e.am = addr + meta
}

func (e *entry) record(id peer.ID) Record {
	r := Record{ID: id, Addr: e.addr(), Incarnation: e.inc, State: e.state}
	if meta := e.meta(); meta != "" {
		r.Meta = []byte(meta)
	}
	return r
}

// compareRecord orders a received record against a stored entry: positive
// when r supersedes e.
func (e *entry) compareRecord(r *Record) int {
	if c := compareHead(r.Incarnation, r.State, r.Addr, e.inc, e.state, e.addr()); c != 0 {
		return c
	}
	// Comparison operators on string(bytes) do not copy.
	switch meta := e.meta(); {
	case string(r.Meta) == meta:
		return 0
	case string(r.Meta) < meta:
		return -1
	}
	return 1
}

// check reports why a received record is malformed, or "" if it is not.
func check(r *Record, maxMeta int) string {
	switch {
	case r.ID == 0:
		return "reserved id 0"
	case !r.State.Valid():
		return "unknown state"
	case r.Incarnation > MaxIncarnation:
		return "incarnation out of range"
	case len(r.Meta) > maxMeta:
		return "meta too large"
	case len(r.Addr) > MaxAddrBytes:
		return "addr too large"
	case r.Proof != nil && r.Proof.Rendezvous != nil && r.Proof.Rendezvous.ID == r.ID:
		return "member is its own rendezvous"
	}
	return checkProof(r.Proof)
}
