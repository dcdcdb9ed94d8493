package gossip

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// signedHead is origin's head (run, seq), signed as Engine.Broadcast
// signs it (sumAuth).
func signedHead(origin peer.ID, run, seq uint64) Head {
	a := sumAuth{origin}
	return Head{Origin: origin, Run: run, Seq: seq, Key: a.PublicKey(),
		Sig: a.Sign(SignedHeadBytes(plumtree.OriginSequenceID(origin, seq), run))}
}

// gapsAfter fires the gap timer armed in got, grace later, and returns
// what it reported.
func gapsAfter(t *testing.T, e *Engine, got *Ready, at time.Time) []Gap {
	t.Helper()
	for _, ts := range got.Timers {
		if ts.Timer.Kind() == TimerGaps {
			return do(t, e, func(out *Ready) { e.TimerFired(at.Add(ts.After), ts.Timer, out) }).Gaps
		}
	}
	t.Fatal("no gap timer armed")
	return nil
}

// The detector's use of heads, on one origin whose run 100 this node
// follows: each case delivers, then applies heads, then reports what is
// missed once every grace ran out.
func TestGapDetectorHeads(t *testing.T) {
	const grace = 40 * time.Second
	type head struct{ run, seq uint64 }
	for _, tc := range []struct {
		name      string
		delivered []head // deliveries, in order
		heads     []head // heads learned from neighbours, in order
		want      []Gap
		kept      int // heads kept (forwarded)
	}{
		{name: "the tail of the current run", delivered: []head{{100, 100}, {100, 101}}, heads: []head{{100, 104}},
			want: []Gap{{1, 102, 104, 3}}, kept: 1},
		{name: "a head already delivered is nothing", delivered: []head{{100, 100}, {100, 101}}, heads: []head{{100, 101}, {100, 100}}},
		{name: "a head inside an open hole is nothing new", delivered: []head{{100, 100}, {100, 105}}, heads: []head{{100, 103}},
			want: []Gap{{1, 101, 104, 4}}},
		{name: "heads in order widen the tail", delivered: []head{{100, 100}}, heads: []head{{100, 102}, {100, 103}},
			want: []Gap{{1, 101, 102, 2}, {1, 103, 103, 1}}, kept: 2},
		{name: "a run delivered nothing from", delivered: []head{{100, 100}}, heads: []head{{500, 502}},
			want: []Gap{{1, 500, 502, 3}}, kept: 1},
		{name: "the tail of the run before a restart", delivered: []head{{100, 100}, {500, 500}}, heads: []head{{100, 103}},
			want: []Gap{{1, 101, 103, 3}}, kept: 1},
		{name: "an origin never delivered from is not followed", heads: []head{{100, 105}}},
		{name: "a jump beyond MaxJump is no hole", delivered: []head{{100, 100}}, heads: []head{{100, 100 + 2000}}, kept: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGaps(GapsConfig{Grace: grace, MaxJump: 1000}, 0)
			for _, d := range tc.delivered {
				g.deliver(t0, 1, d.seq, d.run, nil)
				g.origins[1].heads.note(headState{run: d.run, seq: d.seq, at: t0})
			}
			kept := 0
			for _, h := range tc.heads {
				if !g.wouldAdvance(1, h.run, h.seq) {
					continue
				}
				var ok bool
				_, _, ok = g.advance(t0, Head{Origin: 1, Run: h.run, Seq: h.seq}, nil)
				if ok {
					kept++
				}
			}
			got, _ := g.sweep(t0.Add(grace), nil)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.kept, kept)
		})
	}
}

// A late delivery of the origin's previous run beyond what that run was
// known to have sent shows the broadcasts in between as missed (before,
// the previous run's next expected simply moved past them).
func TestLateBroadcastOfThePreviousRunOpensAHole(t *testing.T) {
	const grace = time.Second
	e := signedEngine(t, 2, grace)
	for _, g := range []*plumtree.Gossip{signedGossip(1, 1, 1, "a"), signedGossip(1, 1000, 1000, "restarted")} {
		require.Len(t, do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) }).Deliveries, 1)
	}
	got := do(t, e, func(out *Ready) { e.Receive(t0, 1, signedGossip(1, 4, 1, "late, of the old run"), out) })
	require.Len(t, got.Deliveries, 1)
	require.Equal(t, []Gap{{Origin: 1, First: 2, Last: 3, Count: 2}}, gapsAfter(t, e, got, t0))
	require.Zero(t, deliverForgotten(t, e, 1, 1, 4), "the late broadcast itself is no hole: a copy that comes back is not delivered again")
}

