package gossip

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"maps"

	"github.com/plumview/plumview/peer"
)

// Signatures checked once. The same signature reaches a node many times
// over: a member's statement at one incarnation rides in its Alive
// record, in every Suspect and Failed record declared about it at that
// incarnation, and in the declaration each confirming neighbour
// broadcasts (roster's confirm.go); the Failed record that every node
// timing the suspicion broadcasts carries the suspicion's declaration
// unchanged. Each of those broadcasts is new to Plumtree, so each was
// verified again on its first receipt: a quarter of all the CPU of 256
// nodes under load went to ed25519 verifying, three quarters of it
// member records (docs/benchmarks.md). verifiedSigs remembers the
// signatures that verified, by a SHA-256 digest of everything the check
// covers (signer, key, message and signature), so a later check of the
// same four costs a hash instead of a curve operation. Member records and
// broadcast heads go through it; an application payload's origin
// signature does not: each is checked once per node anyway, and would
// only push the records out. Only signatures
// that verified are remembered, so a forger fills nothing; the memory is
// two bounded generations, the older dropped when the newer fills.

// verifiedGeneration bounds one generation of remembered signatures; two
// are kept, so at most twice as many are remembered (about 100 KB).
const verifiedGeneration = 1024

// verifiedSigs is a peer.Authenticator that remembers what verified.
type verifiedSigs struct {
	peer.Authenticator
	cur, prev map[[sha256.Size]byte]struct{}
	h         hash.Hash
	sum       []byte  // h's output, reused
	hits      *uint64 // EngineCounters.SignaturesRemembered
}

func newVerifiedSigs(auth peer.Authenticator, hits *uint64) *verifiedSigs {
	return &verifiedSigs{Authenticator: auth, cur: map[[sha256.Size]byte]struct{}{}, h: sha256.New(), hits: hits}
}

// Verify checks sig as the wrapped Authenticator does, remembering the
// signatures that verified.
func (v *verifiedSigs) Verify(signer peer.ID, key, msg, sig []byte) bool {
	d := v.digest(signer, key, msg, sig)
	if _, ok := v.cur[d]; ok {
		*v.hits++
		return true
	}
	if _, ok := v.prev[d]; ok {
		*v.hits++
		v.remember(d)
		return true
	}
	if !v.Authenticator.Verify(signer, key, msg, sig) {
		return false
	}
	v.remember(d)
	return true
}

// clone returns a copy of v, counting its hits in hits.
func (v *verifiedSigs) clone(hits *uint64) *verifiedSigs {
	return &verifiedSigs{Authenticator: v.Authenticator, cur: maps.Clone(v.cur), prev: maps.Clone(v.prev), h: sha256.New(), hits: hits}
}

// known reports whether the check whose digest is d verified before.
func (v *verifiedSigs) known(d [sha256.Size]byte) bool {
	_, cur := v.cur[d]
	_, prev := v.prev[d]
	return cur || prev
}

func (v *verifiedSigs) remember(d [sha256.Size]byte) {
	if len(v.cur) >= verifiedGeneration {
		v.prev, v.cur = v.cur, map[[sha256.Size]byte]struct{}{}
	}
	v.cur[d] = struct{}{}
}

func (v *verifiedSigs) digest(signer peer.ID, key, msg, sig []byte) [sha256.Size]byte {
	var d [sha256.Size]byte
	d, v.sum = checkDigest(v.h, v.sum, signer, key, msg, sig)
	return d
}

// checkDigest hashes the four inputs of a check with h, each
// length-prefixed so that no two different checks hash the same bytes;
// sum is h's output buffer, returned for reuse.
func checkDigest(h hash.Hash, sum []byte, signer peer.ID, key, msg, sig []byte) ([sha256.Size]byte, []byte) {
	h.Reset()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(signer))
	h.Write(n[:])
	for _, f := range [][]byte{key, msg, sig} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	sum = h.Sum(sum[:0])
	return [sha256.Size]byte(sum), sum
}
