package gossip

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// members is the Engine's member-list state besides the roster itself.
type members struct {
	auth           peer.Authenticator // MembersConfig.Auth, remembering what verified (verified.go)
	originAuth     peer.Authenticator // MembersConfig.Auth itself, for the origins of payloads
	prepared       *preparedSigs      // origin signatures checked in a batch (batch.go), nil unless originAuth checks batches
	verified       *verifiedSigs      // auth itself, for the record batches (batch.go); nil without signatures
	checked        *decodedEnvelope   // the envelope payloadValid decoded, for deliver (decoded.go); nil without signatures
	rng            *rand.Rand
	syncInterval   time.Duration // MembersConfig.SyncInterval, defaulted
	rejoinInterval time.Duration // MembersConfig.RejoinInterval, defaulted
	reach          *reach        // the reachability check, nil unless MembersConfig.CheckReachability
	// The flags lie together: the engine is allocated in a size class,
	// and each padding byte may cost a node hundreds.
	announced   bool // our record was broadcast once we had a neighbour
	rejoinArmed bool // the rejoin tick is set
	behindNAT   bool // MembersConfig.BehindNAT
	// lostAt is when a neighbour last failed or a member was last
	// suspected, declared failed or left (lost): the rejoin tick holds
	// payloads while members are missing only within missingHoldWindow of
	// it (holdPayloads).
	lostAt time.Time
}

// payloadValid checks a payload not seen before, when signatures are on,
// before the broadcast core delivers or relays it: an application message
// must carry its origin's key and a valid signature, and every member
// record its proof (roster.VerifyRecord). A malformed envelope is dropped
// here too. What fails is neither delivered nor relayed, and is charged
// to the neighbour that sent it.
func (e *Engine) payloadValid(now time.Time, from peer.ID, g *plumtree.Gossip, out *Ready) bool {
	if e.banned(now, from) {
		return false
	}
	env, batched, err := e.envelopeToCheck(g) // decoded.go
	if err != nil {
		e.count().MalformedPayloads++
		e.spend(now, from, BudgetForged, 1, out)
		return false
	}
	if env.Kind == EnvelopeRecords {
		if !batched {
			e.checkRecordsTogether(env.Records, true) // batch.go; a frame batch checked them already
		}
		for i := range env.Records {
			if roster.VerifyRecord(e.auth, &env.Records[i]) != nil {
				e.count().ForgedRecords++
				e.spend(now, from, BudgetForged, 1, out)
				return false
			}
		}
		if !e.spend(now, from, BudgetRecords, len(env.Records), out) ||
			!e.spend(now, from, BudgetNewMembers, e.newMembers(env.Records), out) {
			return false
		}
		e.keepChecked(g, &env)
		return true
	}
	origin, signed, sig := originCheck(g, &env)
	if len(env.Key) == 0 || !e.verifyOrigin(origin, env.Key, signed, sig) {
		e.count().ForgedOrigins++
		e.spend(now, from, BudgetForged, 1, out)
		return false
	}
	e.keepChecked(g, &env)
	return true
}

// originCheck returns what an application payload's origin signature
// check takes: the origin, the bytes signed and the signature. An envelope
// naming a run carries the signature that covers it too (Envelope.RunSig);
// it alone is checked, as it covers what Sig does.
func originCheck(g *plumtree.Gossip, env *Envelope) (origin peer.ID, signed, sig []byte) {
	origin = peer.ID(binary.BigEndian.Uint64(g.ID[:8]))
	if env.Run != 0 {
		return origin, SignedOriginRunBytes(g.ID, env.Run, env.Topic, env.Data), env.RunSig
	}
	return origin, SignedOriginBytes(g.ID, env.Topic, env.Data), env.Sig
}

