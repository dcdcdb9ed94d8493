package gossip

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// batchAuth is fakeAuth that also checks batches, counting its single
// and batch checks.
type batchAuth struct {
	fakeAuth
	singles, batches *int
	sizes            *[]int
}

func (b batchAuth) Verify(origin peer.ID, key, msg, sig []byte) bool {
	*b.singles++
	return b.fakeAuth.Verify(origin, key, msg, sig)
}

func (b batchAuth) VerifyBatch(checks []peer.Check) bool {
	*b.batches++
	*b.sizes = append(*b.sizes, len(checks))
	for _, c := range checks {
		if !b.fakeAuth.Verify(c.Signer, c.Key, c.Msg, c.Sig) {
			return false
		}
	}
	return true
}

func newBatchAuth(self peer.ID) batchAuth {
	return batchAuth{fakeAuth: fakeAuth{self}, singles: new(int), batches: new(int), sizes: new([]int)}
}

// engineWithAuth is a member-list engine (not joined) signing with auth.
func engineWithAuth(t require.TestingT, id peer.ID, auth peer.Authenticator) *Engine {
	e, err := New(hyparview.Peer{ID: id, Addr: "a"}, Config{Members: &MembersConfig{Auth: auth}}, rand.New(rand.NewPCG(uint64(id), 1)))
	require.NoError(t, err)
	return e
}

// signedGossip is origin's application payload number seq, signed by
// signer (origin itself unless forged), under a run when run > 0.
func batchGossip(t require.TestingT, origin, signer peer.ID, seq, run uint64, data string) *plumtree.Gossip {
	id := plumtree.OriginSequenceID(origin, seq)
	env := &Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte(data), Key: fakeAuth{origin}.PublicKey(), Run: run}
	if run == 0 {
		env.Sig = fakeAuth{signer}.Sign(SignedOriginBytes(id, "t", env.Data))
	} else {
		env.RunSig = fakeAuth{signer}.Sign(SignedOriginRunBytes(id, run, "t", env.Data))
	}
	b, err := EncodeEnvelope(env)
	require.NoError(t, err)
	return &plumtree.Gossip{ID: id, Payload: b}
}

// recordGossip is a broadcast of member records.
func recordGossip(t require.TestingT, member peer.ID) *plumtree.Gossip {
	r := roster.Record{ID: member, Addr: "m", Incarnation: 1, State: roster.StateAlive}
	r.Proof = &roster.Proof{Key: fakeAuth{member}.PublicKey(), Sig: fakeAuth{member}.Sign(roster.StatementBytes(&r))}
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: []roster.Record{r}})
	require.NoError(t, err)
	return &plumtree.Gossip{ID: plumtree.ContentHashID(b), Payload: b}
}

