package plumtree

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	"github.com/plumview/plumview/peer"
)

// MessageID names one broadcast. Two payloads with the same MessageID are the
// same broadcast: the second is a duplicate and is never delivered.
type MessageID [16]byte

// String returns the ID in a short hexadecimal form: its two 8-byte halves
// as big-endian numbers without leading zeros, joined by "-". An
// IDOriginSequence ID thus reads "origin-sequence" (e.g. "1-2a").
func (id MessageID) String() string {
	var b [33]byte
	out := strconv.AppendUint(b[:0], binary.BigEndian.Uint64(id[:8]), 16)
	out = append(out, '-')
	out = strconv.AppendUint(out, binary.BigEndian.Uint64(id[8:]), 16)
	return string(out)
}

// IDPolicy chooses how Broadcast names a new message.
//
// The paper computes mID = hash(m + myself) (S2 Algorithm 1, Broadcast); we
// offer the two policies a driver actually needs instead.
type IDPolicy uint8

const (
	// IDOriginSequence (the default) names a broadcast by the origin's peer.ID
	// (8 bytes, big-endian) followed by a per-origin sequence number (8 bytes,
	// big-endian). Two broadcasts of the same payload are two messages.
	IDOriginSequence IDPolicy = iota
	// IDContentHash names a broadcast by the first 16 bytes of the SHA-256
	// of its payload, so identical payloads, from any origin, deduplicate.
	IDContentHash
)

// String returns the policy's name.
func (p IDPolicy) String() string {
	switch p {
	case IDOriginSequence:
		return "origin-sequence"
	case IDContentHash:
		return "content-hash"
	default:
		return "IDPolicy(" + strconv.Itoa(int(p)) + ")"
	}
}

// OriginSequenceID returns the IDOriginSequence name of the seq-th broadcast
// of origin.
func OriginSequenceID(origin peer.ID, seq uint64) MessageID {
	var id MessageID
	binary.BigEndian.PutUint64(id[:8], uint64(origin))
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

// ContentHashID returns the IDContentHash name of payload.
func ContentHashID(payload []byte) MessageID {
	sum := sha256.Sum256(payload)
	var id MessageID
	copy(id[:], sum[:16])
	return id
}
