package roster

import (
	"crypto/ed25519"
	"encoding/binary"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/wire"
)

// testAuth is a peer.Authenticator with real ed25519 keys, derived from
// each node's ID, and IDs bound to keys as the runtime binds them: a
// signature verifies only under the key of the ID it claims.
type testAuth struct{ self peer.ID }

// testKeys caches the keys, so that a verification costs what the
// runtime's does (a signature check), not a key derivation.
var testKeys sync.Map // peer.ID → ed25519.PrivateKey

func testKey(id peer.ID) ed25519.PrivateKey {
	if k, ok := testKeys.Load(id); ok {
		return k.(ed25519.PrivateKey)
	}
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, uint64(id))
	k := ed25519.NewKeyFromSeed(seed)
	testKeys.Store(id, k)
	return k
}

func (a testAuth) PublicKey() []byte { return testKey(a.self).Public().(ed25519.PublicKey) }

func (a testAuth) Sign(msg []byte) []byte { return ed25519.Sign(testKey(a.self), msg) }

func (testAuth) Verify(signer peer.ID, key, msg, sig []byte) bool {
	return string(key) == string(testAuth{signer}.PublicKey()) && ed25519.Verify(key, msg, sig)
}

// signedRoster returns node id's roster with signatures on.
func signedRoster(t tb, id peer.ID, inc uint64) *Roster {
	t.Helper()
	return newRoster(t, id, inc, Config{Auth: testAuth{id}})
}

// signedBy returns rec with a proof: signer's signature of the statement
// (which is only the member's if signer is rec.ID) and, for a Suspect or
// Failed record, declarer's declaration.
func signedBy(rec Record, signer, declarer peer.ID) Record {
	rec.Proof = &Proof{Key: testAuth{signer}.PublicKey(), Sig: testAuth{signer}.Sign(StatementBytes(&rec))}
	if declarer != 0 {
		rec.Proof.Declarer = declarer
		rec.Proof.DeclarerKey = testAuth{declarer}.PublicKey()
		rec.Proof.DeclarerSig = testAuth{declarer}.Sign(DeclarationBytes(rec.ID, rec.Incarnation, declarer))
	}
	return rec
}

// TestOwnRecordsAreSigned: with signatures on, every record a node says of
// itself (its first, a new metadata, a refutation, a refresh, its leave)
// verifies; another node takes each.
func TestOwnRecordsAreSigned(t *testing.T) {
	r := signedRoster(t, 2, 5)
	other := signedRoster(t, 1, 1)
	own := r.Record()
	require.NoError(t, VerifyRecord(testAuth{9}, &own))
	step(t, other, t0, receive(own))

	out := step(t, r, t0, Input{Kind: InputUpdateMeta, Meta: []byte("v2")})
	out = append(out, step(t, r, t0, receive(signedBy(rec(2, StateSuspect, 6), 2, 1)))...)
	out = append(out, step(t, r, t0, Input{Kind: InputAnnounce})...)
	var refresh Timer
	for _, tm := range timers(out) {
		if tm.Kind == TimerRefresh {
			refresh = tm
		}
	}
	require.Equal(t, TimerRefresh, refresh.Kind, "announcing arms the refresh")
	out = append(out, step(t, r, t0, fire(refresh))...)
	out = append(out, step(t, r, t0, Input{Kind: InputLeave})...)
	sent := broadcasts(out)
	require.Len(t, sent, 5)
	for i, b := range sent {
		require.NoError(t, VerifyRecord(testAuth{9}, &b), "broadcast %d: %v", i, b)
		step(t, other, t0, receive(b))
	}
	require.Equal(t, []uint64{6, 7, 7, 8, 8}, []uint64{sent[0].Incarnation, sent[1].Incarnation, sent[2].Incarnation, sent[3].Incarnation, sent[4].Incarnation},
		"new metadata, refutation, announcement, refresh, leave")
	require.Equal(t, uint64(1), r.Counters().Refreshes)
	got, _ := other.Get(2)
	require.Equal(t, StateLeft, got.State)
	require.Zero(t, other.Counters().Forged)
}

