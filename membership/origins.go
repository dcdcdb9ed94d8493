package membership

import (
	"crypto/ed25519"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// originSigner is the engine's gossip.Authenticator: this node signs its
// broadcasts with its identity key, and a broadcast's origin is valid when
// the key it carries is the origin's (the origin's ID is transport.KeyID of
// its key) and the signature verifies.
type originSigner struct {
	tr transport.Transport
}

func (o originSigner) PublicKey() []byte { return o.tr.PublicKey() }

func (o originSigner) Sign(msg []byte) []byte { return o.tr.Sign(msg) }

func (originSigner) Verify(origin peer.ID, key, msg, sig []byte) bool {
	return len(key) == ed25519.PublicKeySize && peer.ID(transport.KeyID(key)) == origin &&
		len(sig) == ed25519.SignatureSize && ed25519.Verify(key, msg, sig)
}
