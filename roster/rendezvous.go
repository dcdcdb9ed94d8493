package roster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/plumview/plumview/peer"
)

// Rendezvous is what a member says about reaching it besides dialling its
// address: a node behind a NAT cannot be dialled, so it names a reachable
// node, its rendezvous, that keeps a link to it and relays to it the
// signals of a connection attempt through NATs (ICE, RFC 8445; package
// gossip, signal.go). docs/nat.md describes the whole path.
//
// A rendezvous is part of what the member signs (StatementBytes), so no
// other node can name itself a member's rendezvous. It travels in the
// record's proof (Proof.Rendezvous) rather than as a field of Record:
// records are encoded as msgpack arrays, where a new field costs a byte
// in every record even when empty, and the records of the simulator,
// which runs without signatures, stay byte for byte what they were. A
// record without a proof therefore names no rendezvous.
type Rendezvous struct {
	// ID names the rendezvous node; 0 names none.
	ID peer.ID
	// Addr is the rendezvous node's address, as its own record holds it,
	// for a node that does not hold that record. At most MaxAddrBytes.
	Addr string
	// Unreachable says that the member cannot be dialled at its address
	// (it is behind a NAT and keeps no port open). The zero value, the
	// default, says nothing against dialling it.
	Unreachable bool
}

// IsZero reports whether v says nothing: no rendezvous, reachable.
func (v Rendezvous) IsZero() bool { return v == Rendezvous{} }

// check reports why v, a rendezvous of member id, is malformed, or "".
func (v *Rendezvous) check(id peer.ID) string {
	switch {
	case len(v.Addr) > MaxAddrBytes:
		return "rendezvous addr too large"
	case v.ID == 0 && v.Addr != "":
		return "rendezvous addr without an id"
	case v.ID != 0 && v.ID == id:
		return "member is its own rendezvous"
	}
	return ""
}

// Rendezvous returns what r's member says about reaching it (the zero
// Rendezvous when it says nothing or r carries no proof).
func (r *Record) Rendezvous() Rendezvous {
	if r.Proof == nil || r.Proof.Rendezvous == nil {
		return Rendezvous{}
	}
	return *r.Proof.Rendezvous
}

// rendezvousDomain tags the statement of a record that names a
// rendezvous (StatementBytes): a statement of one form never passes for
// the other.
const rendezvousDomain = "plumview/record/v2\x00"

// appendRendezvousStatement appends the statement of r, whose proof
// names the rendezvous v: a second domain tag, the ID, the incarnation,
// the state stated, the address's and the metadata's lengths and bytes,
// then the rendezvous's ID, its address's length and address, and a byte
// for Unreachable.
func appendRendezvousStatement(b []byte, r *Record, stated State, v *Rendezvous) []byte {
	b = append(b, rendezvousDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.ID))
	b = binary.BigEndian.AppendUint64(b, r.Incarnation)
	b = append(b, byte(stated))
	b = binary.AppendUvarint(b, uint64(len(r.Addr)))
	b = append(b, r.Addr...)
	b = binary.AppendUvarint(b, uint64(len(r.Meta)))
	b = append(b, r.Meta...)
	b = binary.BigEndian.AppendUint64(b, uint64(v.ID))
	b = binary.AppendUvarint(b, uint64(len(v.Addr)))
	b = append(b, v.Addr...)
	if v.Unreachable {
		return append(b, 1)
	}
	return append(b, 0)
}

// ErrUnsigned: a rendezvous set on a roster without signatures
// (Config.Auth), where no record could carry it.
var ErrUnsigned = errors.New("roster: a rendezvous needs signatures (Config.Auth)")

// ErrBadRendezvous: a rendezvous that names this node, or one with an
// address but no ID or an address over MaxAddrBytes.
var ErrBadRendezvous = errors.New("roster: bad rendezvous")

// setRendezvous replaces what this node says about reaching it under a
// new incarnation and broadcasts the new record; the same rendezvous
// again changes nothing.
func (r *Roster) setRendezvous(v Rendezvous) error {
	if r.proofs == nil {
		return ErrUnsigned
	}
	if why := v.check(r.self); why != "" {
		return fmt.Errorf("%w: %s", ErrBadRendezvous, why)
	}
	if v == r.rendezvous {
		return nil
	}
	own, _ := r.members.get(r.self)
	if own.inc >= MaxIncarnation {
		return ErrIncarnationExhausted
	}
	own.inc++
	r.rendezvous = v
	r.storeOwn(own)
	r.broadcast(r.Record())
	return nil
}

// OwnRendezvous returns what this node says about reaching it.
func (r *Roster) OwnRendezvous() Rendezvous { return r.rendezvous }
