package membership

import (
	"context"
	"crypto/ed25519"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/transport"
)

// slowDials is a transport whose connections take a while to set up, as
// QUIC handshakes do on a loaded host.
type slowDials struct {
	transport.Transport
	setUp time.Duration
}

func (s slowDials) Dial(ctx context.Context, addr string, key ed25519.PublicKey) (transport.Conn, error) {
	select {
	case <-time.After(s.setUp):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Transport.Dial(ctx, addr, key)
}

// A request's timeout counts from when the connection to the peer asked
// is up, not from when the engine asked for the send: with connections
// that take 2 s to set up, longer than both the JOIN timeout (1 s) and the
// NEIGHBOR timeout (500 ms), every node still joins and links without a
// single request timing out. Counted from the send, every join and every
// request to a peer not yet connected timed out, was undone, and was
// asked again of another peer over another slow connection
// (gossip.Timer.Awaits).
func TestRequestTimeoutsWaitForTheConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const setUp = 2 * time.Second
		c := newMemClusterWith(t, 6, func(cfg *Config) {
			cfg.Transport = slowDials{Transport: cfg.Transport, setUp: setUp}
		})
		c.joinAll()
		waitFor(t, time.Minute, "every node lists every other alive", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		for i, nd := range c.nodes {
			hv := nd.Counters().HyParView
			require.Zero(t, hv.JoinTimeouts, "node %d", i)
			require.Zero(t, hv.NeighborRequestsTimedOut, "node %d", i)
			act, _ := nd.Views()
			require.NotEmpty(t, act, "node %d has neighbours", i)
		}
	})
}

// A DISCONNECT to a peer no connection is open to is not sent: the peer
// holds no link to undo, and a connection set up to carry it would cost a
// handshake for nothing. A message that needs a connection (a
// high-priority NEIGHBOR) to the same peer still sets one up.
func TestDisconnectOpensNoConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		a := listenMemNode(t, net, "a", transport.MemConfig{})
		b := listenMemNode(t, net, "b", transport.MemConfig{})
		to := hyparview.Peer{ID: b.self.ID, Addr: b.Addr()}
		a.post(func() { a.send(to, &hyparview.Disconnect{Alive: true, Nonce: 1}) })
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, b.tr.Stats().Accepts, "the DISCONNECT opened no connection")

		a.post(func() { a.send(to, &hyparview.Neighbor{Priority: hyparview.PriorityHigh, Addr: a.Addr(), Nonce: 2}) })
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, int64(1), b.tr.Stats().Accepts, "a high-priority NEIGHBOR does")
	})
}
