package roster

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/wire"
)

// signedWithRendezvous returns rec naming v, signed by its member.
func signedWithRendezvous(rec Record, v Rendezvous) Record {
	rec.Proof = &Proof{Rendezvous: &v}
	rec.Proof.Key, rec.Proof.Sig = testAuth{rec.ID}.PublicKey(), testAuth{rec.ID}.Sign(StatementBytes(&rec))
	return rec
}

// TestRendezvousIsSigned: a member that sets a rendezvous raises its
// incarnation and broadcasts a record whose proof names it and verifies;
// another node takes it and hands it out with the rendezvous; a
// suspicion of the member carries the statement with its rendezvous, and
// verifies; the same again changes nothing; clearing it is a new
// statement of the first form.
func TestRendezvousIsSigned(t *testing.T) {
	r := signedRoster(t, 2, 5)
	other := signedRoster(t, 1, 1)
	v := Rendezvous{ID: 7, Addr: addr(7), Unreachable: true}
	out := step(t, r, t0, Input{Kind: InputSetRendezvous, Rendezvous: v})
	sent := broadcasts(out)
	require.Len(t, sent, 1)
	require.Equal(t, uint64(6), sent[0].Incarnation)
	require.Equal(t, v, sent[0].Rendezvous())
	require.Equal(t, v, r.OwnRendezvous())
	require.NoError(t, VerifyRecord(testAuth{9}, &sent[0]))
	require.True(t, strings.HasPrefix(string(StatementBytes(&sent[0])), rendezvousDomain))

	step(t, other, t0, receive(sent[0]))
	held, ok := other.Get(2)
	require.True(t, ok)
	require.Equal(t, v, held.Rendezvous())
	require.Zero(t, other.Counters().Forged)

	// A suspicion by node 1 carries 2's statement, rendezvous included.
	out = step(t, other, t0, down(2, hyparview.DownFailed))
	sus := broadcasts(out)
	require.Len(t, sus, 1)
	require.Equal(t, StateSuspect, sus[0].State)
	require.Equal(t, v, sus[0].Rendezvous())
	require.NoError(t, VerifyRecord(testAuth{9}, &sus[0]))

	require.Empty(t, step(t, r, t0, Input{Kind: InputSetRendezvous, Rendezvous: v}), "the same rendezvous again")
	out = step(t, r, t0, Input{Kind: InputSetRendezvous})
	sent = broadcasts(out)
	require.Len(t, sent, 1)
	require.Equal(t, Rendezvous{}, sent[0].Rendezvous())
	require.Nil(t, sent[0].Proof.Rendezvous)
	require.True(t, strings.HasPrefix(string(StatementBytes(&sent[0])), statementDomain))
	require.NoError(t, VerifyRecord(testAuth{9}, &sent[0]))

	// A refresh keeps the rendezvous.
	step(t, r, t0, Input{Kind: InputSetRendezvous, Rendezvous: v})
	step(t, r, t0, Input{Kind: InputAnnounce}) // arms the refresh
	out = step(t, r, t0, fire(Timer{Kind: TimerRefresh}))
	sent = broadcasts(out)
	require.Len(t, sent, 1)
	require.Equal(t, v, sent[0].Rendezvous())
	require.NoError(t, VerifyRecord(testAuth{9}, &sent[0]))
}

// TestRendezvousCannotBeForged: a record whose rendezvous was changed,
// added or removed on the way no longer verifies and is dropped; so is
// one whose statement of the first form is passed off with a rendezvous.
func TestRendezvousCannotBeForged(t *testing.T) {
	honest := signedBy(rec(2, StateAlive, 4), 2, 0)
	withRV := rec(2, StateAlive, 4)
	withRV.Proof = &Proof{Rendezvous: &Rendezvous{ID: 7, Addr: addr(7)}}
	withRV = Record{ID: 2, Addr: addr(2), Incarnation: 4, State: StateAlive,
		Proof: &Proof{Key: testAuth{2}.PublicKey(), Sig: testAuth{2}.Sign(StatementBytes(&withRV)), Rendezvous: withRV.Proof.Rendezvous}}
	require.NoError(t, VerifyRecord(testAuth{1}, &withRV))

	changed := withRV
	changed.Proof = withRV.Proof.clone()
	changed.Proof.Rendezvous.ID = 3 // the attacker names itself
	added := honest
	added.Proof = honest.Proof.clone()
	added.Proof.Rendezvous = &Rendezvous{ID: 3}
	removed := withRV
	removed.Proof = withRV.Proof.clone()
	removed.Proof.Rendezvous = nil
	flag := withRV
	flag.Proof = withRV.Proof.clone()
	flag.Proof.Rendezvous.Unreachable = true
	for i, forged := range []Record{changed, added, removed, flag} {
		r := signedRoster(t, 1, 1)
		require.Error(t, VerifyRecord(testAuth{1}, &forged), "record %d", i)
		require.Empty(t, step(t, r, t0, receive(forged)), "record %d", i)
		require.Equal(t, uint64(1), r.Counters().Forged, "record %d", i)
	}
}