// TestForgedRecordsAreDropped: the rows of the attack on the member list
// that signatures close. A record about member 2 that 2 did not sign —
// unsigned, signed by the attacker 3, an Alive naming a declarer, a
// failure at an incarnation 2 never reached, even with the attacker's own
// declaration — is dropped and counted, and 2 stays Alive; the same holds
// for records about ourselves, which we do not refute.
func TestForgedRecordsAreDropped(t *testing.T) {
	const honest, attacker = peer.ID(2), peer.ID(3)
	r := signedRoster(t, 1, 1)
	step(t, r, t0, receive(signedBy(rec(honest, StateAlive, 4), honest, 0)))

	unsigned := rec(honest, StateAlive, 9)
	declaredAlive := signedBy(rec(honest, StateAlive, 9), honest, attacker)
	declaredAlive.Proof.DeclarerSig = testAuth{attacker}.Sign(DeclarationBytes(honest, 9, attacker))
	badDeclarer := signedBy(rec(honest, StateSuspect, 4), honest, attacker)
	badDeclarer.Proof.DeclarerKey = testAuth{4}.PublicKey()
	for i, forged := range []Record{
		unsigned,
		signedBy(rec(honest, StateAlive, 9), attacker, 0),
		declaredAlive,
		signedBy(rec(honest, StateFailed, math.MaxInt64), attacker, attacker),
		signedBy(rec(honest, StateSuspect, 5), attacker, attacker),
		signedBy(rec(honest, StateLeft, 9), attacker, 0),
		badDeclarer,
		signedBy(rec(honest, StateFailed, 4), honest, honest), // a member cannot declare itself
	} {
		out := step(t, r, t0, receive(forged))
		require.Empty(t, out, "record %d: %v", i, forged)
		require.Equal(t, uint64(i+1), r.Counters().Forged, "record %d", i)
		require.Error(t, VerifyRecord(testAuth{1}, &forged), "record %d", i)
	}
	got, _ := r.Get(honest)
	require.Equal(t, rec(honest, StateAlive, 4), Record{ID: got.ID, Addr: got.Addr, Incarnation: got.Incarnation, State: got.State})

	before := r.Record()
	out := step(t, r, t0, receive(signedBy(rec(1, StateFailed, math.MaxInt64), attacker, attacker)))
	require.Empty(t, out, "a forged failure of ours is not refuted")
	require.Equal(t, before.Incarnation, r.Record().Incarnation)
	require.Zero(t, r.Counters().Refutations)
	require.Zero(t, r.Counters().Unrefutable)
}

// TestMaliciousSuspicionIsRefuted: a member may suspect another at the
// incarnation that one signed, and every node takes the suspicion; the
// subject refutes with its next incarnation, which supersedes the
// suspicion everywhere, and the old suspicion, replayed, is stale. The
// Failed record a suspicion ends in carries the suspicion's proof, so two
// nodes that time it broadcast the same record, which a third verifies.
func TestMaliciousSuspicionIsRefuted(t *testing.T) {
	const subject, attacker = peer.ID(2), peer.ID(3)
	sub := signedRoster(t, subject, 4)
	a, b, c := signedRoster(t, 1, 1), signedRoster(t, 4, 1), signedRoster(t, 5, 1)
	for _, n := range []*Roster{a, b, c} {
		step(t, n, t0, receive(sub.Record()))
	}
	suspicion := signedBy(rec(subject, StateSuspect, 4), subject, attacker)
	suspicion.Proof.Sig = sub.Record().Proof.Sig // the subject's real statement
	var timed []Record
	for _, n := range []*Roster{a, b} {
		out := step(t, n, t0, receive(suspicion))
		require.Equal(t, []string{"suspect 2:suspect@4 addr=n2"}, events(out))
		var tm Timer
		for _, x := range timers(out) {
			if x.Kind == TimerSuspicion {
				tm = x
			}
		}
		timed = append(timed, broadcasts(step(t, n, t0.Add(5*time.Second), fire(tm)))...)
	}
	require.Len(t, timed, 2)
	require.Equal(t, timed[0], timed[1], "identical Failed records, deduplicated by content")
	require.Equal(t, attacker, timed[0].Proof.Declarer)
	out := step(t, c, t0, receive(timed[0]))
	require.Equal(t, []string{"fail 2:failed@4 addr=n2"}, events(out))

	refutation := broadcasts(step(t, sub, t0, receive(timed[0])))
	require.Len(t, refutation, 1)
	require.Equal(t, uint64(5), refutation[0].Incarnation)
	for _, n := range []*Roster{a, b, c} {
		step(t, n, t0, receive(refutation...))
		got, _ := n.Get(subject)
		require.Equal(t, StateAlive, got.State)
		require.Empty(t, step(t, n, t0, receive(suspicion, timed[0])), "the old declarations are stale")
	}
}

