package gossip

import (
	"bytes"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// step is one input of a detector table test: a delivery (seq > 0) of
// origin's broadcast seq of the run that started at run, or, with seq 0, a
// sweep at the time at.
type step struct {
	at     time.Duration
	origin peer.ID
	seq    uint64
	run    uint64
}

func sweepAt(at time.Duration) step { return step{at: at} }

func TestGapDetector(t *testing.T) {
	const grace = 40 * time.Second
	cfg := GapsConfig{Grace: grace, MaxOrigins: 2, MaxHoles: 2, MaxJump: 1000}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []Gap
		open  int // holes still open at the end
		c     gapCounters
	}{
		{name: "in order", steps: []step{{0, 1, 10, 0}, {1, 1, 11, 0}, {2, 1, 12, 0}, sweepAt(time.Hour)}},
		{name: "the first delivery sets the base", steps: []step{{0, 1, 100, 0}, {1, 1, 101, 0}, sweepAt(time.Hour)}},
		{name: "out of order", steps: []step{{0, 1, 10, 0}, {1, 1, 12, 0}, {2, 1, 11, 0}, sweepAt(time.Hour)}},
		{name: "filled late, before the grace ran out",
			steps: []step{{0, 1, 10, 0}, {0, 1, 15, 0}, {39 * time.Second, 1, 11, 0}, {39 * time.Second, 1, 14, 0},
				{39 * time.Second, 1, 12, 0}, {39 * time.Second, 1, 13, 0}, sweepAt(time.Hour)}},
		{name: "expired",
			steps: []step{{0, 1, 10, 0}, {0, 1, 15, 0}, sweepAt(grace - 1), sweepAt(grace)},
			want:  []Gap{{1, 11, 14, 4}}, c: gapCounters{reported: 1, missed: 4}},
		{name: "split by a late delivery, both halves expire",
			steps: []step{{0, 1, 10, 0}, {0, 1, 15, 0}, {1, 1, 12, 0}, sweepAt(grace)},
			want:  []Gap{{1, 11, 11, 1}, {1, 13, 14, 2}}, c: gapCounters{reported: 2, missed: 3}},
		{name: "each hole at its own deadline",
			steps: []step{{0, 1, 10, 0}, {0, 1, 12, 0}, {time.Second, 1, 14, 0}, sweepAt(grace)},
			want:  []Gap{{1, 11, 11, 1}}, open: 1, c: gapCounters{reported: 1, missed: 1}},
		{name: "a late copy after the report is no gap",
			steps: []step{{0, 1, 10, 0}, {0, 1, 12, 0}, sweepAt(grace), {grace, 1, 11, 0}, sweepAt(2 * grace)},
			want:  []Gap{{1, 11, 11, 1}}, c: gapCounters{reported: 1, missed: 1}},
		{name: "a jump over MaxJump is a new run, not a gap",
			steps: []step{{0, 1, 10, 0}, {1, 1, 1012, 0}, {2, 1, 1013, 0}, sweepAt(time.Hour)}, c: gapCounters{resets: 1}},
		{name: "a jump of MaxJump is a gap",
			steps: []step{{0, 1, 10, 0}, {1, 1, 1011, 0}, sweepAt(time.Hour)},
			want:  []Gap{{1, 11, 1010, 1000}}, c: gapCounters{reported: 1, missed: 1000}},
		{name: "a restart named by its run is no gap",
			steps: []step{{0, 1, 10, 1}, {1, 1, 5_000_000, 5_000_000}, {2, 1, 5_000_001, 5_000_000}, sweepAt(time.Hour)}},
		{name: "the first broadcasts of a new run missed",
			steps: []step{{0, 1, 10, 1}, {1, 1, 5_000_003, 5_000_000}, sweepAt(time.Hour)},
			want:  []Gap{{1, 5_000_000, 5_000_002, 3}}, c: gapCounters{reported: 1, missed: 3}},
		{name: "the old run's hole is filled after the restart",
			steps: []step{{0, 1, 10, 1}, {0, 1, 12, 1}, {1, 1, 5_000_000, 5_000_000}, {2, 1, 11, 1}, sweepAt(time.Hour)}},
		{name: "the old run's hole expires after the restart",
			steps: []step{{0, 1, 10, 1}, {0, 1, 12, 1}, {1, 1, 5_000_000, 5_000_000}, sweepAt(time.Hour)},
			want:  []Gap{{1, 11, 11, 1}}, c: gapCounters{reported: 1, missed: 1}},
		{name: "holes over MaxHoles report the oldest at once",
			steps: []step{{0, 1, 10, 0}, {0, 1, 12, 0}, {0, 1, 14, 0}, {0, 1, 16, 0}},
			want:  []Gap{{1, 11, 11, 1}}, open: 2, c: gapCounters{reported: 1, missed: 1, early: 1}},
		{name: "a split at MaxHoles keeps one hole",
			steps: []step{{0, 1, 10, 0}, {0, 1, 12, 0}, {0, 1, 20, 0}, {0, 1, 15, 0}, sweepAt(grace)},
			want:  []Gap{{1, 11, 11, 1}, {1, 13, 19, 7}}, c: gapCounters{reported: 2, missed: 8}},
		{name: "origins over MaxOrigins evict the least recent, reporting its holes",
			steps: []step{{0, 1, 10, 0}, {0, 1, 12, 0}, {1, 2, 10, 0}, {2, 3, 10, 0}, {3, 1, 14, 0}, {4, 1, 16, 0}, sweepAt(time.Hour)},
			// 3 evicts 1 (its hole reported), 1 again evicts 2, and 1 is
			// followed from a new base (14): no hole for 13.
			want: []Gap{{1, 11, 11, 1}, {1, 15, 15, 1}}, c: gapCounters{reported: 2, missed: 2, early: 1, evicted: 2}},
		{name: "several origins are reported in the order of their IDs",
			steps: []step{{0, 2, 10, 0}, {0, 2, 12, 0}, {0, 1, 10, 0}, {0, 1, 13, 0}, sweepAt(grace)},
			want:  []Gap{{1, 11, 12, 2}, {2, 11, 11, 1}}, c: gapCounters{reported: 2, missed: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGaps(cfg, 30*time.Second)
			var got []Gap
			for _, s := range tc.steps {
				now := t0.Add(s.at)
				if s.seq == 0 {
					got, _ = g.sweep(now, got)
					continue
				}
				got, _ = g.deliver(now, s.origin, s.seq, s.run, got)
				require.LessOrEqual(t, len(g.origins), cfg.MaxOrigins)
				for _, o := range g.origins {
					require.LessOrEqual(t, len(o.holes), cfg.MaxHoles)
				}
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.open, g.open())
			require.Equal(t, tc.c, g.c)
		})
	}
}

