package roster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/plumview/plumview/peer"
)

// Proof is what makes a record believable when signatures are on
// (Config.Auth): the member's own signature of what it said about itself,
// and for a suspicion or failure, the signature of the node that declared
// it. See doc.go, "Signatures".
type Proof struct {
	// Key is the member's public key; the member's ID derives from it.
	Key []byte
	// Sig is the member's signature of StatementBytes: its Alive record at
	// this incarnation (address and metadata included), or its Left record.
	Sig []byte
	// Declarer is the node that suspected the member at this incarnation,
	// on a Suspect or Failed record; 0 on Alive and Left records.
	Declarer peer.ID
	// DeclarerKey is the declarer's public key.
	DeclarerKey []byte
	// DeclarerSig is the declarer's signature of DeclarationBytes.
	DeclarerSig []byte
	// Rendezvous, when set, is part of the member's statement: how to
	// reach it besides dialling its address (rendezvous.go). Last, so
	// that a decoder that predates it skips it; nil in a proof of a
	// record that names none.
	Rendezvous *Rendezvous
}

// Bounds of a proof's keys and signatures: an ed25519 key is 32 bytes and
// its signature 64; a little room for other schemes. A received proof over
// them is malformed.
const (
	MaxKeyBytes = 64
	MaxSigBytes = 128
)

// Domain tags separate the two kinds of signature from each other and from
// any other use of a node's key.
const (
	statementDomain   = "plumview/record/v1\x00"
	declarationDomain = "plumview/suspect/v1\x00"
)

// StatementBytes returns the bytes a member signs about itself for a
// record: a domain tag, the ID, the incarnation, the state the member
// stated (Left for a Left record, Alive for every other: a Suspect or
// Failed record carries the member's Alive statement at that incarnation,
// the proof that the incarnation is the member's), the address's length
// and the address, then the metadata. A record whose proof names a
// rendezvous (Proof.Rendezvous, not zero) has a statement of a second
// form, under a second domain tag, that covers it too
// (appendRendezvousStatement).
func StatementBytes(r *Record) []byte {
	stated := StateAlive
	if r.State == StateLeft {
		stated = StateLeft
	}
	if r.Proof != nil && r.Proof.Rendezvous != nil && !r.Proof.Rendezvous.IsZero() {
		v := r.Proof.Rendezvous
		b := make([]byte, 0, len(rendezvousDomain)+8+8+1+2*binary.MaxVarintLen64+len(r.Addr)+len(r.Meta)+8+binary.MaxVarintLen64+len(v.Addr)+1)
		return appendRendezvousStatement(b, r, stated, v)
	}
	b := make([]byte, 0, len(statementDomain)+8+8+1+binary.MaxVarintLen64+len(r.Addr)+len(r.Meta))
	b = append(b, statementDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.ID))
	b = binary.BigEndian.AppendUint64(b, r.Incarnation)
	b = append(b, byte(stated))
	b = binary.AppendUvarint(b, uint64(len(r.Addr)))
	b = append(b, r.Addr...)
	return append(b, r.Meta...)
}

// DeclarationBytes returns the bytes a node signs to suspect member
// subject at incarnation: a domain tag, the subject, the incarnation and
// the declarer. A Failed record carries the suspicion it ended: failure is
// a suspicion left unrefuted for SuspicionTimeout, which every node that
// holds the suspicion times itself.
func DeclarationBytes(subject peer.ID, incarnation uint64, declarer peer.ID) []byte {
	b := make([]byte, 0, len(declarationDomain)+24)
	b = append(b, declarationDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(subject))
	b = binary.BigEndian.AppendUint64(b, incarnation)
	return binary.BigEndian.AppendUint64(b, uint64(declarer))
}

// Errors of VerifyRecord: why a record's proof does not hold.
var (
	// ErrNoProof: signatures are on and the record carries no proof.
	ErrNoProof = errors.New("roster: record without proof")
	// ErrBadStatement: the member's signature does not verify.
	ErrBadStatement = errors.New("roster: record not signed by its member")
	// ErrBadDeclaration: a Suspect or Failed record whose declarer's
	// signature does not verify, or an Alive or Left record that names a
	// declarer.
	ErrBadDeclaration = errors.New("roster: declaration not signed by its declarer")
)

