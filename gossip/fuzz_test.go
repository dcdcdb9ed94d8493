package gossip

import (
	"math/rand/v2"
	"testing"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// FuzzReceivePayload hands arbitrary bytes, as a Plumtree payload, to an
// engine with the member list and origin signatures on: decoding the
// envelope and checking its origin must never panic, a payload is either
// delivered with a valid signature or counted, and the invariants hold.
func FuzzReceivePayload(f *testing.F) {
	id := plumtree.OriginSequenceID(1, 1)
	signed, _ := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d"), Key: []byte{1},
		Sig: fakeOrigins{1}.Sign(SignedOriginBytes(id, "t", []byte("d")))})
	records, _ := EncodeEnvelope(&Envelope{Kind: EnvelopeRecords, Records: []roster.Record{{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}}})
	for _, seed := range [][]byte{signed, records, nil, {0x90}, {0x96, 1, 0xa1, 't', 0xc4, 0, 0x90, 0xc4, 1, 1, 0xc4, 0}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cfg := Config{Members: &MembersConfig{Auth: fakeOrigins{2}}}
		e, err := New(hyparview.Peer{ID: 2, Addr: "b"}, cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		out := &Ready{}
		e.Receive(t0, 1, &plumtree.Gossip{ID: id, Payload: payload}, out)
		if err := e.Invariants(); err != nil {
			t.Fatal(err)
		}
		c := e.Counters().Engine
		if len(out.Deliveries) > 0 && c.ForgedOrigins+c.MalformedPayloads > 0 {
			t.Fatalf("delivered and counted as bad: %+v", c)
		}
		for _, d := range out.Deliveries {
			env, err := DecodeEnvelope(payload)
			if err != nil || !(fakeOrigins{}).Verify(1, env.Key, SignedOriginBytes(id, env.Topic, env.Data), env.Sig) || d.Topic != env.Topic {
				t.Fatalf("delivered a payload whose origin is not valid: %x", payload)
			}
		}
	})
}
