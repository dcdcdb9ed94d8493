package membership

import (
	"crypto/ed25519"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// identitySigner is the engine's peer.Authenticator: this node signs its
// broadcasts, its member records and its suspicions with its identity key,
// and another node's signature is valid when the key it carries is that
// node's (its ID is transport.KeyID of its key) and the signature
// verifies.
type identitySigner struct {
	tr transport.Transport
}

func (s identitySigner) PublicKey() []byte { return s.tr.PublicKey() }

func (s identitySigner) Sign(msg []byte) []byte { return s.tr.Sign(msg) }

func (identitySigner) Verify(signer peer.ID, key, msg, sig []byte) bool {
	return len(key) == ed25519.PublicKeySize && peer.ID(transport.KeyID(key)) == signer &&
		len(sig) == ed25519.SignatureSize && ed25519.Verify(key, msg, sig)
}
