package gossip

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// countingAuth counts the checks that reach it.
type countingAuth struct {
	fakeAuth
	checks int
}

func (c *countingAuth) Verify(signer peer.ID, key, msg, sig []byte) bool {
	c.checks++
	return c.fakeAuth.Verify(signer, key, msg, sig)
}

// A signature that verified is checked again by a hash, not by the
// wrapped Authenticator; one that did not verify is never remembered; a
// signature remembered for one message vouches for no other; the memory
// is bounded and the oldest generation re-verified.
func TestVerifiedSigs(t *testing.T) {
	inner := &countingAuth{}
	var hits uint64
	v := newVerifiedSigs(inner, &hits)
	msg := []byte("statement")
	good := fakeAuth{7}.Sign(msg)
	key := fakeAuth{7}.PublicKey()

	require.True(t, v.Verify(7, key, msg, good))
	require.True(t, v.Verify(7, key, msg, good))
	require.Equal(t, 1, inner.checks, "the second check is remembered")
	require.EqualValues(t, 1, hits)

	require.False(t, v.Verify(8, key, msg, good), "another signer")
	require.False(t, v.Verify(7, key, []byte("other statement"), good), "another message")
	require.False(t, v.Verify(7, key, msg, []byte{7, 0}), "a forged signature")
	require.False(t, v.Verify(7, key, msg, []byte{7, 0}), "a forged signature, again")
	require.Equal(t, 5, inner.checks, "failures reach the wrapped check every time")
	require.EqualValues(t, 1, hits)

	// Fill two generations with other signatures: the first is forgotten.
	for i := range 2 * verifiedGeneration {
		m := []byte{byte(i), byte(i >> 8), 1, 2, 3}
		require.True(t, v.Verify(7, key, m, fakeAuth{7}.Sign(m)))
	}
	require.LessOrEqual(t, len(v.cur)+len(v.prev), 2*verifiedGeneration)
	before := inner.checks
	require.True(t, v.Verify(7, key, msg, good))
	require.Equal(t, before+1, inner.checks, "forgotten, so verified again")
}

// A member's statement rides in every record declared about it: the
// Suspect record broadcast after its Alive record costs the engine one
// check (the declaration), not two.
func TestRecordStatementVerifiedOnce(t *testing.T) {
	inner := &countingAuth{fakeAuth: fakeAuth{2}}
	e, err := New(hyparview.Peer{ID: 2, Addr: "b"}, Config{Members: &MembersConfig{Auth: inner}}, rand.New(rand.NewPCG(2, 1)))
	require.NoError(t, err)
	alive := roster.Record{ID: 5, Addr: "e", Incarnation: 1, State: roster.StateAlive}
	alive.Proof = &roster.Proof{Key: fakeAuth{5}.PublicKey(), Sig: fakeAuth{5}.Sign(roster.StatementBytes(&alive))}
	suspect := alive
	suspect.State = roster.StateSuspect
	suspect.Proof = &roster.Proof{Key: alive.Proof.Key, Sig: alive.Proof.Sig, Declarer: 6, DeclarerKey: fakeAuth{6}.PublicKey(),
		DeclarerSig: fakeAuth{6}.Sign(roster.DeclarationBytes(5, 1, 6))}
	for _, r := range []roster.Record{alive, suspect} {
		p := mustEncode(t, &Envelope{Kind: EnvelopeRecords, Records: []roster.Record{r}})
		do(t, e, func(out *Ready) { e.Receive(t0, 1, &plumtree.Gossip{ID: plumtree.ContentHashID(p), Payload: p}, out) })
	}
	require.EqualValues(t, 2, e.Counters().Roster.Applied, "both records taken")
	require.Zero(t, e.Counters().Engine.ForgedRecords)
	require.Equal(t, 2, inner.checks, "the statement once, the declaration once")
	require.EqualValues(t, 1, e.Counters().Engine.SignaturesRemembered)
}
