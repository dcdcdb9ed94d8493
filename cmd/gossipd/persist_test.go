package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/plumview/plumview/cmd/gossipd/internal/datadir"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/transport"
)

func testKey(t *testing.T) ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return pub
}

func addrOf(k ed25519.PublicKey, port int) string {
	return fmt.Sprintf("%s@127.0.0.1:%d", base64.RawURLEncoding.EncodeToString(k), port)
}

// Without a saved state the start point is the wall clock's; with one,
// the incarnation and sequence are above the saved ones however far back
// the clock went, and above the clock's when it is ahead.
func TestRestoreStartsAboveSavedAndClock(t *testing.T) {
	self := testKey(t)
	sp, err := restore(nil, 5000, self)
	require.NoError(t, err)
	require.Equal(t, startPoint{incarnation: 5000, firstSequence: 5000}, sp)
	sp, err = restore(nil, 0, self)
	require.NoError(t, err)
	require.Equal(t, startPoint{incarnation: 1, firstSequence: 1}, sp, "never 0, which means 'the default'")

	saved := &datadir.State{Incarnation: 90, SequenceReserved: 700}
	sp, err = restore(saved, 10, self)
	require.NoError(t, err)
	require.Equal(t, uint64(91), sp.incarnation)
	require.Equal(t, uint64(700), sp.firstSequence)
	sp, err = restore(saved, 9000, self)
	require.NoError(t, err)
	require.Equal(t, uint64(9000), sp.incarnation)
	require.Equal(t, uint64(9000), sp.firstSequence)

	_, err = restore(&datadir.State{Incarnation: roster.MaxIncarnation}, 10, self)
	require.ErrorContains(t, err, "largest possible")
}

// The saved members become contacts: valid addresses other than this
// node's, without duplicates, at most maxSavedContacts.
func TestRestoreContacts(t *testing.T) {
	self := testKey(t)
	other := addrOf(testKey(t), 1)
	saved := &datadir.State{Members: []string{addrOf(self, 9), other, other, "127.0.0.1:5", "garbage@x:1"}}
	sp, err := restore(saved, 1, self)
	require.NoError(t, err)
	require.Equal(t, []string{other}, sp.contacts)

	saved.Members = nil
	for i := range 50 {
		saved.Members = append(saved.Members, addrOf(testKey(t), i))
	}
	sp, err = restore(saved, 1, self)
	require.NoError(t, err)
	require.Len(t, sp.contacts, maxSavedContacts)
	for _, c := range sp.contacts {
		require.Contains(t, saved.Members, c)
	}
}

// The retention flags default to the protocol's defaults.
func TestRetentionFlagDefaults(t *testing.T) {
	var c agentConfig
	require.NoError(t, agentFlags(&c).Parse(nil))
	require.NoError(t, c.checkRetention())
	require.Equal(t, 64<<20, c.retentionBytes)
	require.Equal(t, 64<<20, c.resumeRetainBytes)
	require.Equal(t, 4096, c.resumeRetain)
	require.Equal(t, "30s", c.retention.String())
	require.Zero(t, c.calmRetention, "10 s, or -retention when shorter (membership.Config)")
}

// Before the node has joined, a save keeps the saved members (the node
// knows nobody yet: an agent stopped before it rejoins must find them
// again) while it records the new incarnation; once joined, the members it
// lists alive replace them.
func TestPersisterKeepsSavedMembersUntilJoined(t *testing.T) {
	dir := t.TempDir()
	store, _, err := datadir.Open(dir)
	require.NoError(t, err)
	other := addrOf(testKey(t), 1)
	require.NoError(t, store.Save(datadir.State{Incarnation: 10, Members: []string{other}}))
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := transport.NewMemNetwork(1).Listen("n", id, transport.MemConfig{})
	require.NoError(t, err)
	mc := membership.Config{Transport: tr}
	mc.Roster.Incarnation = 11
	node, err := membership.New(mc)
	require.NoError(t, err)
	defer node.Close()
	joined := false
	p := &persister{store: store, node: node, log: zap.NewNop(), joined: func() bool { return joined }}

	p.save()
	_, st, err := datadir.Open(dir)
	require.NoError(t, err)
	require.Equal(t, uint64(11), st.Incarnation)
	require.Equal(t, []string{other}, st.Members)
	require.Equal(t, fmt.Sprintf("%016x", node.ID()), st.NodeID)

	require.NoError(t, node.Join(context.Background()))
	joined = true
	p.save()
	_, st, err = datadir.Open(dir)
	require.NoError(t, err)
	require.Empty(t, st.Members, "alone in its cluster now")
}
