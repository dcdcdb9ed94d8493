package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newFunc makes a transport with cfg (Identity generated if unset).
type newFunc func(cfg Config) Transport

// bothTransports runs body against QUIC on loopback and against a
// MemNetwork inside a synctest bubble: the two must behave alike.
func bothTransports(t *testing.T, body func(t *testing.T, mk newFunc)) {
	t.Run("quic", func(t *testing.T) {
		body(t, func(cfg Config) Transport { return newQUIC(t, cfg) })
	})
	t.Run("mem", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := NewMemNetwork(1)
			i := 0
			body(t, func(cfg Config) Transport { i++; return newMem(t, n, fmt.Sprintf("node%d", i), cfg) })
		})
	})
}

func newMem(t testing.TB, n *MemNetwork, addr string, cfg Config) Transport {
	t.Helper()
	if cfg.Identity.Key == nil {
		cfg.Identity = mustIdentity(t)
	}
	tr, err := n.Listen(addr, cfg.Identity, MemConfig{
		MaxFrameBytes: cfg.MaxFrameBytes, SendQueueFrames: cfg.SendQueueFrames,
		IdleTimeout: cfg.IdleTimeout, CloseTimeout: cfg.CloseTimeout, Admission: cfg.Admission, MaxProtocol: cfg.MaxProtocol,
		DatagramBudget: cfg.DatagramBudget, SignedDatagrams: cfg.SignedDatagrams,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestExchangeBothWays(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ca, cb := connect(t, a, b)
		assert.True(t, cb.RemoteKey().Equal(keyOf(a)), "acceptor sees the dialler's key")
		assert.True(t, ca.RemoteKey().Equal(keyOf(b)))
		assert.Equal(t, b.Addr(), ca.RemoteAddr())
		for i := range 100 {
			require.NoError(t, ca.Send(fmt.Appendf(nil, "a%d", i)))
			require.NoError(t, cb.Send(fmt.Appendf(nil, "b%d", i)))
		}
		for i := range 100 {
			assert.Equal(t, fmt.Sprintf("a%d", i), string(receive(t, cb)))
			assert.Equal(t, fmt.Sprintf("b%d", i), string(receive(t, ca)))
		}
		sa, sb := a.Stats(), b.Stats()
		assert.Equal(t, int64(1), sa.Dials)
		assert.Equal(t, int64(1), sb.Accepts)
		assert.Equal(t, int64(100), sa.FramesSent)
		assert.Equal(t, int64(100), sb.FramesReceived)
		assert.Equal(t, int64(1), sa.ConnsOpen)
		assert.Equal(t, int64(290), sb.BytesReceived) // 10×2 + 90×3 bytes
	})
}

func TestDialWrongKeyFails(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err := a.Dial(ctx, b.Addr(), mustIdentity(t).Public())
		assert.ErrorIs(t, err, ErrWrongKey)
		s := a.Stats()
		assert.Equal(t, int64(1), s.DialFailures)
		assert.Equal(t, int64(1), s.Rejected)
		assert.Equal(t, int64(0), s.ConnsOpen)
	})
}

