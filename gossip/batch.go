package gossip

import (
	"crypto/sha256"
	"hash"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

// Origin signatures checked in batches. Every node checks the origin's
// signature of every application payload it receives first (payloadValid):
// under load that is the largest single cost of a delivery, about 40 % of
// the CPU of 64 nodes in one process under the bench's sustained load
// (docs/benchmarks.md). ed25519 checks many signatures together for about
// half the cost of each alone (one multi-scalar multiplication for the
// batch, Bernstein et al., "High-speed high-security signatures", 2011,
// §5), so a driver that hands the engine several received messages at
// once (the runtime's state goroutine takes the frames waiting in its
// inbox together) calls PrepareBatch first: the origin signatures of the
// payloads not seen yet are checked in one batch, and Receive then finds
// each of them checked. Nothing else changes: which messages are valid,
// what is delivered, relayed, counted and charged, in what order. A batch
// that fails says only that one signature at least is bad, so nothing of
// it is remembered and Receive checks each alone, as without a batch: a
// forger costs one failed batch besides the checks it cost before, and is
// charged and evicted as before (budget.go).
//
// What a batch accepts beyond a single check: ed25519's batch equation is
// the cofactored one (ZIP-215's rules), which also holds for a signature
// whose signer built it with a small-order component on purpose; only the
// key's holder can build one, and that origin can send different payloads
// to different neighbours anyway.

// maxBatchChecks bounds the signatures one PrepareBatch checks (and
// remembers): a driver's larger batch has its first maxBatchChecks
// checked together, the rest alone.
const maxBatchChecks = 256

// Received is one message a driver received: what Receive takes.
type Received struct {
	From peer.ID
	Msg  Message
}

// preparedSigs holds the origin signatures the last PrepareBatch checked
// in a batch that passed, by their check's digest (verified.go).
type preparedSigs struct {
	auth   peer.BatchAuthenticator
	passed map[[sha256.Size]byte]struct{}
	checks []peer.Check
	envs   []decodedEnvelope // the envelopes of the checks, for payloadValid (decoded.go)
	h      hash.Hash
	sum    []byte
}

// newPreparedSigs returns the batch state for auth, or nil if auth cannot
// check batches.
func newPreparedSigs(auth peer.Authenticator) *preparedSigs {
	ba, ok := auth.(peer.BatchAuthenticator)
	if !ok {
		return nil
	}
	return &preparedSigs{auth: ba, passed: map[[sha256.Size]byte]struct{}{}, h: sha256.New()}
}

// PrepareBatch checks together the origin signatures of the application
// payloads among msgs that this engine has not seen, when its
// Authenticator checks batches (peer.BatchAuthenticator) and there are at
// least two. The driver then passes each message to Receive as it would
// have without it, in any order: a payload whose signature passed here
// costs no curve operation there. It forgets the previous batch's
// signatures, so what it remembers is bounded by one batch. It changes
// nothing that Receive decides.
func (e *Engine) PrepareBatch(msgs []Received) {
	ps := e.prepared
	if ps == nil {
		return
	}
	clear(ps.passed)
	clear(ps.envs)
	checks, envs := ps.checks[:0], ps.envs[:0]
	for i := range msgs {
		if len(checks) == maxBatchChecks {
			break
		}
		g, ok := msgs[i].Msg.(*plumtree.Gossip)
		if !ok || e.pt.Seen(g.ID) {
			continue
		}
		env, err := DecodeEnvelope(g.Payload)
		if err != nil || env.Kind != EnvelopeApp || len(env.Key) == 0 {
			continue
		}
		origin, signed, sig := originCheck(g, &env)
		checks = append(checks, peer.Check{Signer: origin, Key: env.Key, Msg: signed, Sig: sig})
		envs = append(envs, keep(g.ID, g.Payload, &env))
	}
	ps.envs = envs
	if len(checks) >= 2 {
		e.checkBatch(ps, checks)
	}
	clear(checks)
	ps.checks = checks[:0]
}

// checkBatch checks the signatures of checks together, remembering them
// if they pass.
func (e *Engine) checkBatch(ps *preparedSigs, checks []peer.Check) {
	e.counters.SignatureBatches++
	if !ps.auth.VerifyBatch(checks) {
		e.counters.SignatureBatchesFailed++
		return
	}
	for _, c := range checks {
		var d [sha256.Size]byte
		d, ps.sum = checkDigest(ps.h, ps.sum, c.Signer, c.Key, c.Msg, c.Sig)
		ps.passed[d] = struct{}{}
	}
}

// verifyOrigin checks an origin's signature: from the last batch if it
// passed there (PrepareBatch), else alone.
func (e *Engine) verifyOrigin(origin peer.ID, key, signed, sig []byte) bool {
	if ps := e.prepared; ps != nil && len(ps.passed) > 0 {
		var d [sha256.Size]byte
		d, ps.sum = checkDigest(ps.h, ps.sum, origin, key, signed, sig)
		if _, ok := ps.passed[d]; ok {
			delete(ps.passed, d)
			e.counters.SignaturesBatched++
			return true
		}
	}
	return e.originAuth.Verify(origin, key, signed, sig)
}
