package transport

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"

	"filippo.io/edwards25519"
)

// Datagrams are authenticated with a key each pair of nodes shares, not
// with a signature each (doc.go, "Datagrams"): an ed25519 signature costs
// its sender about 25 µs and its receiver about 60 µs, and a member's
// liveness probes and their answers are most of what an idle cluster
// sends and checks. The pair's key comes from the identity keys the two
// already hold, with no exchange: each node's ed25519 key converts to an
// X25519 key (the same scalar, the same point in Montgomery form), an
// X25519 agreement between the sender's private key and the receiver's
// public key (or the other way round) gives both the same secret, and
// HKDF-SHA-256 binds it to this use and to the pair's two keys. Deriving
// costs one agreement and a check that the peer's key lies in the curve's
// prime-order subgroup, about 100 µs, once per peer;
// each datagram then costs an HMAC-SHA-256, truncated to 16 bytes (as
// RFC 4868 truncates HMAC-SHA-256 for IPsec), of a few microseconds.
//
// What a signature gave and a pair's key still gives: only the sender can
// make a tag the receiver accepts as the sender's (the secret needs one
// of the two private keys), and a tag made for one receiver does not pass
// at another (another pair, another key; the receiver's key is also in
// what the tag covers). What it does not give, and datagrams never
// needed: a third party cannot check the tag (the datagram is evidence to
// its receiver alone, which is all the receiver uses it for), and whoever
// steals a node's private key can forge datagrams to that node from
// anyone, where a signature would still need each sender's key; such a
// thief can already answer for the node itself.

// pairTagSize is the size of a datagram's tag under a pair's key.
const pairTagSize = 16

// maxPairKeys bounds the pair keys a node remembers; when full, they are
// all forgotten and derived again as datagrams come (bounded as the
// admitted certificates are).
const maxPairKeys = 4096

const (
	pairKeyDomain = "plumview datagram pair key v1"
	pairTagDomain = "plumview datagram v2\x00"
)

// errPairKey is the error for a peer key that cannot take part in an
// agreement: not the canonical encoding of a point of the curve, or a
// point with a component of small order. A point of small order gives an
// agreement anyone can predict; a key with a small-order component added
// agrees as the key without it, so its holder could speak for seven other
// IDs (KeyID) under one private key.
var errPairKey = errors.New("transport: key is not a usable ed25519 public key")

// pairKeys derives and remembers the key this node shares with each peer.
// Its methods are safe for concurrent use.
type pairKeys struct {
	self ed25519.PublicKey
	own  *ecdh.PrivateKey // self's X25519 form

	mu   sync.Mutex
	keys map[[ed25519.PublicKeySize]byte][sha256.Size]byte
}

// newPairKeys returns the pair keys of the holder of key.
func newPairKeys(key ed25519.PrivateKey) (*pairKeys, error) {
	own, err := x25519Private(key)
	if err != nil {
		return nil, err
	}
	return &pairKeys{self: key.Public().(ed25519.PublicKey), own: own,
		keys: map[[ed25519.PublicKeySize]byte][sha256.Size]byte{}}, nil
}

// x25519Private returns the X25519 form of an ed25519 private key: the
// scalar ed25519 signs with, the first half of the SHA-512 of the seed
// (RFC 8032 §5.1.5), which X25519 clamps as ed25519 does (RFC 7748 §5).
func x25519Private(key ed25519.PrivateKey) (*ecdh.PrivateKey, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("transport: private key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	h := sha512.Sum512(key.Seed())
	return ecdh.X25519().NewPrivateKey(h[:32])
}

// x25519Public returns the X25519 form of an ed25519 public key (the
// birational map of RFC 7748 §4.1), refusing an encoding that is not the
// canonical one of a point of the curve and a point that is not in the
// prime-order subgroup (errPairKey).
func x25519Public(pub ed25519.PublicKey) (*ecdh.PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errPairKey
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || !bytes.Equal(p.Bytes(), pub) {
		return nil, errPairKey
	}
	// In the prime-order subgroup exactly when multiplying by the cofactor
	// and then by its inverse modulo the group's order gives the point
	// back; a point of small order gives the identity. The key is public,
	// so the multiplication may take a time that depends on it: the
	// variable-time one takes about 37 µs where the constant-time one
	// took 46 (a whole derivation 90 against 100 µs;
	// BenchmarkDatagramSealOpen, "pair key").
	eight := new(edwards25519.Point).MultByCofactor(p)
	if eight.Equal(edwards25519.NewIdentityPoint()) == 1 ||
		new(edwards25519.Point).VarTimeDoubleScalarBaseMult(inverseOfEight, eight, edwards25519.NewScalar()).Equal(p) != 1 {
		return nil, errPairKey
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

// inverseOfEight is the inverse of the cofactor 8 modulo the order of the
// curve's prime-order subgroup.
var inverseOfEight = func() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 8
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic(err) // 8 is canonical
	}
	return s.Invert(s)
}()

// key returns the key this node shares with the holder of peer, deriving
// it on first use and remembering it: for sealing, where the peer is one
// this node chose to send to.
func (k *pairKeys) key(peer ed25519.PublicKey) ([sha256.Size]byte, error) {
	got, remembered, err := k.lookup(peer)
	if err == nil && !remembered {
		k.remember(peer, got)
	}
	return got, err
}

// lookup returns the key this node shares with the holder of peer and
// whether it was remembered, deriving it when not: for opening, where the
// key is remembered only once a datagram's tag passed under it, so that
// forgeries from made-up keys cannot push out the keys of real peers.
func (k *pairKeys) lookup(peer ed25519.PublicKey) (key [sha256.Size]byte, remembered bool, err error) {
	if len(peer) != ed25519.PublicKeySize {
		return [sha256.Size]byte{}, false, errPairKey
	}
	k.mu.Lock()
	got, ok := k.keys[[ed25519.PublicKeySize]byte(peer)]
	k.mu.Unlock()
	if ok {
		return got, true, nil
	}
	got, err = k.derive(peer)
	return got, false, err
}

// derive computes the key this node shares with the holder of peer.
func (k *pairKeys) derive(peer ed25519.PublicKey) ([sha256.Size]byte, error) {
	pub, err := x25519Public(peer)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	secret, err := k.own.ECDH(pub) // refuses an all-zero result
	if err != nil {
		return [sha256.Size]byte{}, errPairKey
	}
	// The pair's two keys in a fixed order, so both ends derive the same.
	lo, hi := k.self, peer
	if bytes.Compare(lo, hi) > 0 {
		lo, hi = hi, lo
	}
	derived, err := hkdf.Key(sha256.New, secret, nil, pairKeyDomain+string(lo)+string(hi), sha256.Size)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return [sha256.Size]byte(derived), nil
}

// remember keeps the key shared with the holder of peer, forgetting every
// key when maxPairKeys are kept.
func (k *pairKeys) remember(peer ed25519.PublicKey, key [sha256.Size]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) >= maxPairKeys {
		clear(k.keys)
	}
	k.keys[[ed25519.PublicKeySize]byte(peer)] = key
}

// pairTag returns the tag of a datagram's body from the holder of the
// pair's other key to the holder of to, under the pair's key.
func pairTag(key [sha256.Size]byte, to ed25519.PublicKey, body []byte) [pairTagSize]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(pairTagDomain))
	m.Write(to)
	m.Write(body)
	var sum [sha256.Size]byte
	return [pairTagSize]byte(m.Sum(sum[:0]))
}
