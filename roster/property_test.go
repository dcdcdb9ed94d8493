package roster

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/peer"
)

// anyRecord draws a valid record about members 1..6, with ties on
// (incarnation, state) broken by Addr or Meta: what a misbehaving or
// confused member could produce.
func anyRecord() *rapid.Generator[Record] {
	return rapid.Custom(func(t *rapid.T) Record {
		r := Record{
			ID:          peer.ID(rapid.IntRange(1, 6).Draw(t, "id")),
			Incarnation: rapid.Uint64Range(0, 3).Draw(t, "inc"),
			State:       State(rapid.IntRange(1, 4).Draw(t, "state")),
			Addr:        rapid.SampledFrom([]string{"a", "b"}).Draw(t, "addr"),
		}
		if m := rapid.SampledFrom([]string{"", "x", "y"}).Draw(t, "meta"); m != "" {
			r.Meta = []byte(m)
		}
		return r
	})
}

// honestRecord draws a record whose Addr and Meta follow from its ID and
// incarnation, as honest members produce them.
func honestRecord() *rapid.Generator[Record] {
	return rapid.Custom(func(t *rapid.T) Record {
		id := peer.ID(rapid.IntRange(1, 8).Draw(t, "id"))
		inc := rapid.Uint64Range(0, 3).Draw(t, "inc")
		return Record{ID: id, Addr: addr(id), Meta: []byte(fmt.Sprint("m", inc)),
			Incarnation: inc, State: State(rapid.IntRange(1, 4).Draw(t, "state"))}
	})
}

// TestPropertyMergeConverges: nodes that receive the same records in
// different orders, with duplicates, in batches through dissemination or
// anti-entropy, end up holding the same record for every member, and that
// record is the maximum under Compare of those received.
func TestPropertyMergeConverges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		recs := rapid.SliceOfN(anyRecord(), 1, 30).Draw(rt, "records")
		n := rapid.IntRange(2, 5).Draw(rt, "nodes")
		var held [][]Record
		for i := range n {
			r := newRoster(rt, peer.ID(100+i), 1, Config{})
			order := rapid.Permutation(recs).Draw(rt, "order")
			order = append(order, rapid.SliceOfN(rapid.SampledFrom(recs), 0, 10).Draw(rt, "dups")...)
			for len(order) > 0 {
				k := rapid.IntRange(1, len(order)).Draw(rt, "batch")
				kind := rapid.SampledFrom([]InputKind{InputReceive, InputMerge}).Draw(rt, "kind")
				step(rt, r, t0, Input{Kind: kind, Records: order[:k]})
				order = order[k:]
			}
			ms := r.Members()
			ms = slices.DeleteFunc(ms, func(m Record) bool { return m.ID >= 100 })
			held = append(held, ms)
		}
		for i := 1; i < n; i++ {
			require.Equal(rt, held[0], held[i], "node %d differs from node 0", i)
		}
		want := map[peer.ID]Record{}
		for _, x := range recs {
			if w, ok := want[x.ID]; !ok || Compare(x, w) > 0 {
				want[x.ID] = x
			}
		}
		require.Len(rt, held[0], len(want))
		for _, m := range held[0] {
			require.Zero(rt, Compare(want[m.ID], m), "held %v, max received %v", m, want[m.ID])
		}
	})
}

// TestPropertyRandomSteps: under random inputs the invariants hold after
// every step and the events account for every present member (see
// driveRandom).
func TestPropertyRandomSteps(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		driveRandom(rt, rapid.SliceOfN(rapid.Byte(), 100, 1000).Draw(rt, "bytes"))
	})
}