// The engine verifies a neighbour's heads before it uses them: a forged
// head opens no hole and is charged; a signed one past what was
// delivered opens a hole that is reported once its grace ran out, and a
// head of an origin never delivered from is not even verified.
func TestEngineAppliesSignedHeadsOnly(t *testing.T) {
	const grace = 40 * time.Second
	e := signedEngine(t, 2, grace)
	require.Len(t, do(t, e, func(out *Ready) { e.Receive(t0, 1, signedGossip(1, 10, 1, "base"), out) }).Deliveries, 1)

	forged := signedHead(1, 1, 12)
	forged.Seq = 20 // the signature covers the sequence
	unsigned := Head{Origin: 1, Run: 1, Seq: 20}
	other := signedHead(4, 1, 7) // an origin never delivered from
	for _, h := range []Head{forged, unsigned, other} {
		got := do(t, e, func(out *Ready) { e.Receive(t0, 3, &Heads{Heads: []Head{h}}, out) })
		require.True(t, got.Empty(), "head %+v", h)
	}
	c := e.Counters().Engine
	require.Equal(t, uint64(2), c.ForgedHeads)
	require.Zero(t, c.HeadHoles)
	require.Zero(t, e.gaps.open())

	got := do(t, e, func(out *Ready) { e.Receive(t0, 3, &Heads{Heads: []Head{signedHead(1, 1, 12)}}, out) })
	require.Equal(t, 1, e.gaps.open())
	require.Equal(t, uint64(1), e.Counters().Engine.HeadHoles)
	require.Equal(t, []Gap{{Origin: 1, First: 11, Last: 12, Count: 2}}, gapsAfter(t, e, got, t0))

	// The same head again is nothing new: not verified, not forwarded.
	got = do(t, e, func(out *Ready) { e.Receive(t0, 3, &Heads{Heads: []Head{signedHead(1, 1, 12)}}, out) })
	require.True(t, got.Empty())
}

// A node hands a new neighbour the heads it holds, its own included, each
// with its origin's signature, but never the neighbour's own; the heads it
// learned from one neighbour go on to its other neighbours, once.
func TestHeadsTravelToNeighbours(t *testing.T) {
	const grace = 40 * time.Second
	e := signedEngine(t, 2, grace)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	_, err := e.Broadcast(t0, "t", []byte("own"), &Ready{})
	require.NoError(t, err)
	require.Len(t, do(t, e, func(out *Ready) { e.Receive(t0, 1, signedGossip(1, 10, 1, "from 1"), out) }).Deliveries, 1)
	require.Len(t, do(t, e, func(out *Ready) { e.Receive(t0, 4, signedGossip(4, 5, 5, "from 4"), out) }).Deliveries, 1)

	sentTo := func(got *Ready, to peer.ID) []Head {
		var hs []Head
		for _, s := range got.Sends {
			if m, ok := s.Msg.(*Heads); ok && s.To.ID == to {
				hs = append(hs, m.Heads...)
			}
		}
		return hs
	}
	up := func(id peer.ID) *Ready {
		return do(t, e, func(out *Ready) {
			e.Receive(t0, id, &hyparview.Neighbor{Priority: hyparview.PriorityHigh, Addr: addrOf(id), Nonce: 1}, out)
		})
	}
	heads := sentTo(up(1), 1)
	require.Len(t, heads, 2, "node 2's own and node 4's, not node 1's")
	for _, h := range heads {
		require.NotEqual(t, peer.ID(1), h.Origin)
		require.True(t, sumAuth{}.Verify(h.Origin, h.Key, SignedHeadBytes(plumtree.OriginSequenceID(h.Origin, h.Seq), h.Run), h.Sig))
	}
	up(4)
	up(5)

	got := do(t, e, func(out *Ready) { e.Receive(t0, 1, &Heads{Heads: []Head{signedHead(4, 5, 9)}}, out) })
	require.Equal(t, []Head{signedHead(4, 5, 9)}, sentTo(got, 5), "on to the other neighbours")
	require.Empty(t, sentTo(got, 4), "not to its origin")
	require.Empty(t, sentTo(got, 1), "not back to the neighbour it came from")
	got = do(t, e, func(out *Ready) { e.Receive(t0, 5, &Heads{Heads: []Head{signedHead(4, 5, 9)}}, out) })
	require.True(t, got.Empty(), "forwarded once")
	got = do(t, e, func(out *Ready) { e.Receive(t0, 4, &Heads{Heads: []Head{signedHead(1, 1, 11)}}, out) })
	require.Equal(t, []Head{signedHead(1, 1, 11)}, sentTo(got, 5))
	require.Equal(t, uint64(2), e.Counters().Engine.HeadHoles)
}