// deliver unwraps a delivered Envelope: application data goes to the
// driver with its topic, member records into the roster (except our own
// broadcasts, which the roster already holds).
func (e *Engine) deliver(now time.Time, d Delivery, out *Ready) {
	env, err := e.envelopeToDeliver(&d) // decoded.go
	if err != nil {
		e.count().MalformedPayloads++
		return
	}
	if env.Kind == EnvelopeApp {
		origin, seq := originSequence(d.ID)
		if e.run != 0 && origin == e.pt.Self() && d.From != origin {
			// Our own broadcast, come back from a peer: one of an earlier
			// run of this node (this run's are seen already), delivered
			// here when it was broadcast (marks.go).
			e.count().RedeliveriesSuppressed++
			return
		}
		if e.gaps != nil && e.gaps.redelivery(origin, seq, env.Run) {
			e.count().RedeliveriesSuppressed++ // marks.go
			return
		}
		e.heardFrom(now, origin, d.From == origin)
		e.noteMarkableBroadcast(now, d.ID) // islands.go
		d.Payload, d.Topic = env.Data, env.Topic
		if env.SentAt > 0 {
			d.SentAt = time.UnixMilli(env.SentAt)
		}
		out.Deliveries = append(out.Deliveries, d)
		e.noteDelivery(now, &d, env.Run, out)
		if e.gaps != nil && origin != e.pt.Self() {
			e.noteHead(now, origin, seq, &env)
		}
		return
	}
	if len(env.Records) > 0 {
		e.noteMarkableRecord(now, &env.Records[0]) // islands.go
	}
	if d.From == e.pt.Self() {
		return
	}
	// With signatures on, payloadValid verified every record already.
	e.stepRoster(now, roster.Input{Kind: roster.InputReceive, Records: env.Records, Verified: e.auth != nil}, out)
}

// stepRoster runs the member list and translates its outputs. Its error
// reports local misuse (UpdateMeta's); any other is counted.
func (e *Engine) stepRoster(now time.Time, in roster.Input, out *Ready) error {
	in.Doubtful = e.doubtful(&in) // health.go
	if e.live != nil && in.Kind == roster.InputNeighborDown && in.Reason == hyparview.DownFailed {
		e.lostTouch(in.Peer.ID) // evidence.go
	}
	rsOut, err := e.roster.Step(now, in, nil)
	for i := range rsOut {
		o := &rsOut[i]
		switch o.Kind {
		case roster.OutputBroadcast:
			e.broadcastRecord(now, o.Record, out)
		case roster.OutputEvent:
			if o.Event == roster.EventSuspect || o.Event == roster.EventFail || o.Event == roster.EventLeave {
				e.lost(now, out)
			}
			if e.live != nil && e.withhold(now, in.Kind, o, out) {
				continue
			}
			out.Events = append(out.Events, MemberEvent{Kind: o.Event, Member: o.Record})
		case roster.OutputSetTimer:
			e.setTimer(rosterTimer(o.Timer), o.After, out)
		}
	}
	if err != nil && in.Kind != roster.InputUpdateMeta {
		e.count().StepErrors++
	}
	return err
}

// broadcastRecord disseminates one record under its content-derived ID. A
// record already delivered (the same declaration made by another node) is
// not sent again.
func (e *Engine) broadcastRecord(now time.Time, rec roster.Record, out *Ready) {
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: []roster.Record{rec}})
	if err != nil {
		e.count().StepErrors++ // records are plain data: encoding cannot fail
		return
	}
	var scratch [scratchOutputs]plumtree.Output
	ptOut, _ := e.pt.BroadcastID(now, plumtree.ContentHashID(b), b, scratch[:0])
	e.translatePlumtree(now, ptOut, out)
}

// membersUp tells the roster of a new neighbour, announces our record on
// the first one, and starts anti-entropy by sending our digest.
func (e *Engine) membersUp(now time.Time, p hyparview.Peer, out *Ready) {
	if e.roster.Left() {
		return
	}
	e.stepRoster(now, roster.Input{Kind: roster.InputNeighborUp, Peer: p}, out)
	e.noteConnected(now) // islands.go
	if !e.announced {
		e.announced = true
		e.stepRoster(now, roster.Input{Kind: roster.InputAnnounce}, out)
		e.armSync(out)
	}
	e.sendDigest(p.ID, out)
	e.sendHeads(time.Time{}, p.ID, out) // heads.go
}