// PrepareBatch checks together the origin signatures of the payloads not
// seen yet, and the records' of the broadcasts of records; Receive then
// checks none of them again. A batch with a forgery
// fails, and each is then checked alone: the forgery is dropped and
// counted as without a batch.
func TestPrepareBatchChecksOriginsTogether(t *testing.T) {
	cases := []struct {
		name      string
		msgs      func(t *testing.T) []*plumtree.Gossip
		seenFirst int // messages received before the batch
		batchSize int // the batch checked (0: none)
		batchOK   bool
		singles   int // single checks while receiving: origins alone, and records
		delivered int
		forged    uint64
	}{
		{name: "valid payloads", msgs: func(t *testing.T) []*plumtree.Gossip {
			return []*plumtree.Gossip{batchGossip(t, 3, 3, 1, 0, "a"), batchGossip(t, 4, 4, 1, 7, "b"), batchGossip(t, 3, 3, 2, 0, "c")}
		}, batchSize: 3, batchOK: true, delivered: 3},
		{name: "one forgery", msgs: func(t *testing.T) []*plumtree.Gossip {
			return []*plumtree.Gossip{batchGossip(t, 3, 3, 1, 0, "a"), batchGossip(t, 4, 5, 1, 7, "forged"), batchGossip(t, 3, 3, 2, 0, "c")}
		}, batchSize: 3, singles: 3, delivered: 2, forged: 1},
		{name: "seen payloads left out, a broadcast of records in", msgs: func(t *testing.T) []*plumtree.Gossip {
			return []*plumtree.Gossip{batchGossip(t, 3, 3, 1, 0, "seen"), recordGossip(t, 9), batchGossip(t, 4, 4, 1, 0, "b"), batchGossip(t, 4, 4, 2, 0, "c")}
		}, seenFirst: 1, batchSize: 3, batchOK: true, delivered: 2},
		{name: "a copy in the batch is checked once", msgs: func(t *testing.T) []*plumtree.Gossip {
			a := batchGossip(t, 3, 3, 1, 0, "a")
			return []*plumtree.Gossip{a, {ID: a.ID, Payload: append([]byte(nil), a.Payload...)}, batchGossip(t, 4, 4, 1, 0, "b")}
		}, batchSize: 2, batchOK: true, delivered: 2},
		{name: "a single signature is checked alone", msgs: func(t *testing.T) []*plumtree.Gossip {
			return []*plumtree.Gossip{batchGossip(t, 3, 3, 1, 0, "seen"), batchGossip(t, 4, 4, 1, 0, "b")}
		}, seenFirst: 1, singles: 1, delivered: 1},
		{name: "unsigned and malformed payloads are left to Receive", msgs: func(t *testing.T) []*plumtree.Gossip {
			unsigned := &plumtree.Gossip{ID: plumtree.OriginSequenceID(4, 2), Payload: mustEncode(t, &Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("u")})}
			return []*plumtree.Gossip{batchGossip(t, 3, 3, 1, 0, "a"), unsigned, {ID: plumtree.OriginSequenceID(4, 3), Payload: []byte("junk")}, batchGossip(t, 4, 4, 1, 0, "b")}
		}, batchSize: 2, batchOK: true, delivered: 2, forged: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := newBatchAuth(2)
			e := engineWithAuth(t, 2, auth)
			msgs := tc.msgs(t)
			for _, g := range msgs[:tc.seenFirst] {
				do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) })
			}
			*auth.singles = 0
			var recv []Received
			for _, g := range msgs {
				recv = append(recv, Received{From: 1, Msg: g})
			}
			e.PrepareBatch(t0, recv)
			delivered := 0
			for _, g := range msgs[tc.seenFirst:] {
				out := do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) })
				for _, d := range out.Deliveries {
					if d.Topic == "t" {
						delivered++
					}
				}
			}
			c := e.Counters().Engine
			if tc.batchSize == 0 {
				require.Zero(t, *auth.batches)
				require.Zero(t, c.SignatureBatches)
			} else {
				require.Equal(t, []int{tc.batchSize}, *auth.sizes)
				require.Equal(t, uint64(1), c.SignatureBatches)
			}
			require.Equal(t, tc.batchSize > 0 && !tc.batchOK, c.SignatureBatchesFailed == 1)
			if tc.batchOK {
				require.Equal(t, uint64(tc.batchSize), c.SignaturesBatched)
			} else {
				require.Zero(t, c.SignaturesBatched)
			}
			require.Equal(t, tc.singles, *auth.singles, "signatures checked alone")
			require.Equal(t, tc.delivered, delivered)
			require.Equal(t, tc.forged, c.ForgedOrigins)
		})
	}
}

// An engine whose Authenticator cannot check batches ignores PrepareBatch.
func TestPrepareBatchWithoutBatchAuthenticator(t *testing.T) {
	e := engineWithAuth(t, 2, fakeAuth{2})
	g1, g2 := batchGossip(t, 3, 3, 1, 0, "a"), batchGossip(t, 4, 4, 1, 0, "b")
	e.PrepareBatch(t0, []Received{{From: 1, Msg: g1}, {From: 1, Msg: g2}})
	for _, g := range []*plumtree.Gossip{g1, g2} {
		require.Len(t, do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) }).Deliveries, 1)
	}
	require.Zero(t, e.Counters().Engine.SignatureBatches)
}