func TestAdmission(t *testing.T) {
	_, caKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, otherCA, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	listed := mustIdentity(t)
	// identity builds one inside the bubble: certificates must be valid
	// on the clock the transport reads.
	identity := func(t *testing.T, kind string) Identity {
		switch kind {
		case "listed":
			return listed
		case "plain":
			return mustIdentity(t)
		}
		ca := map[string]ed25519.PrivateKey{"ca": caKey, "other-ca": otherCA}[kind]
		id := mustIdentity(t)
		id.CACert, err = IssueCertificate(ca, id.Public(), time.Hour)
		require.NoError(t, err)
		return id
	}
	caAdm := Admission{CAKey: caKey.Public().(ed25519.PublicKey)}
	listAdm := Admission{AllowList: []ed25519.PublicKey{listed.Public()}}
	rotAdm := Admission{CAKey: caAdm.CAKey, ExtraCAKeys: []ed25519.PublicKey{otherCA.Public().(ed25519.PublicKey)}}
	for _, tc := range []struct {
		name             string
		dialer, listener string
		dialAdm, lisAdm  Admission
		want             error
		rejectedAtDialer bool
	}{
		{"CA-signed peers accepted", "ca", "ca", caAdm, caAdm, nil, false},
		{"unsigned dialler refused by listener", "plain", "ca", Admission{}, caAdm, ErrNotAdmitted, false},
		{"dialler refuses unsigned listener", "ca", "plain", caAdm, Admission{}, ErrNotAdmitted, true},
		{"other CA refused", "other-ca", "ca", Admission{}, caAdm, ErrNotAdmitted, false},
		{"allow-listed dialler accepted", "listed", "plain", Admission{}, listAdm, nil, false},
		{"unlisted dialler refused", "plain", "plain", Admission{}, listAdm, ErrNotAdmitted, false},
		{"zero admission admits anyone", "plain", "other-ca", Admission{}, Admission{}, nil, false},
		{"extra CA key accepted", "other-ca", "ca", Admission{}, rotAdm, nil, false},
		{"extra CA key alone accepted", "other-ca", "plain", Admission{}, Admission{ExtraCAKeys: rotAdm.ExtraCAKeys}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bothTransports(t, func(t *testing.T, mk newFunc) {
				dialer, listener := identity(t, tc.dialer), identity(t, tc.listener)
				a := mk(Config{Identity: dialer, Admission: tc.dialAdm})
				b := mk(Config{Identity: listener, Admission: tc.lisAdm})
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				c, err := a.Dial(ctx, b.Addr(), listener.Public())
				if tc.want == nil {
					require.NoError(t, err)
					cb, err := b.Accept(ctx)
					require.NoError(t, err)
					assert.True(t, cb.RemoteKey().Equal(dialer.Public()))
					_ = c.Close("done")
					return
				}
				require.ErrorIs(t, err, tc.want)
				assert.Equal(t, int64(1), a.Stats().DialFailures)
				if tc.rejectedAtDialer {
					assert.Equal(t, int64(1), a.Stats().Rejected)
				} else {
					assert.Equal(t, int64(1), b.Stats().Rejected)
				}
				assert.Equal(t, int64(0), b.Stats().Accepts)
			})
		})
	}
}

func TestOversizedFrameClosesConn(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{MaxFrameBytes: 1024})
		ca, cb := connect(t, a, b)
		require.NoError(t, ca.Send(make([]byte, 1024)))
		require.NoError(t, ca.Send(make([]byte, 1025)))
		assert.Len(t, receive(t, cb), 1024)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err := cb.Receive(ctx)
		assert.ErrorIs(t, err, ErrFrameTooLarge)
		assert.ErrorIs(t, waitDone(t, cb, waitTimeout), ErrFrameTooLarge)
		assert.Equal(t, int64(1), b.Stats().OversizedFrames)
		waitDone(t, ca, waitTimeout) // the sender learns the conn is gone
		// The sender refuses frames above its own limit without queueing.
		big := make([]byte, DefaultMaxFrameBytes+1)
		c2, _ := connect(t, b, a)
		assert.ErrorIs(t, c2.Send(big[:1025]), ErrFrameTooLarge)
		assert.Equal(t, int64(2), b.Stats().OversizedFrames)
	})
}

func TestSendQueueFull(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{SendQueueFrames: 4}), mk(Config{})
		ca, _ := connect(t, a, b) // b never reads
		frame := make([]byte, 64<<10)
		var err error
		for i := 0; i < 100000 && err == nil; i++ {
			err = ca.Send(frame)
		}
		assert.ErrorIs(t, err, ErrSendQueueFull)
		assert.Equal(t, int64(1), a.Stats().SendQueueFull)
		// Once the peer's buffers are full the writer blocks for good: a
		// full queue stays full, and its depth is the bound.
		require.Eventually(t, func() bool {
			for ca.Send(frame) == nil {
			}
			time.Sleep(20 * time.Millisecond)
			return ca.Queued() == 4
		}, waitTimeout, time.Millisecond)
	})
}

// Queued counts the frames not yet written: none on a fresh connection,
// none once a reading peer took them.
func TestQueuedDrains(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ca, cb := connect(t, a, b)
		assert.Equal(t, 0, ca.Queued())
		for range 50 {
			require.NoError(t, ca.Send([]byte("x")))
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		for range 50 {
			_, err := cb.Receive(ctx)
			require.NoError(t, err)
		}
		assert.Equal(t, 0, ca.Queued())
	})
}

