package ice

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/plumview/plumview/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// strangerControlledBy returns a new identity against which a is the
// controlling side.
func strangerControlledBy(t *testing.T, a transport.Identity) transport.Identity {
	t.Helper()
	for {
		other, err := transport.GenerateIdentity()
		require.NoError(t, err)
		if Controlling(a.Public(), other.Public()) {
			return other
		}
	}
}

// The controlling side dials the key it expects: a peer holding another
// key (though admitted by the cluster CA) is refused in the handshake.
func TestWrongKeyRefusedByControlling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natPortRestr, natFullCone)
		a, b := orderedIdentities(t)
		// The key a expects must leave a the controlling side, as b is.
		other := strangerControlledBy(t, a)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// a expects other's key; b answers with its own.
		ra, rb := connectPair(ctx, w.node(t, 0, a, new(Metrics)), w.node(t, 1, b, new(Metrics)), a.Public(), other.Public())
		closeLink(t, ra.link)
		closeLink(t, rb.link)
		require.ErrorIs(t, ra.err, transport.ErrWrongKey)
		require.Error(t, rb.err, "the controlled side gets no connection either")
	})
}

// The controlled side accepts and checks the key itself: a controlling
// peer holding another key is refused.
func TestWrongKeyRefusedByControlled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natFullCone, natAddrRestr)
		a, b := orderedIdentities(t)
		// The stranger must still be the controlling side against b.
		other := strangerControlledBy(t, a)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// b expects other's key; a connects with its own.
		ra, rb := connectPair(ctx, w.node(t, 0, a, new(Metrics)), w.node(t, 1, b, new(Metrics)), other.Public(), b.Public())
		closeLink(t, ra.link)
		closeLink(t, rb.link)
		require.ErrorIs(t, rb.err, transport.ErrWrongKey)
		if ra.err == nil {
			// a's dial succeeded before b checked the key; b closed it.
			<-ra.link.Done()
		}
	})
}

// A peer without a certificate from the cluster CA is refused by
// admission, whatever path ICE found.
func TestStrangerNotAdmitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natNone, natAddrRestr)
		a, b := orderedIdentities(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cb := w.node(t, 1, b, new(Metrics))
		cb.Transport.Identity.CACert = nil // self-signed
		ra, rb := connectPair(ctx, w.node(t, 0, a, new(Metrics)), cb, a.Public(), b.Public())
		closeLink(t, ra.link)
		closeLink(t, rb.link)
		require.ErrorIs(t, ra.err, transport.ErrNotAdmitted)
		require.Error(t, rb.err)
	})
}

// With the relay gone and both nodes behind symmetric NATs there is no
// path: Connect says so within its context, on both sides.
func TestNoPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natSymmetric, natSymmetric)
		require.NoError(t, w.relay.Close())
		a, b := orderedIdentities(t)
		ma, mb := new(Metrics), new(Metrics)
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		ra, rb := connectPair(ctx, w.node(t, 0, a, ma), w.node(t, 1, b, mb), a.Public(), b.Public())
		require.ErrorIs(t, ra.err, ErrNoPath)
		require.ErrorIs(t, rb.err, ErrNoPath)
		for _, m := range []*Metrics{ma, mb} {
			assert.Equal(t, int64(1), m.HolePunchAttempts.Load())
			assert.Equal(t, int64(1), m.HolePunchFailures.Load())
			assert.Equal(t, int64(1), m.NoPath.Load())
		}
	})
}

// A peer that never signals: Connect ends with ErrSignalling when its
// context does.
func TestSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natNone, natNone)
		a, b := orderedIdentities(t)
		sa, _ := NewMemSignallers()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Connect(ctx, w.node(t, 0, a, new(Metrics)), b.Public(), sa)
		require.ErrorIs(t, err, ErrSignalling)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// Closing one end of a link closes the other with the reason, and both
// release their agent, QUIC endpoint and goroutines; the open-link gauge
// goes back to zero.
func TestLinkCloseReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, natAddrRestr, natSymmetric)
		a, b := orderedIdentities(t)
		ma, mb := new(Metrics), new(Metrics)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ra, rb := connectPair(ctx, w.node(t, 0, a, ma), w.node(t, 1, b, mb), a.Public(), b.Public())
		require.NoError(t, ra.err)
		require.NoError(t, rb.err)
		require.NoError(t, ra.link.Send([]byte("last words")))
		require.NoError(t, ra.link.Close("bye"))
		f, err := rb.link.Receive(ctx)
		require.NoError(t, err)
		assert.Equal(t, "last words", string(f))
		<-rb.link.Done()
		var ce *transport.CloseError
		require.True(t, errors.As(rb.link.Err(), &ce), "got %v", rb.link.Err())
		assert.Equal(t, "bye", ce.Reason)
		<-ra.link.Released()
		<-rb.link.Released()
		for _, m := range []*Metrics{ma, mb} {
			for k := PathKind(0); k < pathKinds; k++ {
				assert.Zero(t, m.Open[k].Load(), "open %s links", k)
			}
		}
	})
}