// sendDigest starts an anti-entropy exchange with a neighbour: our digest,
// which it answers with the records we lack and the IDs it wants.
func (e *Engine) sendDigest(to peer.ID, out *Ready) {
	for _, c := range roster.Chunks(e.roster.Digest(), MaxDigestEntries) {
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: to}, Msg: &Digest{From: c.From, To: c.To, Entries: c.Entries}})
	}
}

// armSync sets the timer of the next periodic anti-entropy exchange.
func (e *Engine) armSync(out *Ready) {
	after := e.syncInterval/2 + time.Duration(e.rng.Int64N(int64(e.syncInterval)))
	e.setTimer(Timer{kind: TimerMemberSync}, after, out)
}

// sync is the periodic anti-entropy exchange: our digest to a random
// active neighbour, then the next timer. A node that left stops.
func (e *Engine) sync(now time.Time, out *Ready) {
	if e.roster == nil || e.roster.Left() {
		return
	}
	e.count().MemberSyncs++
	if n := e.hv.ActiveLen(); n > 0 {
		to := e.hv.ActiveAt(e.rng.IntN(n)).ID
		e.sendDigest(to, out)
		e.sendHeads(now.Add(-2*e.syncInterval), to, out) // heads.go
	}
	e.armSync(out)
}

// onDigest answers a neighbour's digest chunk with the records it lacks
// and the IDs we want from it.
func (e *Engine) onDigest(from peer.ID, d *Digest, out *Ready) {
	if e.roster.Left() {
		return
	}
	send, want := e.roster.DiffChunk(roster.DigestChunk{From: d.From, To: d.To, Entries: d.Entries})
	sendRecords(from, send, want, out)
}

// onRecords merges the records a neighbour sent and answers its want list.
func (e *Engine) onRecords(now time.Time, from peer.ID, m *Records, out *Ready) {
	if e.roster.Left() {
		return
	}
	if len(m.Want) > 0 {
		sendRecords(from, e.roster.AppendRecords(nil, m.Want), nil, out)
	}
	if len(m.Records) == 0 {
		return
	}
	recs := m.Records
	if e.budgets != nil && !e.spend(now, from, BudgetNewMembers, e.newMembers(recs), out) {
		recs = e.knownOnly(recs)
	}
	e.checkRecordsTogether(recs, false) // batch.go
	forged := e.roster.Counters().Forged
	e.stepRoster(now, roster.Input{Kind: roster.InputMerge, Records: recs}, out)
	forged = e.roster.Counters().Forged - forged
	e.count().ForgedRecords += forged
	e.spend(now, from, BudgetForged, int(forged), out)
	for _, r := range recs {
		if r.ID == from && r.State == roster.StateLeft {
			e.broadcastRecord(now, r, out) // see tellLeft
		}
	}
	// A new neighbour's record comes with the exchange its link starts:
	// it may be the rendezvous this node waits for (signal.go).
	e.chooseRendezvous(now, out)
	e.checkReach(now, out)
}

// tellLeft sends our Left record to every neighbour directly, besides
// broadcasting it: a neighbour relays it as a broadcast under the same
// content-derived ID, so the cluster learns of the leave even when our
// own broadcast reached no eager peer that is still alive, and copies
// deduplicate.
func (e *Engine) tellLeft(out *Ready) {
	rec := e.roster.Record()
	for i := range e.hv.ActiveLen() {
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: e.hv.ActiveAt(i).ID}, Msg: &Records{Records: []roster.Record{rec}}})
	}
}

// sendRecords sends recs and want to a peer in messages within
// MaxRecordsPerMessage.
func sendRecords(to peer.ID, recs []roster.Record, want []peer.ID, out *Ready) {
	for len(recs) > 0 || len(want) > 0 {
		m := &Records{}
		n := min(len(recs), MaxRecordsPerMessage)
		m.Records, recs = recs[:n:n], recs[n:]
		k := min(len(want), MaxRecordsPerMessage)
		m.Want, want = want[:k:k], want[k:]
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: to}, Msg: m})
	}
}

