package roster

import (
	"testing"

	"github.com/plumview/plumview/peer"
)

const benchMembers = 10_000

// benchRoster returns node self holding benchMembers other Alive members with
// 32 bytes of metadata each, received in a scattered ID order.
func benchRoster(b *testing.B, self peer.ID, skew uint64) *Roster {
	r := newRoster(b, self, 1, Config{})
	meta := make([]byte, 32)
	recs := make([]Record, 0, benchMembers)
	for i := range benchMembers {
		id := peer.ID(2 + (i*7919)%benchMembers)
		inc := uint64(1)
		if uint64(id)%100 == skew {
			inc = 2 // 1% of the members differ between two rosters
		}
		recs = append(recs, Record{ID: id, Addr: "10.0.0.1:7946", Meta: meta, Incarnation: inc, State: StateAlive})
	}
	if _, err := r.Step(t0, receive(recs...), nil); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkApplyUpdate: one disseminated record that supersedes what a
// node of a 10,000-member cluster holds (a new incarnation, same meta).
func BenchmarkApplyUpdate(b *testing.B) {
	r := benchRoster(b, 1, 100)
	meta := make([]byte, 32)
	in := receive(Record{Addr: "10.0.0.1:7946", Meta: meta, State: StateAlive})
	out := make([]Output, 0, 4)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Records[0].ID = peer.ID(2 + i%benchMembers)
		in.Records[0].Incarnation = uint64(3 + i/benchMembers)
		out, _ = r.Step(t0, in, out[:0])
	}
	b.StopTimer()
	if err := r.Invariants(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkApplyDuplicate: a record the node already holds (the common
// case once Plumtree and anti-entropy overlap).
func BenchmarkApplyDuplicate(b *testing.B) {
	r := benchRoster(b, 1, 100)
	in := receive(Record{ID: 5, Addr: "10.0.0.1:7946", Meta: make([]byte, 32), Incarnation: 1, State: StateAlive})
	out := make([]Output, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		out, _ = r.Step(t0, in, out[:0])
	}
}

// BenchmarkDigestDiff10k: one side of an anti-entropy exchange between two
// nodes of a 10,000-member cluster that differ on 1% of the members: build
// our digest, and compare the remote digest with what we hold.
func BenchmarkDigestDiff10k(b *testing.B) {
	a, r := benchRoster(b, 20_000, 3), benchRoster(b, 1, 5)
	remote := a.Digest()
	var buf []DigestEntry
	b.ReportAllocs()
	b.ResetTimer()
	var send []Record
	var want []peer.ID
	for b.Loop() {
		buf = r.AppendDigest(buf[:0])
		send, want = r.Diff(remote)
	}
	b.StopTimer()
	if len(send) != 101 || len(want) != 101 { // each lacks the other's own record
		b.Fatalf("send %d, want %d", len(send), len(want))
	}
}

// BenchmarkApplySigned is BenchmarkApplyUpdate with signatures on (real
// ed25519 keys): the cost a node pays per new record when records are
// signed, against the unsigned row above. The signed updates are made
// before the timer starts; the roster verifies each (Input.Verified off,
// the anti-entropy path).
func BenchmarkApplySigned(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		cfg := Config{}
		if signed {
			name, cfg.Auth = "signed", testAuth{1}
		}
		b.Run(name, func(b *testing.B) {
			r := newRoster(b, 1, 1, cfg)
			const n = 1024
			meta := make([]byte, 32)
			updates := make([]Record, n)
			for i := range updates {
				updates[i] = Record{ID: peer.ID(2 + i), Addr: "10.0.0.1:7946", Meta: meta, Incarnation: 1, State: StateAlive}
				if signed {
					updates[i] = signedBy(updates[i], updates[i].ID, 0)
				}
			}
			out := make([]Output, 0, 4)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				rec := updates[i%n]
				if i >= n { // a later round: raise the incarnation, re-sign outside the timer
					b.StopTimer()
					rec.Incarnation = uint64(1 + i/n)
					if signed {
						rec = signedBy(rec, rec.ID, 0)
					}
					b.StartTimer()
				}
				out, _ = r.Step(t0, Input{Kind: InputMerge, Records: []Record{rec}}, out[:0])
			}
			b.StopTimer()
			if r.Counters().Forged != 0 {
				b.Fatal("forged")
			}
		})
	}
}