// Over the host's real network (loopback), without STUN or TURN: a host
// pair, QUIC over it, in real time.
func TestLoopbackRealNetwork(t *testing.T) {
	a, b := orderedIdentities(t)
	cfg := func(id transport.Identity) Config {
		return Config{Transport: transport.Config{Identity: id}, Interfaces: []string{"lo"}, IncludeLoopback: true, Metrics: new(Metrics)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ra, rb := connectPair(ctx, cfg(a), cfg(b), a.Public(), b.Public())
	require.NoError(t, ra.err)
	require.NoError(t, rb.err)
	defer closeLink(t, ra.link)
	defer closeLink(t, rb.link)
	assert.Equal(t, PathHost, ra.link.Path().Kind(), "%v", ra.link.Path())
	t.Logf("connected in %v (controlling), %v (controlled)", ra.link.Elapsed(), rb.link.Elapsed())
	require.NoError(t, rb.link.Send([]byte("over loopback")))
	f, err := ra.link.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "over loopback", string(f))
}

// The relayed candidate's signal comes late (its TURN allocation, then a
// slow overlay path), after the checks from it could reach the peer. The
// ready barrier keeps the checks from starting before it arrives, so the
// peer knows the address for a relayed candidate, not a new
// peer-reflexive (direct-looking) one, and the direct pair wins. The
// controlling node is behind an address-restricted NAT, which lets the
// relay's packets in (it has talked to the relay's IP, its STUN server):
// without the barrier it took the relayed address for a peer-reflexive
// candidate and nominated that pair in 10 runs out of 10.
func TestLateRelayCandidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorldDelay(t, natAddrRestr, natPortRestr, 10*time.Millisecond)
		a, b := orderedIdentities(t)
		ma, mb := new(Metrics), new(Metrics)
		sa, sb := NewMemSignallers()
		late := func(s Signal) time.Duration {
			if s.Kind == SignalCandidate && strings.Contains(s.Candidate, " typ relay") {
				return 300 * time.Millisecond
			}
			return 0
		}
		sa.DelayOf, sb.DelayOf = late, late
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ra, rb := make(chan result, 1), make(chan result, 1)
		go func() { l, err := Connect(ctx, w.node(t, 0, a, ma), b.Public(), sa); ra <- result{l, err} }()
		go func() { l, err := Connect(ctx, w.node(t, 1, b, mb), a.Public(), sb); rb <- result{l, err} }()
		la, lb := <-ra, <-rb
		require.NoError(t, la.err)
		require.NoError(t, lb.err)
		defer closeLink(t, la.link)
		defer closeLink(t, lb.link)
		assert.Equal(t, PathSrflx, la.link.Path().Kind(), "%v", la.link.Path())
		assert.Equal(t, PathSrflx, lb.link.Path().Kind(), "%v", lb.link.Path())
		require.NoError(t, la.link.Send(make([]byte, 50_000)))
		_, err := lb.link.Receive(ctx)
		require.NoError(t, err)
		assert.Zero(t, ma.RelayedBytes.Load()+mb.RelayedBytes.Load())
		assert.Less(t, w.relay.Stats().RelayedBytes, int64(50_000), "the frame did not cross the relay (checks on relayed pairs did)")
	})
}

// Exactly one of two nodes is controlling, whichever asks.
func TestControllingAntisymmetric(t *testing.T) {
	for range 50 {
		a, b := orderedIdentities(t)
		require.True(t, Controlling(a.Public(), b.Public()))
		require.False(t, Controlling(b.Public(), a.Public()))
		require.Equal(t, transport.KeyID(a.Public()) < transport.KeyID(b.Public()), Controlling(a.Public(), b.Public()), "the smaller node ID controls")
	}
	a, _ := orderedIdentities(t)
	assert.False(t, Controlling(a.Public(), a.Public()), "not against itself")
}

func TestPathKind(t *testing.T) {
	for _, c := range []struct {
		local, remote string
		want          PathKind
	}{
		{"host", "host", PathHost},
		{"host", "prflx", PathSrflx},
		{"srflx", "host", PathSrflx},
		{"host", "relay", PathRelay},
		{"relay", "prflx", PathRelay},
	} {
		assert.Equal(t, c.want, Path{Local: c.local, Remote: c.remote}.Kind(), "%s-%s", c.local, c.remote)
	}
}

