package transport

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterCAFromSecretIsDeterministic(t *testing.T) {
	a1, err := ClusterCAFromSecret([]byte("correct horse battery staple"))
	require.NoError(t, err)
	a2, err := ClusterCAFromSecret([]byte("correct horse battery staple"))
	require.NoError(t, err)
	assert.True(t, a1.Equal(a2), "the same secret derives the same CA")
	b, err := ClusterCAFromSecret([]byte("correct horse battery stapler"))
	require.NoError(t, err)
	assert.False(t, a1.Equal(b), "another secret derives another CA")
	// Pinned, so the derivation cannot change silently: a change would
	// split every cluster during an upgrade.
	assert.Equal(t, "9d50359b06ea09e4ed4567bc447c783789c306fa3fc983500621beeb301a79a9",
		hex.EncodeToString(a1.Public().(ed25519.PublicKey)))
	_, err = ClusterCAFromSecret([]byte("fifteen bytes!!"))
	require.ErrorContains(t, err, "at least 16")
	_, err = ClusterCAFromSecret([]byte("sixteen bytes!!!"))
	require.NoError(t, err)
}

// Nodes certified by CAs derived from different secrets refuse each other;
// nodes sharing a secret connect.
func TestClusterSecretAdmission(t *testing.T) {
	node := func(t *testing.T, secret string) (Identity, Admission) {
		ca, err := ClusterCAFromSecret([]byte(secret))
		require.NoError(t, err)
		id := mustIdentity(t)
		id.CACert, err = IssueCertificate(ca, id.Public(), time.Hour)
		require.NoError(t, err)
		return id, Admission{CAKey: ca.Public().(ed25519.PublicKey)}
	}
	bothTransports(t, func(t *testing.T, mk newFunc) {
		idA, admA := node(t, "secret number one, long enough")
		idB, admB := node(t, "secret number one, long enough")
		idC, admC := node(t, "secret number two, long enough")
		a := mk(Config{Identity: idA, Admission: admA})
		b := mk(Config{Identity: idB, Admission: admB})
		c := mk(Config{Identity: idC, Admission: admC})
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		conn, err := b.Dial(ctx, a.Addr(), idA.Public())
		require.NoError(t, err, "same secret")
		_ = conn.Close("done")
		_, err = c.Dial(ctx, a.Addr(), idA.Public())
		require.ErrorIs(t, err, ErrNotAdmitted, "other secret")
	})
}
