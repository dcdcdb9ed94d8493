package gossip

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

var t0 = time.Unix(0, 0).UTC()

func newEngine(t *testing.T, id peer.ID) *Engine {
	t.Helper()
	e, err := New(hyparview.Peer{ID: id, Addr: "addr"}, Config{}, rand.New(rand.NewPCG(uint64(id), 1)))
	require.NoError(t, err)
	return e
}

// do runs one input against a fresh batch, checks the invariants and
// returns the batch.
func do(t *testing.T, e *Engine, input func(out *Ready)) *Ready {
	t.Helper()
	out := &Ready{}
	input(out)
	require.NoError(t, e.Invariants())
	return out
}

// A neighbour that comes up in HyParView becomes an eager peer in Plumtree,
// and a broadcast then goes to it; Broadcast returns the ID it delivers
// under.
func TestNeighborUpFeedsPlumtree(t *testing.T) {
	contact := newEngine(t, 1)
	do(t, contact, func(out *Ready) { contact.Join(t0, nil, out) })
	out := do(t, contact, func(out *Ready) { contact.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	require.Equal(t, []NeighborChange{{Peer: hyparview.Peer{ID: 2, Addr: "b"}, Up: true}}, out.Neighbors)
	eager, _ := contact.PushPeers()
	require.Equal(t, []peer.ID{2}, eager)

	var id plumtree.MessageID
	out = do(t, contact, func(out *Ready) {
		var err error
		id, err = contact.Broadcast(t0, "", []byte("hello"), out)
		require.NoError(t, err)
	})
	require.Len(t, out.Sends, 1)
	require.Equal(t, peer.ID(2), out.Sends[0].To.ID, "the broadcast goes to the new neighbour")
	require.Equal(t, "hello", string(out.Sends[0].Msg.(*plumtree.Gossip).Payload))
	require.Equal(t, []Delivery{{ID: id, Payload: []byte("hello"), From: 1}}, out.Deliveries, "the origin delivers its own broadcast, under the returned ID")
	active, passive := contact.ViewSizes()
	require.Equal(t, [2]int{1, 0}, [2]int{active, passive})
	sz := contact.PlumtreeSizes()
	require.Equal(t, 1, sz.CachedPayloads, "the broadcast is retained for repairs")
	require.Equal(t, len("hello"), sz.CachedBytes)
}

// A neighbour whose connection fails leaves both of Plumtree's push sets.
func TestNeighborDownLeavesPlumtree(t *testing.T) {
	contact := newEngine(t, 1)
	do(t, contact, func(out *Ready) { contact.Join(t0, nil, out) })
	do(t, contact, func(out *Ready) { contact.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	out := do(t, contact, func(out *Ready) { contact.ConnectionFailed(t0, 2, out) })
	require.Equal(t, []NeighborChange{{Peer: hyparview.Peer{ID: 2, Addr: "b"}, Reason: hyparview.DownFailed}}, out.Neighbors)
	eager, lazy := contact.PushPeers()
	require.Empty(t, eager)
	require.Empty(t, lazy)
}

// A timer carries what it is for and goes back to the core that set it; a
// timer that fires twice does no harm (the core checks), and the zero
// Timer is ignored and counted.
func TestTimersGoBackToTheirCore(t *testing.T) {
	e := newEngine(t, 1)
	out := do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	require.Len(t, out.Timers, 1)
	shuffle := out.Timers[0]
	require.Equal(t, TimerShuffle, shuffle.Timer.Kind())
	require.Positive(t, shuffle.After)

	out = do(t, e, func(out *Ready) { e.TimerFired(t0, shuffle.Timer, out) })
	require.Len(t, out.Timers, 1, "the shuffle timer re-arms itself")
	require.Equal(t, TimerShuffle, out.Timers[0].Timer.Kind())
	require.NotEqual(t, shuffle.Timer, out.Timers[0].Timer, "under a new nonce")
	out = do(t, e, func(out *Ready) { e.TimerFired(t0, shuffle.Timer, out) })
	require.True(t, out.Empty(), "the old shuffle timer, fired again, is stale")

	out = do(t, e, func(out *Ready) { e.TimerFired(t0, Timer{}, out) })
	require.True(t, out.Empty())
	require.Equal(t, uint64(1), e.Counters().Engine.UnknownTimers)
}

// Every core's timer survives the round trip through Timer.
func TestTimerRoundTrip(t *testing.T) {
	id := plumtree.OriginSequenceID(7, 1<<40+3)
	for _, tc := range []struct {
		kind TimerKind
		tm   Timer
		back func(Timer) any
		want any
	}{
		{TimerNeighborRequest, hyparviewTimer(hyparview.Timer{Kind: hyparview.TimerNeighborRequest, Peer: 9, Nonce: 1 << 63}), func(t Timer) any { return t.hyparview() },
			hyparview.Timer{Kind: hyparview.TimerNeighborRequest, Peer: 9, Nonce: 1 << 63}},
		{TimerGraft, plumtreeTimer(plumtree.Timer{Kind: plumtree.TimerGraft, ID: id}), func(t Timer) any { return t.plumtree() },
			plumtree.Timer{Kind: plumtree.TimerGraft, ID: id}},
		{TimerDispatch, plumtreeTimer(plumtree.Timer{Kind: plumtree.TimerDispatch}), func(t Timer) any { return t.plumtree() },
			plumtree.Timer{Kind: plumtree.TimerDispatch}},
		{TimerSuspicion, rosterTimer(roster.Timer{Kind: roster.TimerSuspicion, ID: 4, Incarnation: 5}), func(t Timer) any { return t.roster() },
			roster.Timer{Kind: roster.TimerSuspicion, ID: 4, Incarnation: 5}},
		{TimerExpiry, rosterTimer(roster.Timer{Kind: roster.TimerExpiry, Nonce: 6}), func(t Timer) any { return t.roster() },
			roster.Timer{Kind: roster.TimerExpiry, Nonce: 6}},
	} {
		require.Equal(t, tc.kind, tc.tm.Kind())
		require.Equal(t, tc.want, tc.back(tc.tm), "%v", tc.kind)
		require.NotEqual(t, "", tc.kind.String())
	}
}

// Only the timers that bound the wait for a peer's answer name the peer
// (Timer.Awaits), so that a driver still connecting to it holds them.
func TestTimerAwaits(t *testing.T) {
	hv := func(k hyparview.TimerKind) Timer { return hyparviewTimer(hyparview.Timer{Kind: k, Peer: 9, Nonce: 3}) }
	for _, tc := range []struct {
		tm     Timer
		awaits bool
	}{
		{hv(hyparview.TimerNeighborRequest), true},
		{hv(hyparview.TimerJoin), true},
		{hv(hyparview.TimerShuffle), false},
		{plumtreeTimer(plumtree.Timer{Kind: plumtree.TimerGraft, ID: plumtree.OriginSequenceID(9, 3)}), false},
		{rosterTimer(roster.Timer{Kind: roster.TimerSuspicion, ID: 9, Incarnation: 3}), false},
		{Timer{kind: TimerViews, a: 9}, false},
		{Timer{}, false},
	} {
		id, ok := tc.tm.Awaits()
		require.Equal(t, tc.awaits, ok, "%v", tc.tm.Kind())
		if ok {
			require.Equal(t, peer.ID(9), id, "%v", tc.tm.Kind())
		}
	}
}

// Messages of no layer are counted and dropped; misuse is an error.
func TestBadInputs(t *testing.T) {
	e := newEngine(t, 1)
	for _, m := range []Message{&strayMessage{}, &Digest{}, &Records{}} {
		out := do(t, e, func(out *Ready) { e.Receive(t0, 2, m, out) })
		require.True(t, out.Empty())
	}
	require.Equal(t, EngineCounters{UnknownMessages: 3}, e.Counters().Engine)

	out := &Ready{}
	_, err := e.Broadcast(t0, "", make([]byte, plumtree.DefaultMaxPayloadBytes+1), out)
	require.Error(t, err, "a payload over the limit is refused")
	_, err = e.Broadcast(t0, "news", []byte("x"), out)
	require.ErrorIs(t, err, ErrNoMembers, "topics need the member list")
	require.ErrorIs(t, e.UpdateMeta(t0, nil, out), ErrNoMembers)
	require.True(t, out.Empty())
}

// A bad configuration is an error at construction.
func TestNewRejectsBadConfig(t *testing.T) {
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(1, 1)) }
	for _, cfg := range []Config{
		{HyParView: hyparview.Config{ActiveViewSize: -1}},
		{Plumtree: plumtree.Config{GraftTimeout1: -time.Second}},
		{Members: &MembersConfig{SyncInterval: -time.Second}},
		{Members: &MembersConfig{RejoinInterval: -time.Second}},
	} {
		_, err := New(hyparview.Peer{ID: 1}, cfg, rng())
		require.Error(t, err, "%+v", cfg)
	}
	_, err := New(hyparview.Peer{ID: 1}, Config{}, nil)
	require.Error(t, err)
	require.NoError(t, ProductionConfig([]byte("meta")).Validate())
}

// Reset empties a batch and Empty tells.
func TestReadyReset(t *testing.T) {
	r := &Ready{Sends: []Send{{}}, Closes: []peer.ID{1}, Timers: []TimerSet{{}}, Deliveries: []Delivery{{}},
		Events: []MemberEvent{{}}, Neighbors: []NeighborChange{{}}, ResolveContacts: true}
	for _, clearOne := range []func(){
		func() { r.Sends = nil }, func() { r.Closes = nil }, func() { r.Timers = nil }, func() { r.Deliveries = nil },
		func() { r.Events = nil }, func() { r.Neighbors = nil }, func() { r.ResolveContacts = false },
	} {
		require.False(t, r.Empty())
		clearOne()
	}
	require.True(t, r.Empty())
	r.Sends = append(r.Sends, Send{Msg: &plumtree.Prune{}})
	r.Reset()
	require.True(t, r.Empty())
	require.Positive(t, cap(r.Sends), "Reset keeps the storage")
}

// strayMessage is a sealed message of no layer of the engine.
type strayMessage struct{ peer.Sealed }

// Footprint names memory for a payload not seen lately, and nothing for
// any other message or a recent duplicate.
func TestFootprintNamesWhatAPayloadTouches(t *testing.T) {
	e := newEngine(t, 1)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	do(t, e, func(out *Ready) { e.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	first := &plumtree.Gossip{ID: plumtree.OriginSequenceID(2, 1), Payload: []byte("x")}
	do(t, e, func(out *Ready) { e.Receive(t0, 2, first, out) }) // the seen-ID table exists from the first payload
	g := &plumtree.Gossip{ID: plumtree.OriginSequenceID(2, 2), Payload: []byte("y")}
	f := e.Footprint(g)
	require.NotNil(t, f.Slot)
	require.NotNil(t, f.Item)
	require.NotNil(t, f.Held)
	require.NotNil(t, f.Eager)
	do(t, e, func(out *Ready) { e.Receive(t0, 2, g, out) })
	require.Equal(t, plumtree.Footprint{}, e.Footprint(g), "a recent duplicate")
	require.Equal(t, plumtree.Footprint{}, e.Footprint(&plumtree.Prune{}), "not a payload")
}

// fakeAuth signs with a key that names the signer: the signature is the
// key followed by the message's length, enough to tell forgeries apart.
type fakeAuth struct{ self peer.ID }

func (f fakeAuth) PublicKey() []byte { return []byte{byte(f.self)} }
func (f fakeAuth) Sign(msg []byte) []byte {
	return []byte{byte(f.self), byte(len(msg))}
}
func (fakeAuth) Verify(origin peer.ID, key, msg, sig []byte) bool {
	return len(key) == 1 && peer.ID(key[0]) == origin && len(sig) == 2 && sig[0] == key[0] && sig[1] == byte(len(msg))
}

// With signatures on, a node signs its broadcasts (the receiver delivers
// them) and drops, before delivery and relay, a payload whose origin did
// not sign it or that is not an envelope, and a broadcast record its
// member did not sign.
// Content-hash IDs cannot be signed ahead and are refused.
func TestOriginSignatures(t *testing.T) {
	mk := func(id peer.ID) *Engine {
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{id}}}
		e, err := New(hyparview.Peer{ID: id, Addr: "a"}, cfg, rand.New(rand.NewPCG(uint64(id), 1)))
		require.NoError(t, err)
		return e
	}
	origin, receiver := mk(1), mk(2)
	do(t, origin, func(out *Ready) { origin.Join(t0, nil, out) })
	do(t, origin, func(out *Ready) { origin.Receive(t0, 2, &hyparview.Join{Addr: "b", Nonce: 7}, out) })
	out := &Ready{}
	id, err := origin.Broadcast(t0, "news", []byte("hi"), out)
	require.NoError(t, err)
	var sent []byte
	for _, s := range out.Sends {
		if g, ok := s.Msg.(*plumtree.Gossip); ok && g.ID == id {
			sent = g.Payload
		}
	}
	require.NotNil(t, sent, "the broadcast goes to the neighbour")
	got := do(t, receiver, func(out *Ready) { receiver.Receive(t0, 1, &plumtree.Gossip{ID: id, Payload: sent}, out) })
	require.Len(t, got.Deliveries, 1, "a signed broadcast is delivered")

	forge := func(key byte, data string) []byte {
		return mustEncode(t, &Envelope{Kind: EnvelopeApp, Topic: "news", Data: []byte(data), Key: []byte{key},
			Sig: fakeAuth{peer.ID(key)}.Sign(SignedOriginBytes(plumtree.OriginSequenceID(1, 9), "news", []byte(data)))})
	}
	for i, p := range [][]byte{
		forge(3, "signed by 3 under 1's ID"),
		mustEncode(t, &Envelope{Kind: EnvelopeApp, Topic: "news", Data: []byte("unsigned")}),
		[]byte("not an envelope"),
	} {
		got = do(t, receiver, func(out *Ready) {
			receiver.Receive(t0, 1, &plumtree.Gossip{ID: plumtree.OriginSequenceID(1, uint64(10+i)), Payload: p}, out)
		})
		require.True(t, got.Empty(), "payload %d is neither delivered nor relayed", i)
	}
	require.Equal(t, uint64(2), receiver.Counters().Engine.ForgedOrigins)
	require.Equal(t, uint64(1), receiver.Counters().Engine.MalformedPayloads)

	unsigned := roster.Record{ID: 5, Addr: "e", Incarnation: 1, State: roster.StateAlive}
	rec := mustEncode(t, &Envelope{Kind: EnvelopeRecords, Records: []roster.Record{unsigned}})
	got = do(t, receiver, func(out *Ready) {
		receiver.Receive(t0, 1, &plumtree.Gossip{ID: plumtree.ContentHashID(rec), Payload: rec}, out)
	})
	require.True(t, got.Empty(), "an unsigned record is neither applied nor relayed")
	_, ok := receiver.Member(5)
	require.False(t, ok)
	require.Equal(t, uint64(1), receiver.Counters().Engine.ForgedRecords)

	signed := unsigned
	signed.Proof = &roster.Proof{Key: fakeAuth{5}.PublicKey(), Sig: fakeAuth{5}.Sign(roster.StatementBytes(&unsigned))}
	rec = mustEncode(t, &Envelope{Kind: EnvelopeRecords, Records: []roster.Record{signed}})
	do(t, receiver, func(out *Ready) {
		receiver.Receive(t0, 1, &plumtree.Gossip{ID: plumtree.ContentHashID(rec), Payload: rec}, out)
	})
	_, ok = receiver.Member(5)
	require.True(t, ok, "a record its member signed is applied")

	cfg := Config{Plumtree: plumtree.Config{IDPolicy: plumtree.IDContentHash}, Members: &MembersConfig{Auth: fakeAuth{1}}}
	require.ErrorIs(t, cfg.Validate(), ErrOriginsNeedSequenceIDs)
}