// Over the host's real network: a relay on loopback and two relay-only
// nodes, so the link must cross the relay's real sockets.
func TestRelayOverLoopback(t *testing.T) {
	sock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	ca, err := transport.ClusterCAFromSecret([]byte("a cluster secret of enough bytes"))
	require.NoError(t, err)
	key, err := RelayKey(ca)
	require.NoError(t, err)
	relay, err := StartRelay(RelayConfig{PacketConn: sock, RelayIP: net.IPv4(127, 0, 0, 1), RelayBind: "127.0.0.1", Key: key})
	require.NoError(t, err)
	defer relay.Close()

	a, b := orderedIdentities(t)
	cfg := func(id transport.Identity) Config {
		user, pass := RelayCredentials(key, id.Public(), time.Now().Add(time.Hour))
		return Config{
			Transport: transport.Config{Identity: id},
			TURN:      []TURNServer{{Addr: sock.LocalAddr().String(), Username: user, Password: pass}},
			RelayOnly: true, Interfaces: []string{"lo"}, IncludeLoopback: true, Metrics: new(Metrics),
		}
	}
	ca2, cb2 := cfg(a), cfg(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ra, rb := connectPair(ctx, ca2, cb2, a.Public(), b.Public())
	require.NoError(t, ra.err)
	require.NoError(t, rb.err)
	defer closeLink(t, ra.link)
	defer closeLink(t, rb.link)
	assert.Equal(t, "relay", ra.link.Path().Local, "%v", ra.link.Path())
	assert.Equal(t, "relay", rb.link.Path().Local, "%v", rb.link.Path())
	payload := make([]byte, 20_000)
	require.NoError(t, ra.link.Send(payload))
	f, err := rb.link.Receive(ctx)
	require.NoError(t, err)
	assert.Len(t, f, len(payload))
	assert.Greater(t, relay.Stats().RelayedBytes, int64(len(payload)))
	assert.Greater(t, ca2.Metrics.RelayedBytes.Load(), int64(len(payload)))
	assert.Equal(t, int64(2), relay.Stats().Allocations)
	t.Logf("connected through the relay in %v", max(ra.link.Elapsed(), rb.link.Elapsed()))
}

// A STUN server and a TURN relay that never answer do not hold the link
// up beyond the gathering bound: the nodes connect on what they have.
func TestDeadServers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Without STUN, a node behind a NAT is reachable only through its
		// peer's checks: one node has a public address.
		w := newWorld(t, natNone, natAddrRestr)
		a, b := orderedIdentities(t)
		ca, cb := w.node(t, 0, a, new(Metrics)), w.node(t, 1, b, new(Metrics))
		for _, c := range []*Config{&ca, &cb} {
			c.STUN = []string{"1.2.3.5:3478"} // no such host
			c.TURN[0].Addr = "1.2.3.4:3479"   // no such port
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ra, rb := connectPair(ctx, ca, cb, a.Public(), b.Public())
		require.NoError(t, ra.err)
		require.NoError(t, rb.err)
		defer closeLink(t, ra.link)
		defer closeLink(t, rb.link)
		assert.NotEqual(t, PathRelay, ra.link.Path().Kind())
		assert.LessOrEqual(t, ra.link.Elapsed(), gatherTimeout+2*time.Second, "gathering is bounded")
		t.Logf("connected in %v with dead servers", ra.link.Elapsed())
	})
}

// When the relay goes away, a relayed link ends (idle timeout: the
// failure signal the membership layer already acts on) and a direct link
// carries on.
func TestRelayLoss(t *testing.T) {
	for _, c := range []struct {
		a, b    nat
		relayed bool
	}{{natSymmetric, natSymmetric, true}, {natPortRestr, natPortRestr, false}} {
		t.Run(c.a.String()+"/"+c.b.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, c.a, c.b)
				a, b := orderedIdentities(t)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				ra, rb := connectPair(ctx, w.node(t, 0, a, new(Metrics)), w.node(t, 1, b, new(Metrics)), a.Public(), b.Public())
				require.NoError(t, ra.err)
				require.NoError(t, rb.err)
				defer closeLink(t, ra.link)
				defer closeLink(t, rb.link)
				require.Equal(t, c.relayed, ra.link.Path().Kind() == PathRelay, "%v", ra.link.Path())
				require.NoError(t, w.relay.Close())
				time.Sleep(3 * time.Second)
				if c.relayed {
					select {
					case <-ra.link.Done():
						assert.ErrorIs(t, ra.link.Err(), transport.ErrIdleTimeout)
					default:
						t.Fatal("the relayed link outlived its relay by 3s")
					}
					return
				}
				require.NoError(t, ra.link.Send([]byte("still here")))
				f, err := rb.link.Receive(ctx)
				require.NoError(t, err)
				assert.Equal(t, "still here", string(f))
			})
		})
	}
}
