package membership

import (
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// identitySigner is the engine's peer.Authenticator: this node signs its
// broadcasts, its member records and its suspicions with its identity key,
// and another node's signature is valid when the key it carries is that
// node's (its ID is transport.KeyID of its key) and the signature
// verifies.
type identitySigner struct{ keySigner }

// keySigner signs with the transport's identity key: the half of an
// Authenticator that identitySigner and strictSigner share.
type keySigner struct {
	tr transport.Transport
}

func (s keySigner) PublicKey() []byte { return s.tr.PublicKey() }

func (s keySigner) Sign(msg []byte) []byte { return s.tr.Sign(msg) }

// zip215 are the rules every signature is checked under, alone or in a
// batch: ZIP-215's (curve25519-voi's VerifyOptionsZIP_215).
var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// Verify checks one signature under ZIP-215's rules, the rules of
// VerifyBatch, so that a signature passes alone exactly when it passes
// in a batch: the cofactored equation, which also takes a signature its
// signer built with a small-order component, and non-canonical points.
// Go's ed25519.Verify, which agents before batches used, refuses those;
// every signature it takes, ZIP-215 takes (docs/security.md, "Signed
// origins"). The key is held expanded (originkeys.go).
func (identitySigner) Verify(signer peer.ID, key, msg, sig []byte) bool {
	if !shapedCheck(signer, key, sig) {
		return false
	}
	k, ok := originKeys.get(key)
	return ok && voi.VerifyExpandedWithOptions(k, msg, sig, zip215)
}

// VerifyBatch implements peer.BatchAuthenticator with ed25519's batch
// verification under ZIP-215's rules, which passes a batch exactly when
// Verify passes each of its signatures, but with probability 2⁻¹²⁸ at
// most.
func (identitySigner) VerifyBatch(checks []peer.Check) bool {
	bv := voi.NewBatchVerifierWithCapacity(len(checks))
	for _, c := range checks {
		if !shapedCheck(c.Signer, c.Key, c.Sig) {
			return false
		}
		k, ok := originKeys.get(c.Key)
		if !ok {
			return false
		}
		bv.AddExpandedWithOptions(k, c.Msg, c.Sig, zip215)
	}
	return bv.VerifyBatchOnly(nil)
}

// shapedCheck reports whether key and sig have ed25519's sizes and key is
// signer's (its ID derives from it).
func shapedCheck(signer peer.ID, key, sig []byte) bool {
	return len(key) == ed25519.PublicKeySize && peer.ID(transport.KeyID(key)) == signer && len(sig) == ed25519.SignatureSize
}

// strictSigner is the engine's peer.Authenticator under
// Config.StrictSignatures: identitySigner's signing, and checks alone with
// Go's ed25519.Verify, the cofactorless equation of agents before
// batches. It checks no batch, since ed25519's batch equation is the
// cofactored one.
type strictSigner struct{ keySigner }

// Verify checks one signature with ed25519.Verify.
func (strictSigner) Verify(signer peer.ID, key, msg, sig []byte) bool {
	return shapedCheck(signer, key, sig) && ed25519.Verify(key, msg, sig)
}