func TestCloseFlushesAndCarriesReason(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ca, cb := connect(t, a, b)
		payload := bytes.Repeat([]byte("x"), 1000)
		for range 500 {
			require.NoError(t, ca.Send(payload))
		}
		require.NoError(t, ca.Close("bye"))
		require.NoError(t, ca.Close("again"), "Close is idempotent")
		assert.ErrorIs(t, ca.Send(payload), ErrClosed)
		for i := range 500 {
			require.Len(t, receive(t, cb), 1000, "frame %d", i)
		}
		reason, remote := closeReason(t, waitDone(t, cb, waitTimeout))
		assert.Equal(t, "bye", reason)
		assert.True(t, remote)
		reason, remote = closeReason(t, waitDone(t, ca, waitTimeout))
		assert.Equal(t, "bye", reason)
		assert.False(t, remote)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err := cb.Receive(ctx)
		assert.ErrorIs(t, err, ErrClosed)
		assert.Equal(t, int64(0), a.Stats().ConnsOpen)
		assert.Equal(t, int64(0), b.Stats().ConnsOpen)
	})
}

func TestTransportCloseEndsEverything(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ca, cb := connect(t, a, b)
		require.NoError(t, b.Close())
		require.NoError(t, b.Close(), "Close is idempotent")
		reason, remote := closeReason(t, waitDone(t, ca, waitTimeout))
		assert.Equal(t, "transport closed", reason)
		assert.True(t, remote)
		assert.ErrorIs(t, waitDone(t, cb, waitTimeout), ErrClosed)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, err := b.Accept(ctx)
		assert.ErrorIs(t, err, ErrClosed)
		_, err = b.Dial(ctx, a.Addr(), keyOf(a))
		assert.ErrorIs(t, err, ErrClosed)
		assert.ErrorIs(t, cb.Send([]byte("x")), ErrClosed)
	})
}

func TestSimultaneousDialsBothValid(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		type result struct {
			c   Conn
			err error
		}
		ra, rb := make(chan result, 1), make(chan result, 1)
		go func() { c, err := a.Dial(ctx, b.Addr(), keyOf(b)); ra <- result{c, err} }()
		go func() { c, err := b.Dial(ctx, a.Addr(), keyOf(a)); rb <- result{c, err} }()
		inA, err := a.Accept(ctx)
		require.NoError(t, err)
		inB, err := b.Accept(ctx)
		require.NoError(t, err)
		outA, outB := <-ra, <-rb
		require.NoError(t, outA.err)
		require.NoError(t, outB.err)
		require.NoError(t, outA.c.Send([]byte("a->b")))
		require.NoError(t, outB.c.Send([]byte("b->a")))
		assert.Equal(t, "a->b", string(receive(t, inB)))
		assert.Equal(t, "b->a", string(receive(t, inA)))
		assert.Equal(t, int64(2), a.Stats().ConnsOpen)
	})
}

func TestReceiveHonoursContext(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ca, _ := connect(t, a, b)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := ca.Receive(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NoError(t, ca.Err(), "the conn is still open")
	})
}

func TestCloseNotBlockedByStalledPeer(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{SendQueueFrames: 4}), mk(Config{})
		ca, _ := connect(t, a, b) // b never reads: the writer blocks
		frame := make([]byte, 64<<10)
		var err error
		for i := 0; i < 100000 && err == nil; i++ {
			err = ca.Send(frame)
		}
		require.ErrorIs(t, err, ErrSendQueueFull)
		start := time.Now()
		require.NoError(t, ca.Close("stalled"))
		reason, remote := closeReason(t, waitDone(t, ca, 2*DefaultCloseTimeout))
		assert.Equal(t, "stalled", reason)
		assert.False(t, remote)
		assert.Less(t, time.Since(start), 2*DefaultCloseTimeout)
	})
}

