package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// With -trust-members on both agents, broadcasts are neither signed nor
// checked and are delivered; an agent that signs (the default) drops the
// unsigned broadcasts of one that does not, and counts them in its status
// as forged origins: every agent of a cluster must use the same setting.
func TestTrustMembersThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	a := startAgent(t, dir, "a", "-trust-members")
	b := startAgent(t, dir, "b", "-trust-members", "-seeds", a.addr())
	c := startAgent(t, dir, "c", "-seeds", a.addr()) // signs and checks, the default
	waitFor(t, 20*time.Second, "the three agents see each other", func() bool {
		return len(a.members(t)) == 3 && len(b.members(t)) == 3 && len(c.members(t)) == 3
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subB, err := b.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{"t"}})
	require.NoError(t, err)
	subC, err := c.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{"t"}})
	require.NoError(t, err)
	for _, p := range []*proc{b, c} {
		waitFor(t, 20*time.Second, "the stream is registered", func() bool {
			st, err := p.client(t).Status(ctx, &gossipdv1.StatusRequest{})
			require.NoError(t, err)
			return st.GetCounters()["subscribers"] >= 1
		})
	}
	_, err = a.client(t).Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("unsigned")})
	require.NoError(t, err)
	m, err := subB.Recv()
	require.NoError(t, err)
	require.Equal(t, "unsigned", string(m.GetMessage().GetPayload()), "a trusting agent delivers it")

	waitFor(t, 20*time.Second, "c counts a's broadcast as forged", func() bool {
		st, err := c.client(t).Status(ctx, &gossipdv1.StatusRequest{})
		require.NoError(t, err)
		return st.GetCounters()["protocol_forged_origins"] >= 1
	})
	_, err = c.client(t).Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("signed")})
	require.NoError(t, err)
	m, err = subC.Recv()
	require.NoError(t, err)
	require.Equal(t, "signed", string(m.GetMessage().GetPayload()), "c never delivered the unsigned broadcast")
}
