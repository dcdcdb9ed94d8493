package membership

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Signatures are checked against origin keys held expanded: an ed25519
// check decompresses the signature's R and the signer's key, a square
// root in the field each, together a quarter of a check's cost, and the
// same few origins sign nearly everything a node checks. curve25519-voi's
// ExpandedPublicKey keeps the decompressed key with a table of its
// multiples, so a check of an origin seen before skips building both:
// per signature (go test ./membership -run '^$' -bench OriginChecks)
// 35.6 µs alone and 20.8 µs in batches of 8, where ed25519consensus,
// which decompressed every key each time, took 51.7 and 30.6 µs
// (docs/benchmarks.md, "CPU: origin keys held expanded").

// maxExpandedKeys bounds each generation of the expanded keys kept: an
// expanded key takes about 1.5 KiB, so both generations together at most
// 1.5 MiB, and a cluster of up to 512 broadcasting members checks every
// signature on a kept key.
const maxExpandedKeys = 512

// expandedKeys keeps the expanded form of the keys signatures were
// checked against, for the whole process (the nodes of one process, a
// test's or the bench's, share it: an expansion depends on the key's
// bytes alone). Two generations: when the newer is full, the older is
// dropped and the newer takes its place, so that a key in use stays and a
// flood of keys, each its own member's, pushes nothing out for good and
// holds at most twice the bound. Safe for concurrent use.
type expandedKeys struct {
	mu       sync.Mutex
	cur, old map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey
}

var originKeys expandedKeys

// get returns key expanded, and false for a key that is not the encoding
// of a point of the curve (no signature checks against it).
func (k *expandedKeys) get(key []byte) (*voi.ExpandedPublicKey, bool) {
	if len(key) != ed25519.PublicKeySize {
		return nil, false
	}
	a := [ed25519.PublicKeySize]byte(key)
	k.mu.Lock()
	e := k.cur[a]
	if e == nil {
		if e = k.old[a]; e != nil {
			k.keep(a, e)
		}
	}
	k.mu.Unlock()
	if e != nil {
		return e, true
	}
	e, err := voi.NewExpandedPublicKey(key)
	if err != nil {
		return nil, false
	}
	k.mu.Lock()
	k.keep(a, e)
	k.mu.Unlock()
	return e, true
}

// keep puts e in the newer generation, turning generations when it is
// full. The caller holds mu.
func (k *expandedKeys) keep(a [ed25519.PublicKeySize]byte, e *voi.ExpandedPublicKey) {
	if len(k.cur) >= maxExpandedKeys {
		k.old, k.cur = k.cur, nil
	}
	if k.cur == nil {
		k.cur = make(map[[ed25519.PublicKeySize]byte]*voi.ExpandedPublicKey, maxExpandedKeys)
	}
	k.cur[a] = e
}

// len returns how many expanded keys are kept.
func (k *expandedKeys) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.cur) + len(k.old)
}
