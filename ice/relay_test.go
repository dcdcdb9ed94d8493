package ice

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v2/vnet"
	"github.com/pion/turn/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// relayWorld is a relay and a public client host on one virtual network.
type relayWorld struct {
	relay  *Relay
	key    []byte
	client *vnet.Net
	peer   *vnet.Net
}

func newRelayWorld(t *testing.T, cfg RelayConfig) *relayWorld {
	t.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: silentLogger()})
	require.NoError(t, err)
	relayNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{relayIP}})
	require.NoError(t, err)
	w := &relayWorld{}
	w.client, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"5.6.7.8"}})
	require.NoError(t, err)
	w.peer, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"9.9.9.9"}})
	require.NoError(t, err)
	for _, n := range []*vnet.Net{relayNet, w.client, w.peer} {
		require.NoError(t, wan.AddNet(n))
	}
	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })
	ca, err := transport.ClusterCAFromSecret([]byte("a cluster secret of enough bytes"))
	require.NoError(t, err)
	w.key, err = RelayKey(ca)
	require.NoError(t, err)
	sock, err := relayNet.ListenPacket("udp4", fmt.Sprintf("%s:%d", relayIP, relayPort))
	require.NoError(t, err)
	cfg.PacketConn, cfg.RelayIP, cfg.RelayBind, cfg.Net, cfg.Key = sock, net.ParseIP(relayIP), relayIP, relayNet, w.key
	w.relay, err = StartRelay(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.relay.Close() })
	return w
}

// turnClient opens a TURN client on a fresh socket of the client host.
func (w *relayWorld) turnClient(t *testing.T, user, pass string) *turn.Client {
	t.Helper()
	sock, err := w.client.ListenPacket("udp4", "5.6.7.8:0")
	require.NoError(t, err)
	addr := fmt.Sprintf("%s:%d", relayIP, relayPort)
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Username: user, Password: pass,
		Conn: sock, Net: w.client, LoggerFactory: silentLogger(),
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	t.Cleanup(func() { c.Close(); _ = sock.Close() })
	return c
}

func newKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	return id.Public()
}

// Anyone gets STUN answers; only a holder of the cluster's relay key, with
// credentials in date, gets an allocation.
func TestRelayRefusesStrangers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newRelayWorld(t, RelayConfig{})
		pub := newKey(t)
		now := time.Now()

		stranger := w.turnClient(t, "", "")
		mapped, err := stranger.SendBindingRequest()
		require.NoError(t, err, "STUN is open to all")
		assert.Contains(t, mapped.String(), "5.6.7.8:")

		otherCA, err := transport.ClusterCAFromSecret([]byte("another cluster's secret, long!!"))
		require.NoError(t, err)
		otherKey, err := RelayKey(otherCA)
		require.NoError(t, err)
		forgedUser, forgedPass := RelayCredentials(otherKey, pub, now.Add(time.Hour))
		expiredUser, expiredPass := RelayCredentials(w.key, pub, now.Add(-time.Second))
		farUser, farPass := RelayCredentials(w.key, pub, now.Add(DefaultMaxCredentialLifetime+time.Hour))
		goodUser, _ := RelayCredentials(w.key, pub, now.Add(time.Hour))
		refused := []struct{ name, user, pass string }{
			{"another cluster's key", forgedUser, forgedPass},
			{"expired", expiredUser, expiredPass},
			{"valid too long", farUser, farPass},
			{"guessed password", goodUser, "aGVsbG8="},
			{"not our username format", "alice", "secret"},
		}
		for _, c := range refused {
			_, err := w.turnClient(t, c.user, c.pass).Allocate()
			assert.Error(t, err, c.name)
		}
		s := w.relay.Stats()
		assert.Zero(t, s.AllocationsTotal)
		// A forged or guessed password passes the AuthHandler (the
		// username is well formed) and fails the integrity check after it.
		assert.Equal(t, int64(3), s.AuthRefused, "expired, too long-lived and malformed usernames")

		user, pass := RelayCredentials(w.key, pub, now.Add(time.Hour))
		alloc, err := w.turnClient(t, user, pass).Allocate()
		require.NoError(t, err, "a member's credentials")
		defer alloc.Close()
		assert.Contains(t, alloc.LocalAddr().String(), relayIP+":")
		assert.Equal(t, int64(1), w.relay.Stats().Allocations)
	})
}