// An envelope that carries a head signature decodes at a node of the
// version before it (whose envelope had no such field), and the head
// signature is of a domain of its own.
func TestEnvelopeHeadSigIsIgnoredByEarlierVersions(t *testing.T) {
	type envelopeV2 struct {
		Kind     EnvelopeKind
		Topic    string
		Data     []byte
		Records  []roster.Record
		Key, Sig []byte
		Run      uint64
		RunSig   []byte
	}
	b := signedGossip(1, 10, 1, "data").Payload
	var old envelopeV2
	require.NoError(t, wire.UnmarshalValue(b, &old, envelopeLimits))
	require.Equal(t, "data", string(old.Data))
	require.Equal(t, uint64(1), old.Run)
	env, err := DecodeEnvelope(b)
	require.NoError(t, err)
	require.NotEmpty(t, env.HeadSig)
	// A kept head must not pin its payload: decoding copies the bytes.
	sig := slices.Clone(env.HeadSig)
	clear(b)
	require.Equal(t, sig, env.HeadSig, "the head signature is a copy, not a view of the payload")
	id := plumtree.OriginSequenceID(1, 10)
	require.NotEqual(t, SignedHeadBytes(id, 1)[:len(headDomain)], SignedOriginRunBytes(id, 1, "", nil)[:len(headDomain)])
}

// Heads through the wire codec: a valid message comes back equal; one
// over a bound, or naming an impossible head, is refused.
func TestHeadsCodec(t *testing.T) {
	codec, err := NewCodec(wire.Limits{})
	require.NoError(t, err)
	m := &Heads{Heads: []Head{signedHead(1, 5, 9), {Origin: 2, Run: 1, Seq: 1}}}
	b, err := codec.Encode(m)
	require.NoError(t, err)
	back, err := codec.Decode(b)
	require.NoError(t, err)
	require.Equal(t, m, back)
	for name, bad := range map[string]*Heads{
		"too many":         {Heads: make([]Head, MaxHeadsPerMessage+1)},
		"no origin":        {Heads: []Head{{Run: 1, Seq: 1}}},
		"before its run":   {Heads: []Head{{Origin: 1, Run: 5, Seq: 4}}},
		"a huge signature": {Heads: []Head{{Origin: 1, Run: 1, Seq: 1, Sig: make([]byte, MaxOriginSigBytes+1)}}},
	} {
		require.Error(t, bad.Validate(), name)
	}
}

// FuzzReceiveHeads hands arbitrary bytes, decoded as a message, to an
// engine with signatures, budgets and gap detection on that follows one
// origin: nothing panics, the invariants hold, and no hole opens from a
// head its origin did not sign.
func FuzzReceiveHeads(f *testing.F) {
	codec, err := NewCodec(wire.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*Heads{{Heads: []Head{signedHead(1, 1, 12)}}, {Heads: []Head{{Origin: 1, Run: 1, Seq: 99}}}} {
		b, err := codec.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := codec.Decode(b)
		if err != nil {
			return
		}
		budgets := DefaultBudgets()
		cfg := Config{Members: &MembersConfig{Auth: sumAuth{2}}, Gaps: &GapsConfig{}, Budgets: &budgets}
		e, err := New(hyparview.Peer{ID: 2, Addr: "b"}, cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		e.Receive(t0, 1, signedGossip(1, 10, 1, "base"), &Ready{})
		e.Receive(t0, 3, msg, &Ready{})
		if err := e.Invariants(); err != nil {
			t.Fatal(err)
		}
		if e.gaps.open() > 0 {
			m, ok := msg.(*Heads)
			if !ok {
				t.Fatalf("a hole from %T", msg)
			}
			signed := false
			for _, h := range m.Heads {
				signed = signed || h.Origin == 1 && sumAuth{}.Verify(1, h.Key, SignedHeadBytes(plumtree.OriginSequenceID(1, h.Seq), h.Run), h.Sig)
			}
			if !signed {
				t.Fatalf("a hole from heads no origin signed: %+v", m.Heads)
			}
		}
	})
}