// Whatever the messages (duplicates, forgeries, records, junk, and
// different payloads under one ID) and however a driver groups them, an
// engine that prepares batches and hands each decoded envelope on
// (decoded.go) decides exactly what one that does neither decides: the
// same deliveries, sends and timers, and the same counters but those of
// what the checks cost.
func TestPropertyBatchesChangeNoDecision(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		batched := engineWithAuth(rt, 2, newBatchAuth(2))
		alone := engineWithAuth(rt, 2, fakeAuth{2})
		alone.checked = nil // decodes every envelope afresh
		for _, e := range []*Engine{batched, alone} {
			out := &Ready{}
			e.Join(t0, nil, out)
			e.Receive(t0, 1, &hyparview.Join{Addr: "b", Nonce: 7}, out)
		}
		n := rapid.IntRange(1, 40).Draw(rt, "messages")
		var msgs []Received
		for i := range n {
			origin := peer.ID(rapid.IntRange(3, 6).Draw(rt, "origin"))
			seq := uint64(rapid.IntRange(1, 8).Draw(rt, "seq")) // repeats are duplicates
			signer := origin
			if rapid.IntRange(0, 9).Draw(rt, "forged") == 0 {
				signer = 9
			}
			var m Message
			switch rapid.IntRange(0, 11).Draw(rt, "kind") {
			case 0:
				m = recordGossip(rt, origin)
			case 1:
				m = &plumtree.Gossip{ID: plumtree.OriginSequenceID(origin, seq), Payload: []byte("junk")}
			case 2:
				b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: drawRecords(rt)})
				require.NoError(rt, err)
				m = &plumtree.Gossip{ID: plumtree.ContentHashID(b), Payload: b}
			case 3:
				m = &Records{Records: drawRecords(rt)}
			default:
				m = batchGossip(rt, origin, signer, seq, uint64(rapid.IntRange(0, 1).Draw(rt, "run")), fmt.Sprint(i))
			}
			from := peer.ID(rapid.IntRange(1, 2).Draw(rt, "from"))
			if from == 2 {
				from = 7 // not a neighbour
			}
			msgs = append(msgs, Received{From: from, Msg: m})
		}
		for len(msgs) > 0 {
			k := rapid.IntRange(1, len(msgs)).Draw(rt, "batch")
			batched.PrepareBatch(t0, msgs[:k])
			for _, r := range msgs[:k] {
				a, b := &Ready{}, &Ready{}
				batched.Receive(t0, r.From, r.Msg, a)
				alone.Receive(t0, r.From, r.Msg, b)
				require.Equal(rt, b, a)
			}
			msgs = msgs[k:]
		}
		ca, cb := batched.Counters(), alone.Counters()
		for _, c := range []*Counters{&ca, &cb} { // what the checks cost, not what they decided
			c.Engine.SignatureBatches, c.Engine.SignatureBatchesFailed, c.Engine.SignaturesBatched, c.Engine.SignaturesRemembered = 0, 0, 0, 0
		}
		require.Equal(rt, cb, ca)
	})
}

// A decoded envelope stands only for the very bytes it was decoded from,
// under the same ID.
func TestDecodedEnvelopeStandsForItsOwnBytes(t *testing.T) {
	payload := []byte("payload bytes")
	id := plumtree.OriginSequenceID(3, 1)
	d := keep(id, payload, &Envelope{Topic: "t"})
	cases := []struct {
		name    string
		id      plumtree.MessageID
		payload []byte
		want    bool
	}{
		{"the same bytes", id, payload, true},
		{"equal bytes elsewhere", id, []byte("payload bytes"), false},
		{"a prefix of them", id, payload[:5], false},
		{"a suffix of them", id, payload[1:], false},
		{"another ID", plumtree.OriginSequenceID(3, 2), payload, false},
		{"no bytes", id, nil, false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, d.of(tc.id, tc.payload), tc.name)
	}
	empty := keep(id, nil, &Envelope{})
	require.False(t, empty.of(id, nil), "nothing kept for an empty payload")
}

// drawRecords draws member records of members 3 to 8: Alive, Suspect or
// Failed (declared by another member) at incarnations 1 to 3, a few
// forged (the statement or the declaration signed by the wrong key).
func drawRecords(rt *rapid.T) []roster.Record {
	n := rapid.IntRange(1, 6).Draw(rt, "records")
	recs := make([]roster.Record, n)
	for i := range recs {
		id := peer.ID(rapid.IntRange(3, 8).Draw(rt, "member"))
		r := roster.Record{ID: id, Addr: fmt.Sprint("m", id), Incarnation: uint64(rapid.IntRange(1, 3).Draw(rt, "inc")), State: roster.StateAlive}
		signer := id
		if rapid.IntRange(0, 9).Draw(rt, "forged statement") == 0 {
			signer = 9
		}
		r.Proof = &roster.Proof{Key: fakeAuth{id}.PublicKey(), Sig: fakeAuth{signer}.Sign(roster.StatementBytes(&r))}
		if st := rapid.IntRange(0, 2).Draw(rt, "state"); st > 0 {
			r.State = roster.StateSuspect
			if st == 2 {
				r.State = roster.StateFailed
			}
			declarer := peer.ID(rapid.IntRange(3, 8).Draw(rt, "declarer"))
			if declarer == id {
				declarer = 10
			}
			key := declarer
			if rapid.IntRange(0, 9).Draw(rt, "forged declaration") == 0 {
				key = 9
			}
			r.Proof.Declarer, r.Proof.DeclarerKey = declarer, fakeAuth{declarer}.PublicKey()
			r.Proof.DeclarerSig = fakeAuth{key}.Sign(roster.DeclarationBytes(id, r.Incarnation, declarer))
		}
		recs[i] = r
	}
	return recs
}