// TestLocalKnowledgeStaysLocal: with signatures on, what a node holds
// without its member's signature — a neighbour whose record has not
// arrived, its suspicion — is neither in the digest nor sent, and does not
// make others suspect; once the member's record arrives it is.
func TestLocalKnowledgeStaysLocal(t *testing.T) {
	r := signedRoster(t, 1, 1)
	step(t, r, t0, Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: 2, Addr: addr(2)}})
	require.Equal(t, []DigestEntry{{ID: 1, Incarnation: 1, State: StateAlive}}, r.Digest())
	send, _ := r.Diff(nil)
	require.Len(t, send, 1, "only our own record")
	require.Empty(t, r.AppendRecords(nil, []peer.ID{2}))
	out := step(t, r, t0, down(2, hyparview.DownFailed))
	require.Empty(t, broadcasts(out), "a suspicion without the member's statement stays here")
	require.Equal(t, []string{"suspect 2:suspect@0 addr=n2"}, events(out))

	step(t, r, t0, receive(signedBy(rec(2, StateAlive, 3), 2, 0)))
	require.Len(t, r.Digest(), 2)
	out = step(t, r, t0, down(2, hyparview.DownFailed))
	sent := broadcasts(out)
	require.Len(t, sent, 1)
	require.NoError(t, VerifyRecord(testAuth{7}, &sent[0]))
}

// TestSilentMembersExpire: a member of which no new record arrives for
// SilenceTimeout — one a peer invented, with a key no running node holds
// — is marked Failed here, reported, and neither sent nor in the digest,
// so anti-entropy cannot bring it back; its refresh does, and a member
// that refreshes is never silenced.
func TestSilentMembersExpire(t *testing.T) {
	cfg := Config{Auth: testAuth{1}, RefreshInterval: 10 * time.Minute, SilenceTimeout: 30 * time.Minute, ExpiryInterval: time.Minute}
	r := newRoster(t, 1, 1, cfg)
	invented, live := peer.ID(7), peer.ID(8)
	out := step(t, r, t0, receive(signedBy(rec(invented, StateAlive, 1), invented, 0), signedBy(rec(live, StateAlive, 1), live, 0)))
	sweep := timers(out)[0]
	require.Equal(t, TimerExpiry, sweep.Kind)
	now := t0
	for inc := uint64(2); now.Sub(t0) < 40*time.Minute; inc++ {
		now = now.Add(10 * time.Minute)
		step(t, r, now, receive(signedBy(rec(live, StateAlive, inc), live, 0)))
	}
	// The sweep re-arms itself; fire it as the driver would.
	out = step(t, r, now, fire(sweep))
	require.Equal(t, []string{"fail 7:failed@1 addr=n7"}, events(out))
	require.Empty(t, broadcasts(out), "silence is not declared to others")
	require.Equal(t, uint64(1), r.Counters().Silenced)
	got, _ := r.Get(live)
	require.Equal(t, StateAlive, got.State)
	for _, d := range r.Digest() {
		require.NotEqual(t, invented, d.ID)
	}
	send, _ := r.Diff([]DigestEntry{{ID: invented, Incarnation: 1, State: StateAlive}})
	for _, s := range send {
		require.NotEqual(t, invented, s.ID)
	}
	require.Empty(t, step(t, r, now, Input{Kind: InputMerge, Records: []Record{signedBy(rec(invented, StateAlive, 1), invented, 0)}}),
		"anti-entropy cannot bring the silent record back")

	out = step(t, r, now, receive(signedBy(rec(invented, StateAlive, 2), invented, 0)))
	require.Equal(t, []string{"join 7:alive@2 addr=n7"}, events(out), "a refresh revives it")
}

