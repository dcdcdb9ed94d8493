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
// costs one agreement, about as much as a signature check, once per peer;
// each datagram then costs an HMAC-SHA-256, truncated to 16 bytes (as
// RFC 4868 truncates HMAC-SHA-256 for IPsec), of a microsecond or two.
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
// agreement: not a point of the curve, or one of small order (whose
// agreement anyone can predict).
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
// birational map of RFC 7748 §4.1), refusing an encoding that is not a
// point of the curve and a point of small order.
func x25519Public(pub ed25519.PublicKey) (*ecdh.PublicKey, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errPairKey
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, errPairKey
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errPairKey
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

// key returns the key this node shares with the holder of peer, deriving
// it on first use.
func (k *pairKeys) key(peer ed25519.PublicKey) ([sha256.Size]byte, error) {
	if len(peer) != ed25519.PublicKeySize {
		return [sha256.Size]byte{}, errPairKey
	}
	id := [ed25519.PublicKeySize]byte(peer)
	k.mu.Lock()
	got, ok := k.keys[id]
	k.mu.Unlock()
	if ok {
		return got, nil
	}
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
	got = [sha256.Size]byte(derived)
	k.mu.Lock()
	if len(k.keys) >= maxPairKeys {
		clear(k.keys)
	}
	k.keys[id] = got
	k.mu.Unlock()
	return got, nil
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