// An anti-entropy exchange's records are checked together before the
// merge, those the roster would take only: the merge then checks none of
// them alone. A forged record fails the batch; each is then checked
// alone, and only the forgery is dropped.
func TestRecordsCheckedTogether(t *testing.T) {
	signed := func(id peer.ID, inc uint64, signer peer.ID) roster.Record {
		r := roster.Record{ID: id, Addr: fmt.Sprint("m", id), Incarnation: inc, State: roster.StateAlive}
		r.Proof = &roster.Proof{Key: fakeAuth{id}.PublicKey(), Sig: fakeAuth{signer}.Sign(roster.StatementBytes(&r))}
		return r
	}
	suspect := signed(6, 1, 6)
	suspect.State = roster.StateSuspect
	suspect.Proof.Declarer, suspect.Proof.DeclarerKey = 3, fakeAuth{3}.PublicKey()
	suspect.Proof.DeclarerSig = fakeAuth{3}.Sign(roster.DeclarationBytes(6, 1, 3))
	cases := []struct {
		name    string
		held    []roster.Record // merged before
		recs    []roster.Record
		batch   []int // sizes of the batches checked
		batchOK bool
		singles int // single checks in the merge
		applied []peer.ID
	}{
		{name: "new members", recs: []roster.Record{signed(3, 1, 3), signed(4, 1, 4), signed(5, 1, 5)},
			batch: []int{3}, batchOK: true, applied: []peer.ID{3, 4, 5}},
		{name: "a suspicion: its member's and its declarer's signatures", recs: []roster.Record{signed(3, 1, 3), suspect},
			batch: []int{3}, batchOK: true, applied: []peer.ID{3, 6}},
		{name: "records held already are left out", held: []roster.Record{signed(3, 2, 3)},
			recs:  []roster.Record{signed(3, 1, 3), signed(4, 1, 4), signed(5, 1, 5)},
			batch: []int{2}, batchOK: true, applied: []peer.ID{3, 4, 5}},
		{name: "a forgery", recs: []roster.Record{signed(3, 1, 3), signed(4, 1, 9), signed(5, 1, 5)},
			batch: []int{3}, singles: 3, applied: []peer.ID{3, 5}},
		{name: "one signature to check is checked alone", held: []roster.Record{signed(3, 2, 3)},
			recs: []roster.Record{signed(3, 1, 3), signed(4, 1, 4)}, singles: 1, applied: []peer.ID{3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := newBatchAuth(2)
			e := engineWithAuth(t, 2, auth)
			if len(tc.held) > 0 {
				do(t, e, func(out *Ready) { e.Receive(t0, 1, &Records{Records: tc.held}, out) })
			}
			*auth.singles, *auth.sizes = 0, nil
			do(t, e, func(out *Ready) { e.Receive(t0, 1, &Records{Records: tc.recs}, out) })
			require.Equal(t, tc.batch, *auth.sizes, "batches")
			require.Equal(t, tc.singles, *auth.singles, "signatures checked alone")
			c := e.Counters().Engine
			require.Equal(t, len(tc.batch) > 0 && !tc.batchOK, c.SignatureBatchesFailed == 1)
			for _, id := range tc.applied {
				_, ok := e.Member(id)
				require.True(t, ok, "member %d taken", id)
			}
			require.Equal(t, len(tc.applied)+1, len(e.Members()), "and no other")
		})
	}
}

