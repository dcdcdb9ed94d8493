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
