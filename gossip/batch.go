package gossip

import (
	"crypto/sha256"
	"hash"
	"time"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// Signatures checked in batches. Every node checks the origin's
// signature of every application payload it receives first (payloadValid):
// under load that is the largest single cost of a delivery, about 40 % of
// the CPU of 64 nodes in one process under the bench's sustained load
// (docs/benchmarks.md). ed25519 checks many signatures together for about
// half the cost of each alone (one multi-scalar multiplication for the
// batch, Bernstein et al., "High-speed high-security signatures", 2011,
// §5), so a driver that hands the engine several received messages at
// once (the runtime's state goroutine takes the frames waiting in its
// inbox together) calls PrepareBatch first: the origin signatures of the
// payloads not seen yet, and the member records' signatures of the
// broadcasts of records not seen yet, are checked in one batch, and
// Receive then finds each of them checked. Nothing else changes: which
// messages are valid, what is delivered, relayed, counted and charged, in
// what order, since the Authenticator passes a batch exactly when it
// would pass each of its signatures alone (peer.BatchAuthenticator; the
// runtime checks both under ZIP-215's rules). A batch that fails says
// only that one signature at least is bad, so nothing of it is remembered
// and Receive checks each alone, as without a batch: a forger costs one
// failed batch besides the checks it cost before, and is charged and
// evicted as before (budget.go).

// maxBatchChecks bounds the signatures PrepareBatch checks (about 4 ms of
// CPU with the runtime's checker), so that the urgent work a driver runs
// between frames (probes' answers) waits no longer than that before the
// first frame; a message that would take it over is left to Receive. It
// also bounds one batch of an exchange's records (checkRecordsTogether),
// which checks several.
const maxBatchChecks = 256

// Received is one message a driver received: what Receive takes.
type Received struct {
	From peer.ID
	Msg  Message
}

// preparedSigs is the batch state: the origin signatures the last
// PrepareBatch checked in a batch that passed, by their check's digest
// (verified.go), and the buffers of a batch.
type preparedSigs struct {
	auth    peer.BatchAuthenticator
	passed  map[[sha256.Size]byte]struct{}
	checks  []peer.Check
	records []bool            // whether each of checks is a record's (batch)
	envs    []decodedEnvelope // the envelopes PrepareBatch decoded, for payloadValid (decoded.go)
	h       hash.Hash
	sum     []byte
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

// PrepareBatch checks together the signatures that receiving msgs would
// check one by one, when the engine's Authenticator checks batches
// (peer.BatchAuthenticator) and there are at least two: the origin
// signatures of the application payloads this engine has not seen, and
// the member records' signatures in the broadcasts of records it has not
// seen, of the messages whose sender is not banned, each payload once, up
// to maxBatchChecks signatures. The driver then passes each message to
// Receive as it would have without it, in any order, and calls EndBatch: a
// signature that passed here costs no curve operation there. What it
// remembers of the origins is bounded by one batch; the records' join the
// signatures that verified (verified.go). It changes nothing that Receive
// decides, since a batch passes exactly when each of its signatures would
// pass alone (peer.BatchAuthenticator). An anti-entropy exchange
// (Records) is left to Receive, which checks its records together once
// the sender's budget allowed them.
func (e *Engine) PrepareBatch(now time.Time, msgs []Received) {
	ps := e.prepared
	if ps == nil {
		return
	}
	clear(ps.passed)
	clear(ps.envs)
	b := batch{checks: ps.checks[:0], records: ps.records[:0]}
	envs := ps.envs[:0]
gather:
	for i := range msgs {
		g, ok := msgs[i].Msg.(*plumtree.Gossip)
		if !ok || e.pt.Seen(g.ID) || e.isBanned(now, msgs[i].From) || prepared(envs, g.ID) {
			continue // a copy of a payload already in the batch costs nothing, as in Receive
		}
		env, err := DecodeEnvelope(g.Payload)
		switch {
		case err != nil:
		case env.Kind == EnvelopeRecords:
			if len(b.checks)+recordChecks(env.Records) > maxBatchChecks {
				continue // a smaller message after it may fit
			}
			envs = append(envs, keep(g.ID, g.Payload, &env))
			for j := range env.Records {
				e.addRecordChecks(&b, &env.Records[j])
			}
		case len(env.Key) > 0:
			if len(b.checks) == maxBatchChecks {
				break gather
			}
			envs = append(envs, keep(g.ID, g.Payload, &env))
			origin, signed, sig := originCheck(g, &env)
			b.add(peer.Check{Signer: origin, Key: env.Key, Msg: signed, Sig: sig}, false)
		}
	}
	ps.envs = envs
	e.checkTogether(&b)
	ps.checks, ps.records = b.checks[:0], b.records[:0]
}

// prepared reports whether envs holds an envelope under id.
func prepared(envs []decodedEnvelope, id plumtree.MessageID) bool {
	for i := range envs {
		if envs[i].first != nil && envs[i].id == id {
			return true
		}
	}
	return false
}

// EndBatch forgets what the last PrepareBatch remembered for the messages
// the driver has now passed to Receive (the envelopes it decoded, which
// hold their payloads, and the origin signatures not used), so that
// nothing outlives the batch.
func (e *Engine) EndBatch() {
	if ps := e.prepared; ps != nil {
		clear(ps.passed)
		clear(ps.envs)
		ps.envs = ps.envs[:0]
	}
}

// batch is the signatures of one batch being gathered: each check, and
// whether it is a member record's (remembered among the signatures that
// verified) or an origin's (remembered for verifyOrigin).
type batch struct {
	checks  []peer.Check
	records []bool
}

func (b *batch) add(c peer.Check, record bool) {
	b.checks = append(b.checks, c)
	b.records = append(b.records, record)
}

// checkTogether checks the gathered signatures together, if there are two
// or more, remembers them if they pass, and empties the batch.
func (e *Engine) checkTogether(b *batch) {
	if len(b.checks) >= 2 {
		e.count().SignatureBatches++
		if e.prepared.auth.VerifyBatch(b.checks) {
			e.count().SignaturesBatched += uint64(len(b.checks))
			e.rememberBatch(b)
		} else {
			e.count().SignatureBatchesFailed++
		}
	}
	clear(b.checks)
	b.checks, b.records = b.checks[:0], b.records[:0]
}

// rememberBatch remembers the signatures of a batch that passed: a
// record's among those that verified, an origin's for verifyOrigin.
func (e *Engine) rememberBatch(b *batch) {
	ps, v := e.prepared, e.verified
	for i, c := range b.checks {
		var d [sha256.Size]byte
		if b.records[i] {
			d, v.sum = checkDigest(v.h, v.sum, c.Signer, c.Key, c.Msg, c.Sig)
			v.remember(d)
			continue
		}
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
// finds each checked and costs a hash. (The records equal to those held
// that the merge checks, for a missing proof or a confirmation of a
// suspicion by another declarer, are still checked alone.) A batch that
// fails remembers nothing, and the merge checks each alone as before.

// checkRecordsTogether checks together the record signatures that merging
// recs would check; with all set, those of every record (a broadcast's
// records, which are checked before relaying whatever the roster holds).
func (e *Engine) checkRecordsTogether(recs []roster.Record, all bool) {
	ps := e.prepared
	if ps == nil || e.verified == nil || len(recs) == 0 {
		return
	}
	b := batch{checks: ps.checks[:0], records: ps.records[:0]}
	for i := range recs {
		if all || e.roster.Supersedes(&recs[i]) {
			e.addRecordChecks(&b, &recs[i])
		}
		if len(b.checks) >= maxBatchChecks {
			e.checkTogether(&b)
		}
	}
	e.checkTogether(&b)
	ps.checks, ps.records = b.checks[:0], b.records[:0]
}

// addRecordChecks adds to b the signatures of r that VerifyRecord would
// check and that no earlier check remembered: its member's statement and,
// for a suspicion or failure, its declarer's declaration.
func (e *Engine) addRecordChecks(b *batch, r *roster.Record) {
	p := r.Proof
	if p == nil || e.verified == nil {
		return
	}
	e.addUnknown(b, peer.Check{Signer: r.ID, Key: p.Key, Msg: roster.StatementBytes(r), Sig: p.Sig})
	if declared(r) {
		e.addUnknown(b, peer.Check{Signer: p.Declarer, Key: p.DeclarerKey, Msg: roster.DeclarationBytes(r.ID, r.Incarnation, p.Declarer), Sig: p.DeclarerSig})
	}
}

// recordChecks counts the signatures of recs that VerifyRecord checks, at
// most (addRecordChecks leaves out those remembered).
func recordChecks(recs []roster.Record) int {
	n := 0
	for i := range recs {
		if p := recs[i].Proof; p != nil {
			n++
			if declared(&recs[i]) {
				n++
			}
		}
	}
	return n
}

// declared reports whether r carries a declarer's signature to check: a
// suspicion or failure declared by another node.
func declared(r *roster.Record) bool {
	p := r.Proof
	return (r.State == roster.StateSuspect || r.State == roster.StateFailed) && p.Declarer != 0 && p.Declarer != r.ID
}

// addUnknown adds the record check c to b unless it verified before.
func (e *Engine) addUnknown(b *batch, c peer.Check) {
	v := e.verified
	var d [sha256.Size]byte
	d, v.sum = checkDigest(v.h, v.sum, c.Signer, c.Key, c.Msg, c.Sig)
	if !v.known(d) {
		b.add(c, true)
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