// The grace defaults to PayloadRetention plus the slack, and the sweep
// asks to fire again at the next deadline, never sooner than a tenth of
// the grace.
func TestGapDefaultsAndRearm(t *testing.T) {
	g := newGaps(GapsConfig{}, 30*time.Second)
	require.Equal(t, 30*time.Second+DefaultGapSlack, g.grace)
	require.Equal(t, DefaultGapMaxOrigins, g.maxOrigins)
	require.Equal(t, DefaultGapMaxHoles, g.maxHole)
	require.Equal(t, uint64(DefaultGapMaxJump), g.maxJump)

	g.deliver(t0, 1, 1, 0, nil)
	_, opened := g.deliver(t0, 1, 3, 0, nil)
	require.True(t, opened)
	g.deliver(t0.Add(time.Second), 1, 5, 0, nil)
	got, next := g.sweep(t0.Add(g.grace), nil)
	require.Equal(t, []Gap{{1, 2, 2, 1}}, got)
	require.Equal(t, g.grace/10, next, "one second to the next deadline, spaced to a tenth of the grace")
	got, next = g.sweep(t0.Add(g.grace+time.Second), nil)
	require.Equal(t, []Gap{{1, 4, 4, 1}}, got)
	require.Zero(t, next, "nothing open: no timer")
	require.Error(t, (&GapsConfig{Grace: -1}).Validate())
}

// sumAuth signs with a key that names the signer and a checksum of the
// message (FNV-1a): unlike fakeAuth, a change of a byte is a forgery.
type sumAuth struct{ self peer.ID }

func (s sumAuth) PublicKey() []byte { return []byte{byte(s.self)} }
func (s sumAuth) Sign(msg []byte) []byte {
	h := fnv.New64a()
	h.Write(msg)
	return h.Sum([]byte{byte(s.self)})
}
func (sumAuth) Verify(origin peer.ID, key, msg, sig []byte) bool {
	return len(key) == 1 && peer.ID(key[0]) == origin && bytes.Equal(sig, sumAuth{origin}.Sign(msg))
}