// rejoinTick is the partition-healing tick, every RejoinInterval. An
// isolated node joins again through its contacts and asks its driver to
// resolve them afresh (a seed's name may point elsewhere now, or its key
// may have changed), and asks one member it lists alive, at random, for a
// link: on the side of a partition without the seeds, the members around
// it are what it can reach. A connected node whose member list holds members it
// has no path to — Suspect or Failed, not Left — asks one of them or one
// contact, chosen at random, to become a neighbour with high priority: if
// the two sides of a partition can reach each other again, one such link
// joins the overlays, and the anti-entropy of its neighbour-up repairs
// broadcasts and records (a member declared Failed while cut off then
// refutes). A connected node with at most half its slots filled and an
// empty passive view, which HyParView's repair would refill from, asks a
// member it lists alive. Serf retries failed members in the same spirit (its reconnect
// interval); a member that really died costs one failed dial per tick
// somewhere in the cluster until its tombstone expires.
func (e *Engine) rejoinTick(now time.Time, out *Ready) {
	if e.roster == nil || e.roster.Left() {
		return
	}
	e.setTimer(Timer{kind: TimerRejoin}, e.rejoinInterval, out)
	e.chooseRendezvous(now, out)
	e.askRendezvous(now, out)
	e.checkReach(now, out)
	missing := e.hv.ActiveLen() == 0
	if c := e.roster.Counts(); c.Suspect+c.Failed > 0 {
		missing = true
	}
	if missing && now.Sub(e.lostAt) < e.missingHoldWindow() {
		// Cut off, or members are missing, perhaps across a partition
		// that lasts: what they missed stays held for the whole
		// PayloadRetention while they are looked for (holdPayloads).
		e.holdPayloads(now, out)
	}
	if e.hv.ActiveLen() == 0 {
		out.ResolveContacts = true
		e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputJoin, Contacts: e.contacts}, out)
		// The contacts may all be out of reach (across a partition, or
		// gone) while members we know alive are not: ask one of them too.
		if p, ok := e.randomAliveMember(); ok {
			e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputContact, Contacts: []hyparview.Peer{p}}, out)
		}
		return
	}
	if e.hv.ActiveLen() <= e.hv.Config().ActiveViewSize/2 && len(e.hv.Passive()) == 0 {
		// Half the slots free and no passive peer left to fill them
		// with (HyParView's own repair draws on the passive view only):
		// a member listed alive is the next best candidate.
		if p, ok := e.randomAliveMember(); ok && !e.hv.IsActive(p.ID) {
			e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputContact, Contacts: []hyparview.Peer{p}}, out)
			return
		}
	}
	if c := e.roster.Counts(); c.Suspect+c.Failed == 0 {
		// Nothing to look for: a connected node with every member alive
		// (the common case) does not scan its list, which at n members
		// and nodes cost the cluster n² record reads a tick.
		return
	}
	var lost []hyparview.Peer
	self := e.roster.Self()
	for r := range e.roster.All() {
		if r.ID != self && (r.State == roster.StateSuspect || r.State == roster.StateFailed) && !e.hv.IsActive(r.ID) {
			lost = append(lost, hyparview.Peer{ID: r.ID, Addr: r.Addr})
		}
	}
	if len(lost) == 0 {
		return
	}
	for _, c := range e.contacts {
		if c.ID != self && !e.hv.IsActive(c.ID) {
			lost = append(lost, c)
		}
	}
	pick := lost[e.rng.IntN(len(lost))]
	e.stepHyParView(now, hyparview.Input{Kind: hyparview.InputContact, Contacts: []hyparview.Peer{pick}}, out)
}

// randomAliveMember picks a member listed Alive, other than this node and
// with an address to dial, at random; reservoir sampling keeps it one pass
// without a copy of the list.
func (e *Engine) randomAliveMember() (hyparview.Peer, bool) {
	var pick hyparview.Peer
	n := 0
	self := e.roster.Self()
	for r := range e.roster.All() {
		if r.ID == self || r.State != roster.StateAlive || r.Addr == "" {
			continue
		}
		n++
		if e.rng.IntN(n) == 0 {
			pick = hyparview.Peer{ID: r.ID, Addr: r.Addr}
		}
	}
	return pick, n > 0
}