// TestSilenceNeedsMoreThanARefresh: a SilenceTimeout at or below the
// RefreshInterval would silence live members; it is refused.
func TestSilenceNeedsMoreThanARefresh(t *testing.T) {
	err := Config{RefreshInterval: time.Hour, SilenceTimeout: time.Hour}.Validate()
	require.ErrorContains(t, err, "SilenceTimeout")
}

// FuzzApplySigned decodes arbitrary bytes as a list of records (msgpack,
// as the wire carries them) and merges them into a roster with real
// ed25519 signatures on. Nothing may panic, the invariants must hold, and
// every record the roster would send must verify: the fuzzer, holding no
// key but the seeds', can only ever get back what was validly signed.
func FuzzApplySigned(f *testing.F) {
	valid := signedBy(rec(2, StateAlive, 3), 2, 0)
	suspicion := signedBy(rec(2, StateSuspect, 3), 2, 4)
	forged := signedBy(rec(2, StateFailed, math.MaxInt64), 5, 5)
	withRV := signedWithRendezvous(rec(3, StateAlive, 4), Rendezvous{ID: 2, Addr: addr(2), Unreachable: true})
	for _, recs := range [][]Record{{valid}, {valid, suspicion}, {forged}, {valid, forged, suspicion}, {withRV, valid}} {
		b, err := wire.MarshalValue(recs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		if wire.UnmarshalValue(data, &recs, wire.ValueLimits{MaxDepth: 6, MaxCollectionLen: 64}) != nil {
			return
		}
		r := signedRoster(t, 1, 1)
		if _, err := r.Step(t0, Input{Kind: InputMerge, Records: recs}, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.Invariants(); err != nil {
			t.Fatal(err)
		}
		ids := make([]peer.ID, 0, r.Len())
		for _, m := range r.Members() {
			ids = append(ids, m.ID)
		}
		for _, m := range r.AppendRecords(nil, ids) {
			if err := VerifyRecord(testAuth{9}, &m); err != nil {
				t.Fatalf("would send %v: %v", m, err)
			}
		}
	})
}

// A record equal to one held on local evidence only (a neighbour's entry,
// made at incarnation 0 before its own record arrived at incarnation 0
// too) lends it its proof, so that the record may then be sent on; a
// forged one does not.
func TestEqualSignedRecordLendsItsProof(t *testing.T) {
	r := signedRoster(t, 1, 1)
	step(t, r, t0, Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: 2, Addr: addr(2)}})
	require.Empty(t, r.AppendRecords(nil, []peer.ID{2}))
	forged := signedBy(rec(2, StateAlive, 0), 3, 0)
	require.Empty(t, step(t, r, t0, receive(forged)))
	require.Equal(t, uint64(1), r.Counters().Forged)
	require.Empty(t, r.AppendRecords(nil, []peer.ID{2}))
	require.Empty(t, step(t, r, t0, receive(signedBy(rec(2, StateAlive, 0), 2, 0))), "no change to report")
	sent := r.AppendRecords(nil, []peer.ID{2})
	require.Len(t, sent, 1)
	require.NoError(t, VerifyRecord(testAuth{9}, &sent[0]))
}