// A dial with a nil key pins nothing: it reaches whoever listens at the
// address and learns its key from the handshake; admission still applies.
func TestDialUnpinnedLearnsKey(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		require.True(t, a.PublicKey().Equal(keyOf(a)))
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		ca, err := a.Dial(ctx, b.Addr(), nil)
		require.NoError(t, err)
		assert.True(t, ca.RemoteKey().Equal(keyOf(b)), "the dialler learns the peer's key")
		cb, err := b.Accept(ctx)
		require.NoError(t, err)
		assert.True(t, cb.RemoteKey().Equal(keyOf(a)))

		strict := mk(Config{Admission: Admission{AllowList: []ed25519.PublicKey{mustIdentity(t).Public()}}})
		_, err = a.Dial(ctx, strict.Addr(), nil)
		require.ErrorIs(t, err, ErrNotAdmitted, "admission applies to unpinned dials")
	})
}

// A peer that gives up on a connection for a reason of its own (its dial
// timed out after we accepted, a failure on its side) ends it deliberately
// and is alive: the other end sees a *CloseError with Remote set and the
// peer's reason, not a failure, so the runtime does not suspect a live
// peer (membership's connEnded). Before, QUIC and the in-memory network
// reported "peer closed the connection: …" as a plain error, and under
// load dial timeouts made live peers suspected by the hundred.
func TestPeerGivingUpIsARemoteClose(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ca, cb := connect(t, a, b)
		gaveUp := errors.New("handshake timeout")
		ca.(*conn).fail(gaveUp)
		reason, remote := closeReason(t, waitDone(t, cb, waitTimeout))
		assert.True(t, remote)
		assert.Equal(t, "handshake timeout", reason)
		assert.ErrorIs(t, ca.Err(), gaveUp, "the end that gave up keeps its own error")
	})
}

// CloseWithin gives the flush the time asked for, past CloseTimeout: a
// peer that starts reading only after CloseTimeout still gets every frame
// queued and then the reason. Close, on the same peer, gives up at
// CloseTimeout and the frames still queued are lost (a leaving node's
// last broadcasts, before Leave used CloseWithin).
func TestCloseWithinOutlastsCloseTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		within bool
	}{{"close", false}, {"close within", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := NewMemNetwork(1)
				a := newMem(t, n, "a", Config{CloseTimeout: 100 * time.Millisecond})
				b := newMem(t, n, "b", Config{})
				ca, cb := connect(t, a, b)
				const frames = 300
				for i := range frames {
					require.NoError(t, ca.Send([]byte(fmt.Sprint(i))))
				}
				if tc.within {
					require.NoError(t, ca.CloseWithin("leaving", time.Minute))
				} else {
					require.NoError(t, ca.Close("leaving"))
				}
				time.Sleep(time.Second) // the peer reads late
				got := 0
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for {
					f, err := cb.Receive(ctx)
					if err != nil {
						break
					}
					require.Equal(t, fmt.Sprint(got), string(f), "in order, none skipped")
					got++
				}
				if !tc.within {
					require.Less(t, got, frames, "Close gives up at CloseTimeout")
					return
				}
				require.Equal(t, frames, got)
				reason, remote := closeReason(t, waitDone(t, cb, time.Minute))
				require.Equal(t, "leaving", reason)
				require.True(t, remote)
			})
		})
	}
}

// Two ends agree on the highest protocol version both speak: an agent of
// version 1 or 2 (MaxProtocol) and one of this version talk the older
// version, in either direction; two of this version talk ProtocolVersion.
func TestProtocolVersionNegotiated(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		for _, tc := range []struct{ a, b, want int }{{0, 0, ProtocolVersion}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}, {2, 0, 2}, {0, 2, 2}, {2, 1, 1}, {1, 2, 1}, {3, 3, 3}} {
			a, b := mk(Config{MaxProtocol: tc.a}), mk(Config{MaxProtocol: tc.b})
			ca, cb := connect(t, a, b)
			assert.Equal(t, tc.want, ca.Protocol(), "dialler %d, acceptor %d", tc.a, tc.b)
			assert.Equal(t, tc.want, cb.Protocol(), "dialler %d, acceptor %d", tc.a, tc.b)
			require.NoError(t, ca.Send([]byte("x")))
			require.Equal(t, "x", string(receive(t, cb)))
		}
	})
}
