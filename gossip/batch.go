package gossip

import (
	"crypto/sha256"
	"hash"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
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
	// recordChecks is checkRecordsTogether's buffer.
	recordChecks []peer.Check
	h            hash.Hash
	sum          []byte
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

// checkBatch checks the origin signatures of checks together,
// remembering them for verifyOrigin if they pass.
func (e *Engine) checkBatch(ps *preparedSigs, checks []peer.Check) {
	e.counters.SignatureBatches++
	if !ps.auth.VerifyBatch(checks) {
		e.counters.SignatureBatchesFailed++
		return
	}
	e.counters.SignaturesBatched += uint64(len(checks))
	for _, c := range checks {
		var d [sha256.Size]byte
		d, ps.sum = checkDigest(ps.h, ps.sum, c.Signer, c.Key, c.Msg, c.Sig)
		ps.passed[d] = struct{}{}
	}
}

// Member records checked together. A node that joins, or a link that
// starts, receives the member records it lacks by the hundred in one
// anti-entropy exchange (Records), each with its member's signature and,
// for a suspicion or failure, its declarer's; merging them checks each
// signature alone (roster.VerifyRecord), so a join of n nodes in one
// process checks n² signatures. checkRecordsTogether checks first, in
// batches, the signatures the merge would check, that is those of the
// records that supersede what the roster holds (roster.Supersedes) and
// that no earlier check remembered, and remembers those of a batch that
// passed among the signatures that verified (verified.go): the merge then
// finds each checked and costs a hash. A batch that fails remembers
// nothing, and the merge checks each alone as before.

// checkRecordsTogether checks together the record signatures that merging
// recs would check; with all set, those of every record (a broadcast's
// records, which are checked before relaying whatever the roster holds).
func (e *Engine) checkRecordsTogether(recs []roster.Record, all bool) {
	ps, v := e.prepared, e.verified
	if ps == nil || v == nil || len(recs) == 0 {
		return
	}
	checks := ps.recordChecks[:0]
	add := func(signer peer.ID, key, msg, sig []byte) {
		var d [sha256.Size]byte
		d, v.sum = checkDigest(v.h, v.sum, signer, key, msg, sig)
		if !v.known(d) {
			checks = append(checks, peer.Check{Signer: signer, Key: key, Msg: msg, Sig: sig})
		}
	}
	for i := range recs {
		r := &recs[i]
		if r.Proof == nil || (!all && !e.roster.Supersedes(r)) {
			continue
		}
		add(r.ID, r.Proof.Key, roster.StatementBytes(r), r.Proof.Sig)
		if p := r.Proof; (r.State == roster.StateSuspect || r.State == roster.StateFailed) && p.Declarer != 0 && p.Declarer != r.ID {
			add(p.Declarer, p.DeclarerKey, roster.DeclarationBytes(r.ID, r.Incarnation, p.Declarer), p.DeclarerSig)
		}
		if len(checks) >= maxBatchChecks {
			e.checkRecordBatch(ps, v, checks)
			checks = checks[:0]
		}
	}
	e.checkRecordBatch(ps, v, checks)
	clear(checks)
	ps.recordChecks = checks[:0]
}

// checkRecordBatch checks the record signatures of checks together, if
// there are two or more, remembering them if they pass.
func (e *Engine) checkRecordBatch(ps *preparedSigs, v *verifiedSigs, checks []peer.Check) {
	if len(checks) < 2 {
		return
	}
	e.counters.SignatureBatches++
	if !ps.auth.VerifyBatch(checks) {
		e.counters.SignatureBatchesFailed++
		return
	}
	e.counters.SignaturesBatched += uint64(len(checks))
	for _, c := range checks {
		var d [sha256.Size]byte
		d, v.sum = checkDigest(v.h, v.sum, c.Signer, c.Key, c.Msg, c.Sig)
		v.remember(d)
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
			return true
		}
	}
	return e.originAuth.Verify(origin, key, signed, sig)
}