// One node holds at most MaxAllocationsPerPeer allocations; another node
// is not affected, and a released allocation frees its place.
func TestRelayAllocationQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newRelayWorld(t, RelayConfig{MaxAllocationsPerPeer: 2})
		x, y := newKey(t), newKey(t)
		exp := time.Now().Add(time.Hour)
		xu, xp := RelayCredentials(w.key, x, exp)
		yu, yp := RelayCredentials(w.key, y, exp)

		var xs []net.PacketConn
		for range 2 {
			a, err := w.turnClient(t, xu, xp).Allocate()
			require.NoError(t, err)
			xs = append(xs, a)
		}
		_, err := w.turnClient(t, xu, xp).Allocate()
		require.Error(t, err, "third allocation of x")
		assert.Equal(t, int64(1), w.relay.Stats().QuotaRefused)

		ay, err := w.turnClient(t, yu, yp).Allocate()
		require.NoError(t, err, "y has its own quota")

		require.NoError(t, xs[0].Close()) // refresh with lifetime 0
		synctest.Wait()
		assert.Equal(t, int64(2), w.relay.Stats().Allocations)
		a, err := w.turnClient(t, xu, xp).Allocate()
		require.NoError(t, err, "x released one")

		require.NoError(t, a.Close())
		require.NoError(t, xs[1].Close())
		require.NoError(t, ay.Close())
		synctest.Wait()
		assert.Zero(t, w.relay.Stats().Allocations)
		w.relay.q.mu.Lock()
		defer w.relay.q.mu.Unlock()
		assert.Empty(t, w.relay.q.peers, "nodes without allocations are forgotten")
	})
}

// What one node relays is bounded by PeerBytesPerSecond: beyond the burst
// the relay drops, and counts what it dropped.
func TestRelayByteQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 10_000
		w := newRelayWorld(t, RelayConfig{PeerBytesPerSecond: rate})
		user, pass := RelayCredentials(w.key, newKey(t), time.Now().Add(time.Hour))
		c := w.turnClient(t, user, pass)
		alloc, err := c.Allocate()
		require.NoError(t, err)
		defer alloc.Close()
		peer, err := w.peer.ListenPacket("udp4", "9.9.9.9:7000")
		require.NoError(t, err)
		var got atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 2000)
			for {
				n, _, err := peer.ReadFrom(buf)
				if err != nil {
					return
				}
				got.Add(int64(n))
			}
		}()
		payload := make([]byte, 1000)
		for range 50 { // 50 kB at once, five times the burst
			_, err := alloc.WriteTo(payload, peer.LocalAddr())
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.LessOrEqual(t, got.Load(), int64(rate), "at most one second's worth passes at once")
		assert.Positive(t, got.Load(), "the burst passes")
		assert.GreaterOrEqual(t, w.relay.Stats().DroppedBytes, int64(50_000-rate))

		time.Sleep(time.Second) // the bucket refills
		before := got.Load()
		_, err = alloc.WriteTo(payload, peer.LocalAddr())
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, before+int64(len(payload)), got.Load(), "a second later it passes again")
		_ = peer.Close()
		<-done
	})
}

// A STUN-only server (RelayConfig.STUNOnly) answers binding requests and
// refuses every allocation, even with a member's credentials.
func TestSTUNOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newRelayWorld(t, RelayConfig{STUNOnly: true})
		mapped, err := w.turnClient(t, "", "").SendBindingRequest()
		require.NoError(t, err)
		assert.Contains(t, mapped.String(), "5.6.7.8:")
		user, pass := RelayCredentials(w.key, newKey(t), time.Now().Add(time.Hour))
		_, err = w.turnClient(t, user, pass).Allocate()
		require.Error(t, err, "no TURN on a STUN-only server")
		s := w.relay.Stats()
		assert.Zero(t, s.AllocationsTotal)
		assert.Equal(t, int64(1), s.AuthRefused)
	})
}
