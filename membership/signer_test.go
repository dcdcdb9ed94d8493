package membership

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/transport"
	"github.com/plumview/plumview/wire"
)

// No member can broadcast in another's name: a payload whose ID names
// honest node b as its origin but that b did not sign (or that carries no
// signature) is dropped and counted before it is delivered or relayed; the
// rogue's own, correctly signed broadcast sent after it is delivered.
func TestForgedOriginIsNotDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newMemCluster(t, 2)
		a, b := c.nodes[0], c.nodes[1]
		require.NoError(t, a.Join(ctx))
		require.NoError(t, b.Join(ctx, a.Addr()))
		sub := a.Subscribe("news")
		defer sub.Close()

		rogueID, err := transport.GenerateIdentity()
		require.NoError(t, err)
		rogue, err := c.net.Listen("rogue", rogueID, transport.MemConfig{})
		require.NoError(t, err)
		defer rogue.Close()
		conn, err := rogue.Dial(ctx, c.addrs[0], nodeKey(t, a))
		require.NoError(t, err)
		codec, err := gossip.NewCodec(wire.Limits{})
		require.NoError(t, err)
		send := func(origin peer.ID, data string, key, sig func(id plumtree.MessageID) []byte) {
			id := plumtree.OriginSequenceID(origin, 1)
			env := &gossip.Envelope{Kind: gossip.EnvelopeApp, Topic: "news", Data: []byte(data), Key: key(id), Sig: sig(id)}
			payload, err := gossip.EncodeEnvelope(env)
			require.NoError(t, err)
			frame, err := codec.Encode(&plumtree.Gossip{ID: id, Payload: payload})
			require.NoError(t, err)
			require.NoError(t, conn.Send(frame))
		}
		rogueKey := func(plumtree.MessageID) []byte { return rogue.PublicKey() }
		signedBy := func(topic, data string) func(plumtree.MessageID) []byte {
			return func(id plumtree.MessageID) []byte {
				return rogue.Sign(gossip.SignedOriginBytes(id, topic, []byte(data)))
			}
		}
		none := func(plumtree.MessageID) []byte { return nil }
		bID := peer.ID(b.ID())
		send(bID, "forged: b's ID, the rogue's key and signature", rogueKey, signedBy("news", "forged: b's ID, the rogue's key and signature"))
		send(bID, "forged: b's ID, no signature", none, none)
		send(peer.ID(transport.KeyID(rogue.PublicKey())), "the rogue's own", rogueKey, signedBy("news", "the rogue's own"))

		m, err := sub.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, "the rogue's own", string(m.Payload), "only the correctly signed broadcast is delivered")
		require.Equal(t, uint64(2), a.Counters().Engine.ForgedOrigins)

		// b never saw the forgeries either: a relays only what it delivers.
		synctest.Wait()
		require.Zero(t, b.Counters().Engine.ForgedOrigins)
	})
}

// nodeKey returns a node's public key from its address.
func nodeKey(t *testing.T, n *Node) []byte {
	key, _, err := parseAddr(n.Addr())
	require.NoError(t, err)
	return key
}