// TestPropertyAntiEntropy: two nodes that exchange digests, send what the
// other lacks or holds older and merge what they receive hold the same
// records for every member either held present; a tombstone held by one
// side only stays there. Each side's want list names exactly what the
// other sends, the chunked exchange gives the same answer as the whole
// one, and a second exchange finds nothing to do.
func TestPropertyAntiEntropy(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a := newRoster(rt, 100, 1, Config{})
		b := newRoster(rt, 200, 1, Config{})
		step(rt, a, t0, receive(rapid.SliceOf(honestRecord()).Draw(rt, "a")...))
		step(rt, b, t0, receive(rapid.SliceOf(honestRecord()).Draw(rt, "b")...))
		before := map[peer.ID][2]bool{} // held present by a, b
		for i, r := range []*Roster{a, b} {
			for _, m := range r.Members() {
				p := before[m.ID]
				p[i] = m.State.Present()
				before[m.ID] = p
			}
		}

		sendB, wantB := b.Diff(a.Digest())
		sendA, wantA := a.Diff(b.Digest())
		require.Equal(rt, ids(sendB), wantA)
		require.Equal(rt, ids(sendA), wantB)
		max := rapid.IntRange(1, 5).Draw(rt, "chunk")
		var chunkSend []Record
		var chunkWant []peer.ID
		for _, c := range Chunks(a.Digest(), max) {
			s, w := b.DiffChunk(c)
			chunkSend, chunkWant = append(chunkSend, s...), append(chunkWant, w...)
		}
		require.Equal(rt, sendB, chunkSend)
		require.Equal(rt, wantB, chunkWant)

		step(rt, a, t0, Input{Kind: InputMerge, Records: sendB})
		step(rt, b, t0, Input{Kind: InputMerge, Records: sendA})
		for id, p := range before {
			ra, okA := a.Get(id)
			rb, okB := b.Get(id)
			switch {
			case p[0] || p[1] || (okA && okB):
				require.True(rt, okA && okB, "member %d: a holds %v, b holds %v", id, okA, okB)
				require.Equal(rt, ra, rb)
			default:
				require.NotEqual(rt, okA, okB, "member %d: a tombstone held by one side only", id)
			}
		}
		s, w := b.Diff(a.Digest())
		require.Empty(rt, s)
		require.Empty(rt, w)
	})
}

func ids(recs []Record) []peer.ID {
	var out []peer.ID
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// TestDiffRefusesMalformedDigest: an unsorted digest, a duplicate ID, an
// invalid state or a chunk with inverted bounds is refused and counted.
func TestDiffRefusesMalformedDigest(t *testing.T) {
	r := newRoster(t, 1, 1, Config{})
	step(t, r, t0, receive(rec(2, StateAlive, 1)))
	for _, d := range [][]DigestEntry{
		{{ID: 3, State: StateAlive}, {ID: 2, State: StateAlive}},
		{{ID: 2, State: StateAlive}, {ID: 2, State: StateAlive}},
		{{ID: 2, State: 0}},
		{{ID: 0, State: StateAlive}},
		{{ID: 2, State: StateAlive, Incarnation: MaxIncarnation + 1}},
	} {
		s, w := r.Diff(d)
		require.Nil(t, s)
		require.Nil(t, w)
	}
	s, w := r.DiffChunk(DigestChunk{From: 5, To: 4})
	require.Nil(t, s)
	require.Nil(t, w)
	s, w = r.DiffChunk(DigestChunk{From: 5, To: 9, Entries: []DigestEntry{{ID: 2, State: StateAlive}}})
	require.Nil(t, s)
	require.Nil(t, w)
	require.Equal(t, uint64(7), r.Counters().MalformedDigests)
	// A well-formed one works: the remote lacks 1 and 2 and holds 3.
	s, w = r.Diff([]DigestEntry{{ID: 3, State: StateAlive}})
	require.Equal(t, []peer.ID{1, 2}, ids(s))
	require.Equal(t, []peer.ID{3}, w)
	require.Equal(t, []Record{rec(2, StateAlive, 1)}, r.AppendRecords(nil, []peer.ID{2, 9}))
}

// TestChunksCoverEverything: chunks are contiguous, start at 0, end at the
// largest ID, and hold at most the requested entries.
func TestChunksCoverEverything(t *testing.T) {
	var d []DigestEntry
	for id := peer.ID(1); id <= 10; id++ {
		d = append(d, DigestEntry{ID: id * 3, State: StateAlive})
	}
	cs := Chunks(d, 4)
	require.Len(t, cs, 3)
	require.Equal(t, peer.ID(0), cs[0].From)
	require.Equal(t, ^peer.ID(0), cs[2].To)
	var all []DigestEntry
	for i, c := range cs {
		require.LessOrEqual(t, len(c.Entries), 4)
		if i > 0 {
			require.Equal(t, cs[i-1].To+1, c.From)
		}
		all = append(all, c.Entries...)
	}
	require.Equal(t, d, all)
	require.Len(t, Chunks(d, 0), 1)
	require.Len(t, Chunks(nil, 4), 1)
}
