package gossip

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// FuzzReceivePayload hands arbitrary bytes, as a Plumtree payload, to an
// engine with the member list and origin signatures on: decoding the
// envelope and checking its origin must never panic, a payload is either
// delivered with a valid signature or counted, and the invariants hold.
// An engine that checks it in a batch beside a valid payload (batch.go)
// decides the same.
func FuzzReceivePayload(f *testing.F) {
	id := plumtree.OriginSequenceID(1, 1)
	signed, _ := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d"), Key: []byte{1},
		Sig: fakeAuth{1}.Sign(SignedOriginBytes(id, "t", []byte("d")))})
	signedRun, _ := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d"), Key: []byte{1}, Run: 1,
		Sig: fakeAuth{1}.Sign(SignedOriginBytes(id, "t", []byte("d"))), RunSig: fakeAuth{1}.Sign(SignedOriginRunBytes(id, 1, "t", []byte("d")))})
	records, _ := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: []roster.Record{{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}}})
	for _, seed := range [][]byte{signed, signedRun, records, nil, {0x90}, {0x96, 1, 0xa1, 't', 0xc4, 0, 0x90, 0xc4, 1, 1, 0xc4, 0}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{2}}, Gaps: &GapsConfig{}}
		e, err := New(hyparview.Peer{ID: 2, Addr: "b"}, cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		out := &Ready{}
		e.Receive(t0, 1, &plumtree.Gossip{ID: id, Payload: payload}, out)
		if err := e.Invariants(); err != nil {
			t.Fatal(err)
		}
		batched, err := New(hyparview.Peer{ID: 2, Addr: "b"}, Config{Members: &MembersConfig{Auth: newBatchAuth(2)}, Gaps: &GapsConfig{}}, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		beside := batchGossip(t, 3, 3, 1, 0, "beside")
		batched.PrepareBatch(t0, []Received{{From: 1, Msg: &plumtree.Gossip{ID: id, Payload: payload}}, {From: 1, Msg: beside}})
		bout := &Ready{}
		batched.Receive(t0, 1, &plumtree.Gossip{ID: id, Payload: payload}, bout)
		if !reflect.DeepEqual(out, bout) {
			t.Fatalf("a batch changed the decision on %x", payload)
		}
		batched.Receive(t0, 1, beside, &Ready{})
		c := e.Counters().Engine
		if len(out.Deliveries) > 0 && c.ForgedOrigins+c.MalformedPayloads > 0 {
			t.Fatalf("delivered and counted as bad: %+v", c)
		}
		for _, d := range out.Deliveries {
			env, err := DecodeEnvelope(payload)
			signed, sig := SignedOriginBytes(id, env.Topic, env.Data), env.Sig
			if env.Run != 0 {
				signed, sig = SignedOriginRunBytes(id, env.Run, env.Topic, env.Data), env.RunSig
			}
			if err != nil || !(fakeAuth{}).Verify(1, env.Key, signed, sig) || d.Topic != env.Topic {
				t.Fatalf("delivered a payload whose origin is not valid: %x", payload)
			}
		}
	})
}

// FuzzReceiveRecords hands arbitrary bytes to an engine with signatures
// and budgets on, twice: as the payload of a broadcast of records and, if
// the codec takes them, as a Records message. Nothing may panic, the
// invariants must hold, the member list must stay within MaxMembers, and
// every record the engine would hand another node must carry a proof that
// verifies: one that does not is never taken, by either path, and what
// the node holds on local evidence alone (a peer that linked to it) it
// keeps to itself.
func FuzzReceiveRecords(f *testing.F) {
	valid := roster.Record{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}
	valid.Proof = &roster.Proof{Key: fakeAuth{3}.PublicKey(), Sig: fakeAuth{3}.Sign(roster.StatementBytes(&valid))}
	suspect := valid
	suspect.State = roster.StateSuspect
	suspect.Proof = &roster.Proof{Key: valid.Proof.Key, Sig: valid.Proof.Sig, Declarer: 4, DeclarerKey: fakeAuth{4}.PublicKey(),
		DeclarerSig: fakeAuth{4}.Sign(roster.DeclarationBytes(3, 1, 4))}
	unsigned := valid
	unsigned.Proof = nil
	withRV := signedRecord(5, 1, roster.Rendezvous{ID: 3, Addr: "c", Unreachable: true})
	for _, recs := range [][]roster.Record{{valid}, {suspect}, {unsigned}, {valid, suspect, unsigned}, {withRV}} {
		b, _ := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: recs})
		f.Add(b)
	}
	codec, err := NewCodec(wire.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	frame, _ := codec.Encode(&Records{Records: []roster.Record{valid, suspect, withRV}})
	f.Add(frame)
	f.Fuzz(func(t *testing.T, data []byte) {
		b := DefaultBudgets()
		cfg := Config{Budgets: &b, Members: &MembersConfig{Auth: fakeAuth{2}, Roster: roster.Config{MaxMembers: 8}}}
		e, err := New(hyparview.Peer{ID: 2, Addr: "b"}, cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		out := &Ready{}
		e.Receive(t0, 1, &plumtree.Gossip{ID: plumtree.ContentHashID(data), Payload: data}, out)
		if msg, err := codec.Decode(data); err == nil {
			e.Receive(t0, 1, msg, out)
		}
		if err := e.Invariants(); err != nil {
			t.Fatal(err)
		}
		members := e.Members()
		if len(members) > 8 {
			t.Fatalf("%d members held, over MaxMembers", len(members))
		}
		ids := make([]peer.ID, len(members))
		for i, m := range members {
			ids[i] = m.ID
		}
		for _, m := range e.roster.AppendRecords(nil, ids) {
			if roster.VerifyRecord(fakeAuth{}, &m) != nil {
				t.Fatalf("would send a record whose proof does not verify: %v %+v", m, m.Proof)
			}
		}
	})
}