// A banned peer's broadcasts are not checked in a batch: Receive drops
// them before any check, and a batch must not check them first.
func TestPrepareBatchSkipsBannedPeers(t *testing.T) {
	auth := newBatchAuth(2)
	b := DefaultBudgets()
	e, err := New(hyparview.Peer{ID: 2, Addr: "a"}, Config{Budgets: &b, Members: &MembersConfig{Auth: auth}}, rand.New(rand.NewPCG(2, 1)))
	require.NoError(t, err)
	e.budgets.peers[1] = &usage{start: t0.UnixNano(), bannedUntil: t0.Add(time.Minute).UnixNano()}
	msgs := []Received{{From: 1, Msg: batchGossip(t, 3, 3, 1, 0, "a")}, {From: 1, Msg: batchGossip(t, 4, 4, 1, 0, "b")}}
	e.PrepareBatch(t0, msgs)
	require.Zero(t, *auth.batches)
	for _, m := range msgs {
		require.True(t, do(t, e, func(out *Ready) { e.Receive(t0, m.From, m.Msg, out) }).Empty())
	}
	require.Equal(t, uint64(2), e.Counters().Engine.BannedDrops, "each counted once, by Receive")
	require.Zero(t, *auth.singles)
	e.PrepareBatch(t0.Add(2*time.Minute), msgs)
	require.Equal(t, 1, *auth.batches, "checked once the ban is over")
}

// PrepareBatch checks at most maxBatchChecks signatures: a broadcast of
// records that would take it over is left to Receive, which checks its
// records together itself.
func TestPrepareBatchIsBounded(t *testing.T) {
	records := func(from, to peer.ID, st roster.State) *plumtree.Gossip { // fakeAuth's keys name IDs below 256
		var recs []roster.Record
		for id := from; id < to; id++ {
			r := roster.Record{ID: id, Addr: fmt.Sprint("m", id), Incarnation: 1, State: st}
			r.Proof = &roster.Proof{Key: fakeAuth{id}.PublicKey(), Sig: fakeAuth{id}.Sign(roster.StatementBytes(&r))}
			if st == roster.StateSuspect { // two signatures: the member's and its declarer's
				r.Proof.Declarer, r.Proof.DeclarerKey = 3, fakeAuth{3}.PublicKey()
				r.Proof.DeclarerSig = fakeAuth{3}.Sign(roster.DeclarationBytes(id, 1, 3))
			}
			recs = append(recs, r)
		}
		b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: recs})
		require.NoError(t, err)
		return &plumtree.Gossip{ID: plumtree.ContentHashID(b), Payload: b}
	}
	auth := newBatchAuth(2)
	e := engineWithAuth(t, 2, auth)
	first, second := records(10, 160, roster.StateAlive), records(160, 250, roster.StateSuspect)
	e.PrepareBatch(t0, []Received{{From: 1, Msg: first}, {From: 1, Msg: batchGossip(t, 3, 3, 1, 0, "a")}, {From: 1, Msg: second}})
	require.Equal(t, []int{151}, *auth.sizes, "the second broadcast of records left out")
	for _, g := range []*plumtree.Gossip{first, second} {
		do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) })
	}
	e.EndBatch()
	require.Equal(t, []int{151, 180}, *auth.sizes, "the second's records checked together on receipt")
	require.Zero(t, *auth.singles)
	require.Len(t, e.Members(), 241)
}

// A clone remembers signatures on its own: what it checks counts in its
// counters, not the original's.
func TestCloneRemembersSignaturesOnItsOwn(t *testing.T) {
	e := engineWithAuth(t, 2, newBatchAuth(2))
	c, err := e.Clone(rand.New(rand.NewPCG(9, 9)))
	require.NoError(t, err)
	require.NotSame(t, e.verified, c.verified)
	g := recordGossip(t, 5)
	do(t, c, func(out *Ready) { c.Receive(t0, 1, g, out) })
	suspect := roster.Record{ID: 5, Addr: "m", Incarnation: 1, State: roster.StateSuspect}
	suspect.Proof = &roster.Proof{Key: fakeAuth{5}.PublicKey(), Sig: fakeAuth{5}.Sign(roster.StatementBytes(&roster.Record{ID: 5, Addr: "m", Incarnation: 1, State: roster.StateAlive})),
		Declarer: 3, DeclarerKey: fakeAuth{3}.PublicKey(), DeclarerSig: fakeAuth{3}.Sign(roster.DeclarationBytes(5, 1, 3))}
	do(t, c, func(out *Ready) { c.Receive(t0, 1, &Records{Records: []roster.Record{suspect}}, out) })
	require.Positive(t, c.Counters().Engine.SignaturesRemembered, "the statement checked again from the clone's memory")
	require.Zero(t, e.Counters().Engine.SignaturesRemembered)
}