// signedEngine is an engine with the member list, signatures (sumAuth)
// and gap detection with a grace of grace.
func signedEngine(t *testing.T, id peer.ID, grace time.Duration) *Engine {
	t.Helper()
	cfg := Config{Members: &MembersConfig{Auth: sumAuth{id}}, Gaps: &GapsConfig{Grace: grace}}
	e, err := New(hyparview.Peer{ID: id, Addr: "a"}, cfg, rand.New(rand.NewPCG(uint64(id), 1)))
	require.NoError(t, err)
	return e
}

// signedGossip is origin's broadcast seq of the run run, signed as
// Engine.Broadcast signs it.
func signedGossip(origin peer.ID, seq, run uint64, data string) *plumtree.Gossip {
	id := plumtree.OriginSequenceID(origin, seq)
	a := sumAuth{origin}
	env := &Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte(data), Run: run, Key: a.PublicKey(),
		Sig: a.Sign(SignedOriginBytes(id, "t", []byte(data))), RunSig: a.Sign(SignedOriginRunBytes(id, run, "t", []byte(data))),
		HeadSig: a.Sign(SignedHeadBytes(id, run))}
	b, err := EncodeEnvelope(env)
	if err != nil {
		panic(err)
	}
	return &plumtree.Gossip{ID: id, Payload: b}
}

// The engine feeds verified deliveries to the detector, arms its timer
// when a hole opens, and reports the gap when the timer fires; a forged or
// unsigned broadcast far ahead never opens a hole.
func TestEngineReportsGapsOfVerifiedBroadcastsOnly(t *testing.T) {
	const grace = 40 * time.Second
	e := signedEngine(t, 2, grace)
	got := do(t, e, func(out *Ready) { e.Receive(t0, 1, signedGossip(1, 10, 1, "base"), out) })
	require.Len(t, got.Deliveries, 1)

	unsigned := mustEncode(t, &Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("x"), Run: 1})
	tamper := func(change func(*Envelope)) *plumtree.Gossip {
		g := signedGossip(1, 1<<40, 1, "x")
		env, err := DecodeEnvelope(g.Payload)
		require.NoError(t, err)
		change(&env)
		g.Payload = mustEncode(t, &env)
		return g
	}
	for i, g := range []*plumtree.Gossip{
		{ID: plumtree.OriginSequenceID(1, 1<<40), Payload: unsigned},
		tamper(func(env *Envelope) { env.Run = 1 << 40 }), // a run that would hide the hole: RunSig covers it
		tamper(func(env *Envelope) { env.RunSig = nil }),  // a run without its signature
		tamper(func(env *Envelope) { env.Sig, env.RunSig = env.RunSig, env.Sig }),
	} {
		got = do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) })
		require.True(t, got.Empty(), "forgery %d is neither delivered nor fed to the detector", i)
	}
	require.Equal(t, uint64(4), e.Counters().Engine.ForgedOrigins)
	require.Zero(t, e.gaps.open(), "no hole from a forgery")

	got = do(t, e, func(out *Ready) { e.Receive(t0, 1, signedGossip(1, 13, 1, "ahead"), out) })
	require.Len(t, got.Deliveries, 1)
	var tm *TimerSet
	for i := range got.Timers {
		if got.Timers[i].Timer.Kind() == TimerGaps {
			tm = &got.Timers[i]
		}
	}
	require.NotNil(t, tm, "a hole arms the gap timer")
	require.Equal(t, grace, tm.After)
	got = do(t, e, func(out *Ready) { e.Receive(t0, 1, signedGossip(1, 14, 1, "next"), out) })
	for _, ts := range got.Timers {
		require.NotEqual(t, TimerGaps, ts.Timer.Kind(), "one gap timer at a time")
	}
	got = do(t, e, func(out *Ready) { e.Receive(t0.Add(time.Second), 1, signedGossip(1, 12, 1, "late"), out) })
	require.Len(t, got.Deliveries, 1)

	got = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(grace), tm.Timer, out) })
	require.Equal(t, []Gap{{Origin: 1, First: 11, Last: 11, Count: 1}}, got.Gaps)
	require.Empty(t, got.Timers, "nothing open: the timer is not set again")
	got = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(2*grace), tm.Timer, out) })
	require.True(t, got.Empty(), "a timer fired twice does nothing")
	c := e.Counters().Engine
	require.Equal(t, uint64(1), c.GapsReported)
	require.Equal(t, uint64(1), c.MessagesReportedMissed)

	// A clone follows the same holes independently.
	do(t, e, func(out *Ready) { e.Receive(t0.Add(grace), 1, signedGossip(1, 16, 1, "again"), out) })
	cl, err := e.Clone(rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	do(t, cl, func(out *Ready) { cl.Receive(t0.Add(grace), 1, signedGossip(1, 15, 1, "fill"), out) })
	require.Equal(t, 1, e.gaps.open())
	require.Equal(t, 0, cl.gaps.open())
}

