// Package peer holds the identity that every package of the pure stack
// shares: ID, the compact, comparable name of a node.
//
// The cores (hyparview, plumtree), the member list (roster), the wire codec
// and their composition (gossip) all name nodes by this one type, so that
// no layer converts between identities. What a real node needs to reach a
// peer (its addresses, its public key) lives beside the ID, in the driver
// or in the messages that carry it (hyparview.Peer), never inside it: a
// million simulated nodes then cost eight bytes of identity each.
package peer

// ID is the compact, comparable identity of a node. The driver maps it to
// whatever authenticates the node: the runtime derives it from the node's
// public key (transport.KeyID), the simulator numbers its nodes.
type ID uint64

// Message is a message one node sends another through the pure stack: one
// of HyParView's (hyparview.Join …), Plumtree's (plumtree.Gossip …), or the
// composition's own (gossip.Digest, gossip.Records). The set is sealed: a
// type is a Message only by embedding Sealed, which only those message
// types do, so a driver cannot hand the engine anything else, and the wire
// codec decodes only the types registered with it.
type Message interface{ sealedMessage() }

// Sealed makes the struct that embeds it a Message. It has no fields: it
// adds nothing to a message's size or to its encoding.
type Sealed struct{}

func (Sealed) sealedMessage() {}

// Authenticator signs this node's statements and verifies other nodes'.
// The driver provides it (the runtime's uses the ed25519 identity key from
// which it derives each node's ID), so that the pure stack holds no key
// and links no cryptography; nil, the simulator's setting, turns
// signatures off. The composition (package gossip) signs application
// broadcasts with it and the member list (package roster) signs member
// records and failure declarations.
type Authenticator interface {
	// PublicKey returns this node's public key, carried with each of its
	// signatures.
	PublicKey() []byte
	// Sign returns this node's signature of msg.
	Sign(msg []byte) []byte
	// Verify reports whether key is signer's key (signer's ID derives
	// from it) and sig a valid signature of msg by it. Its answer must
	// depend on its four arguments alone (no revocation list, no clock):
	// the engine remembers the checks that passed and does not ask again
	// (gossip's verified.go).
	Verify(signer ID, key, msg, sig []byte) bool
}

// Check is one signature check, the four arguments of
// Authenticator.Verify.
type Check struct {
	Signer ID
	Key    []byte
	Msg    []byte
	Sig    []byte
}

// BatchAuthenticator is an Authenticator that also checks many signatures
// at once, for less than checking each alone (ed25519's batch
// verification costs about half a single check per signature in batches of
// 16 or more). The composition uses it for the broadcasts a driver hands
// it together (gossip's Engine.PrepareBatch); an Authenticator without it
// checks each alone.
type BatchAuthenticator interface {
	Authenticator
	// VerifyBatch reports whether every check passes Verify. It must
	// pass every batch whose checks each pass Verify, and fail (but with
	// negligible probability) every batch with a check that Verify
	// refuses: the composition takes a passed batch's signatures as
	// verified, and a node that checked one alone must decide the same.
	// False says that at least one fails, not which, and the caller then
	// checks each alone with Verify.
	VerifyBatch(checks []Check) bool
}