// VerifyRecord checks the proof of a record with auth: the member signed
// its statement, and a Suspect or Failed record's declarer signed the
// declaration. With auth nil (signatures off) every record passes. It
// reads nothing but the record, so a driver may check a broadcast before
// relaying it.
func VerifyRecord(auth peer.Authenticator, r *Record) error {
	if auth == nil {
		return nil
	}
	p := r.Proof
	if p == nil {
		return ErrNoProof
	}
	if !auth.Verify(r.ID, p.Key, StatementBytes(r), p.Sig) {
		return ErrBadStatement
	}
	declared := r.State == StateSuspect || r.State == StateFailed
	if !declared {
		if p.Declarer != 0 || len(p.DeclarerKey) > 0 || len(p.DeclarerSig) > 0 {
			return ErrBadDeclaration
		}
		return nil
	}
	if p.Declarer == 0 || p.Declarer == r.ID ||
		!auth.Verify(p.Declarer, p.DeclarerKey, DeclarationBytes(r.ID, r.Incarnation, p.Declarer), p.DeclarerSig) {
		return ErrBadDeclaration
	}
	return nil
}

// checkProof reports why a proof's shape is malformed, or "" if it is not.
func checkProof(p *Proof) string {
	if p == nil {
		return ""
	}
	if len(p.Key) > MaxKeyBytes || len(p.DeclarerKey) > MaxKeyBytes || len(p.Sig) > MaxSigBytes || len(p.DeclarerSig) > MaxSigBytes {
		return "proof too large"
	}
	if p.Rendezvous != nil {
		return p.Rendezvous.check(0)
	}
	return ""
}

// clone returns a copy of p that shares no memory with it, so that a
// stored proof never pins a received message's buffer.
func (p *Proof) clone() *Proof {
	if p == nil {
		return nil
	}
	return &Proof{
		Key:         bytes.Clone(p.Key),
		Sig:         bytes.Clone(p.Sig),
		Declarer:    p.Declarer,
		DeclarerKey: bytes.Clone(p.DeclarerKey),
		DeclarerSig: bytes.Clone(p.DeclarerSig),
		Rendezvous:  p.Rendezvous.clone(),
	}
}

// clone returns a copy of v (nil for nil or a zero rendezvous).
func (v *Rendezvous) clone() *Rendezvous {
	if v == nil || v.IsZero() {
		return nil
	}
	c := *v
	c.Addr = strings.Clone(v.Addr)
	return &c
}

// sendable reports whether a record with proof p may leave this node when
// signatures are on: one that others will verify. A record this node
// holds only from local evidence (a neighbour it has not heard from yet, a
// member it suspects or expired before holding its signed record) stays
// here.
func sendable(p *Proof, s State) bool {
	if p == nil {
		return false
	}
	if s == StateSuspect || s == StateFailed {
		return p.Declarer != 0
	}
	return p.Declarer == 0
}

// ownProof signs this node's current record, with its rendezvous.
func (r *Roster) ownProof(rec *Record) *Proof {
	p := &Proof{Rendezvous: r.rendezvous.clone()}
	rec.Proof = p
	p.Key, p.Sig = r.cfg.Auth.PublicKey(), r.cfg.Auth.Sign(StatementBytes(rec))
	return p
}

// declare returns the proof of our suspicion of a member whose held proof
// is held: its statement, with our declaration. It returns nil when we
// hold no statement of the member (we only know it as a neighbour), so the
// suspicion stays local.
func (r *Roster) declare(id peer.ID, inc uint64, held *Proof) *Proof {
	if held == nil || len(held.Sig) == 0 {
		return nil
	}
	return &Proof{
		Key:         held.Key,
		Sig:         held.Sig,
		Rendezvous:  held.Rendezvous,
		Declarer:    r.self,
		DeclarerKey: r.cfg.Auth.PublicKey(),
		DeclarerSig: r.cfg.Auth.Sign(DeclarationBytes(id, inc, r.self)),
	}
}
