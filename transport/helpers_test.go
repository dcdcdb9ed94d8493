package transport

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait on the real network.
const waitTimeout = 5 * time.Second

func mustIdentity(t testing.TB) Identity {
	t.Helper()
	id, err := GenerateIdentity()
	require.NoError(t, err)
	return id
}

func newQUIC(t testing.TB, cfg Config) *QUIC {
	t.Helper()
	if cfg.Identity.Key == nil {
		cfg.Identity = mustIdentity(t)
	}
	q, err := ListenQUIC(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func keyOf(tr Transport) ed25519.PublicKey {
	switch tr := tr.(type) {
	case *QUIC:
		return tr.cfg.Identity.Public()
	case interface{ identity() Identity }:
		return tr.identity().Public()
	}
	panic("unknown transport")
}

// connect dials b from a and returns both ends.
func connect(t testing.TB, a, b Transport) (Conn, Conn) {
	t.Helper()
	return connectWithin(t, a, b, waitTimeout)
}

// connectWithin is connect with its own bound, for links that lose
// packets: a handshake whose packets are lost in a row waits out QUIC's
// doubling probe timeouts.
func connectWithin(t testing.TB, a, b Transport, bound time.Duration) (Conn, Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	ca, err := a.Dial(ctx, b.Addr(), keyOf(b))
	require.NoError(t, err)
	cb, err := b.Accept(ctx)
	require.NoError(t, err)
	return ca, cb
}

func receive(t testing.TB, c Conn) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	f, err := c.Receive(ctx)
	require.NoError(t, err)
	return f
}

// waitDone waits for c to end within d and returns its Err.
func waitDone(t testing.TB, c Conn, d time.Duration) error {
	t.Helper()
	select {
	case <-c.Done():
		require.Error(t, c.Err())
		return c.Err()
	case <-time.After(d):
		t.Fatalf("connection still open after %v", d)
		return nil
	}
}

func closeReason(t testing.TB, err error) (string, bool) {
	t.Helper()
	var ce *CloseError
	require.True(t, errors.As(err, &ce), "want *CloseError, got %v", err)
	return ce.Reason, ce.Remote
}