// Without Config.Gaps, or under content-hash IDs, there is no detector;
// the origin names its run in its envelopes and signs it.
func TestGapDetectorOnlyWhereSequencesAre(t *testing.T) {
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, Config{Members: &MembersConfig{}}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	require.Nil(t, e.gaps)
	e, err = New(hyparview.Peer{ID: 1, Addr: "a"}, Config{Members: &MembersConfig{}, Gaps: &GapsConfig{},
		Plumtree: plumtree.Config{IDPolicy: plumtree.IDContentHash}}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	require.Nil(t, e.gaps)

	cfg := Config{Members: &MembersConfig{Auth: sumAuth{1}}, Plumtree: plumtree.Config{FirstSequence: 500}}
	origin, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	do(t, origin, func(out *Ready) { origin.Join(t0, nil, out) })
	do(t, origin, func(out *Ready) { origin.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	out := &Ready{}
	id, err := origin.Broadcast(t0, "t", []byte("hi"), out)
	require.NoError(t, err)
	require.Equal(t, plumtree.OriginSequenceID(1, 500), id)
	var g *plumtree.Gossip
	for _, s := range out.Sends {
		if m, ok := s.Msg.(*plumtree.Gossip); ok && m.ID == id {
			g = m
		}
	}
	require.NotNil(t, g, "the broadcast goes to the neighbour")
	env, err := DecodeEnvelope(g.Payload)
	require.NoError(t, err)
	require.Equal(t, uint64(500), env.Run, "the envelope names the run")
	require.True(t, sumAuth{}.Verify(1, env.Key, SignedOriginRunBytes(id, 500, "t", []byte("hi")), env.RunSig), "RunSig covers the run")
	require.True(t, sumAuth{}.Verify(1, env.Key, SignedOriginBytes(id, "t", []byte("hi")), env.Sig), "Sig is what earlier versions check")

	// A node of an earlier version, which knows neither Run nor RunSig,
	// decodes the envelope and verifies Sig: a rolling upgrade loses
	// nothing.
	var old envelopeV1
	require.NoError(t, wire.UnmarshalValue(g.Payload, &old, envelopeLimits))
	require.True(t, sumAuth{}.Verify(1, old.Key, SignedOriginBytes(id, old.Topic, old.Data), old.Sig))

	// An envelope stripped of its run is an earlier version's: delivered
	// (Sig is valid), and followed without a run.
	r := signedEngine(t, 2, time.Second)
	old.Sig = env.Sig
	stripped, err := wire.MarshalValue(&old)
	require.NoError(t, err)
	got := do(t, r, func(out *Ready) { r.Receive(t0, 1, &plumtree.Gossip{ID: id, Payload: stripped}, out) })
	require.Len(t, got.Deliveries, 1)
}

// An envelope without a run is encoded as before Run existed, so member
// records keep their content-derived IDs, and decodes with Run 0; a
// record envelope naming a run is malformed.
func TestEnvelopeRunEncoding(t *testing.T) {
	old, err := wire.MarshalValue(&envelopeV1{Kind: EnvelopeApp, Topic: "t", Data: []byte("d")})
	require.NoError(t, err)
	require.Equal(t, old, mustEncode(t, &Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d")}))
	e, err := DecodeEnvelope(old)
	require.NoError(t, err)
	require.Zero(t, e.Run)
	bad := mustEncode(t, &Envelope{Kind: EnvelopeRecords, Records: []roster.Record{{ID: 1, Addr: "a", Incarnation: 1}}, Run: 3})
	_, err = DecodeEnvelope(bad)
	require.ErrorIs(t, err, ErrMalformedEnvelope)
	withRun := mustEncode(t, &Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d"), Run: 9})
	require.NotEqual(t, old, withRun)
	e, err = DecodeEnvelope(withRun)
	require.NoError(t, err)
	require.Equal(t, uint64(9), e.Run)
	require.NotEqual(t, SignedOriginRunBytes(plumtree.MessageID{}, 9, "t", nil), SignedOriginBytes(plumtree.MessageID{}, "t", nil))
	require.Equal(t, SignedOriginRunBytes(plumtree.MessageID{}, 0, "t", nil), SignedOriginBytes(plumtree.MessageID{}, "t", nil))
}

// FuzzGapDetector feeds one origin's deliveries, in any order, with gaps,
// duplicates and sweeps at any time, to detectors with room for every
// hole and with tight bounds. Nothing is lost silently: once every grace
// has run out, each sequence between the base and the highest delivered
// was either delivered or reported, and reported at most once. With room
// for every hole nothing is reported once delivered (a late copy may be
// delivered after its report). The bounds hold throughout.
func FuzzGapDetector(f *testing.F) {
	f.Add([]byte{0, 2, 1, 5, 0xff, 3, 4})
	f.Add([]byte{10, 0, 20, 0xff, 5, 15, 0xff, 30})
	f.Add([]byte{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 2, 6, 10})
	f.Fuzz(func(t *testing.T, ops []byte) {
		for _, maxHoles := range []int{len(ops) + 1, 2} {
			const grace = 10 * time.Second
			g := newGaps(GapsConfig{Grace: grace, MaxHoles: maxHoles, MaxJump: 1 << 10}, grace)
			now := t0
			base, high := uint64(0), uint64(0)
			delivered := map[uint64]bool{}
			var gaps []Gap
			checked := 0
			checkNew := func() {
				for _, gp := range gaps[checked:] {
					for s := gp.First; s <= gp.Last && maxHoles > len(ops); s++ {
						if delivered[s] {
							t.Fatalf("delivered sequence %d reported", s)
						}
					}
				}
				checked = len(gaps)
			}
			for _, op := range ops {
				now = now.Add(time.Second)
				if op == 0xff {
					gaps, _ = g.sweep(now, gaps)
					checkNew()
					continue
				}
				seq := 1000 + uint64(op)
				if len(delivered) == 0 {
					base = seq
				}
				if seq < base || delivered[seq] {
					continue // before the base, or a copy Plumtree would not deliver
				}
				delivered[seq], high = true, max(high, seq)
				gaps, _ = g.deliver(now, 1, seq, 0, gaps)
				checkNew()
				if o := g.origins[1]; len(o.holes) > maxHoles {
					t.Fatalf("%d holes, bound %d", len(o.holes), maxHoles)
				}
			}
			gaps, _ = g.sweep(now.Add(grace), gaps)
			checkNew()
			if g.open() != 0 {
				t.Fatalf("%d holes open after every grace", g.open())
			}
			reported := map[uint64]bool{}
			var missed uint64
			for _, gp := range gaps {
				if gp.Count != gp.Last-gp.First+1 || gp.Origin != 1 {
					t.Fatalf("bad notice %+v", gp)
				}
				missed += gp.Count
				for s := gp.First; s <= gp.Last; s++ {
					if reported[s] {
						t.Fatalf("sequence %d reported twice", s)
					}
					reported[s] = true
				}
			}
			for s := base; s <= high && len(delivered) > 0; s++ {
				if !delivered[s] && !reported[s] {
					t.Fatalf("sequence %d lost silently (maxHoles %d, gaps %+v)", s, maxHoles, gaps)
				}
			}
			if g.c.reported != uint64(len(gaps)) || g.c.missed != missed {
				t.Fatalf("counters %+v for %d notices of %d", g.c, len(gaps), missed)
			}
		}
	})
}

// A restarted origin starts a new run far ahead (the runtime seeds it
// from the wall clock): the receiver reports no gap for the sequences
// between the runs, but does for the first broadcasts of the new run it
// missed.
func TestEngineTellsARestartFromAGap(t *testing.T) {
	const grace = time.Second
	e := signedEngine(t, 2, grace)
	const run2 = 1_700_000_000_000_000_000
	var timers []Timer
	for _, g := range []*plumtree.Gossip{
		signedGossip(1, 1, 1, "a"), signedGossip(1, 2, 1, "b"),
		signedGossip(1, run2, run2, "restarted"), signedGossip(1, run2+1, run2, "next"),
		signedGossip(1, run2+1000, run2+1000, "again"), // another restart, no gap
		signedGossip(1, run2+2003, run2+2000, "missed three"),
	} {
		got := do(t, e, func(out *Ready) { e.Receive(t0, 1, g, out) })
		require.Len(t, got.Deliveries, 1)
		for _, ts := range got.Timers {
			if ts.Timer.Kind() == TimerGaps {
				timers = append(timers, ts.Timer)
			}
		}
	}
	require.Len(t, timers, 1, "one hole, one timer")
	got := do(t, e, func(out *Ready) { e.TimerFired(t0.Add(grace), timers[0], out) })
	require.Equal(t, []Gap{{Origin: 1, First: run2 + 2000, Last: run2 + 2002, Count: 3}}, got.Gaps)
	require.Zero(t, e.Counters().Engine.GapResets, "the runs told the restarts apart")
}