// TestRendezvousBounds: a rendezvous naming the member itself, one with
// an address but no ID, or an address over MaxAddrBytes makes the record
// malformed; setting such a rendezvous, or any without signatures, is an
// error.
func TestRendezvousBounds(t *testing.T) {
	for i, v := range []Rendezvous{{ID: 2}, {Addr: "x"}, {ID: 7, Addr: strings.Repeat("a", MaxAddrBytes+1)}} {
		bad := rec(2, StateAlive, 4)
		bad.Proof = &Proof{Rendezvous: &v}
		bad.Proof.Key, bad.Proof.Sig = testAuth{2}.PublicKey(), testAuth{2}.Sign(StatementBytes(&bad))
		r := signedRoster(t, 1, 1)
		require.Empty(t, step(t, r, t0, receive(bad)), "rendezvous %d", i)
		require.Equal(t, uint64(1), r.Counters().Malformed, "rendezvous %d", i)

		own := signedRoster(t, 2, 1)
		_, err := own.Step(t0, Input{Kind: InputSetRendezvous, Rendezvous: v}, nil)
		require.ErrorIs(t, err, ErrBadRendezvous, "rendezvous %d", i)
		require.Equal(t, uint64(1), own.Record().Incarnation)
	}
	unsigned := newRoster(t, 2, 1, Config{})
	_, err := unsigned.Step(t0, Input{Kind: InputSetRendezvous, Rendezvous: Rendezvous{ID: 7}}, nil)
	require.ErrorIs(t, err, ErrUnsigned)
}

// legacyProof and legacyRecord are Proof and Record as they were before
// the rendezvous: what a node of an earlier version decodes.
type legacyProof struct {
	Key, Sig    []byte
	Declarer    peer.ID
	DeclarerKey []byte
	DeclarerSig []byte
}

type legacyRecord struct {
	ID          peer.ID
	Addr        string
	Meta        []byte
	Incarnation uint64
	State       State
	Proof       *legacyProof
}

// TestRendezvousOnTheWire: a record without a proof encodes byte for byte
// as before (the simulator's records); a record with a rendezvous
// decodes, whole, on a node of this version, and on a node of an earlier
// one as the same record without the rendezvous (the trailing field is
// skipped).
func TestRendezvousOnTheWire(t *testing.T) {
	plain := Record{ID: 2, Addr: addr(2), Meta: []byte("m"), Incarnation: 4, State: StateAlive}
	b, err := wire.MarshalValue(&plain)
	require.NoError(t, err)
	legacy, err := wire.MarshalValue(&legacyRecord{ID: 2, Addr: addr(2), Meta: []byte("m"), Incarnation: 4, State: StateAlive})
	require.NoError(t, err)
	require.Equal(t, legacy, b)

	with := plain
	with.Proof = &Proof{Key: []byte("k"), Sig: []byte("s"), Rendezvous: &Rendezvous{ID: 7, Addr: addr(7), Unreachable: true}}
	b, err = wire.MarshalValue(&with)
	require.NoError(t, err)
	var got Record
	require.NoError(t, wire.UnmarshalValue(b, &got, wire.ValueLimits{MaxDepth: 6, MaxCollectionLen: 64}))
	require.Equal(t, with, got)
	var old legacyRecord
	require.NoError(t, wire.UnmarshalValue(b, &old, wire.ValueLimits{MaxDepth: 6, MaxCollectionLen: 64}))
	require.Equal(t, legacyRecord{ID: 2, Addr: addr(2), Meta: []byte("m"), Incarnation: 4, State: StateAlive,
		Proof: &legacyProof{Key: []byte("k"), Sig: []byte("s")}}, old)
}
