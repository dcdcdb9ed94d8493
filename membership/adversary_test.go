package membership

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/transport"
	"github.com/plumview/plumview/wire"
)

// adversary is an admitted peer that does not follow the protocol: it
// speaks to nodes with the repository's own codec, message types and
// signing rules, and forges, replays and floods at will. The attack tests
// (attack_test.go) drive it, one per row of docs/security.md's table.
type adversary struct {
	t     require.TestingT
	tr    transport.Transport
	codec *wire.Codec
	conns map[string]transport.Conn
	// closes are the reasons nodes gave when they closed a connection the
	// adversary then dialled again (redial).
	closes []string
}

// newAdversary starts an adversary on tr, closed at the end of the test.
func newAdversary(t interface {
	require.TestingT
	Cleanup(func())
}, tr transport.Transport) *adversary {
	codec, err := gossip.NewCodec(wire.Limits{})
	require.NoError(t, err)
	a := &adversary{t: t, tr: tr, codec: codec, conns: map[string]transport.Conn{}}
	t.Cleanup(func() { _ = tr.Close() })
	return a
}

// id is the adversary's own ID, derived from its key as every node's.
func (a *adversary) id() peer.ID { return peer.ID(transport.KeyID(a.tr.PublicKey())) }

// conn returns the adversary's connection to nd, dialling it once.
func (a *adversary) conn(nd *Node) transport.Conn {
	if c, ok := a.conns[nd.Addr()]; ok {
		return c
	}
	key, addr, err := parseAddr(nd.Addr())
	require.NoError(a.t, err)
	c, err := a.tr.Dial(context.Background(), addr, key)
	require.NoError(a.t, err)
	a.conns[nd.Addr()] = c
	return c
}

// send sends msg to nd; it fails once nd has closed the connection.
func (a *adversary) send(nd *Node, msg peer.Message) error {
	frame, err := a.codec.Encode(msg)
	require.NoError(a.t, err)
	return a.conn(nd).Send(frame)
}

// redial replaces a connection nd closed with a new one, as a flooder
// would, and records why nd closed it.
func (a *adversary) redial(nd *Node) {
	if reason, closed := a.closedBy(nd); closed {
		a.closes = append(a.closes, reason)
		delete(a.conns, nd.Addr())
	}
}

// broadcast hands nd a broadcast of recs under their content-derived ID,
// as a neighbour relaying it would.
func (a *adversary) broadcast(nd *Node, recs ...roster.Record) error {
	payload, err := gossip.EncodeEnvelope(&gossip.Envelope{Kind: gossip.EnvelopeRecords, Records: recs})
	require.NoError(a.t, err)
	return a.send(nd, &plumtree.Gossip{ID: plumtree.ContentHashID(payload), Payload: payload})
}

// recordOf replays what an honest node would hand out: it sends nd an
// empty digest, which nd answers with every record it holds, and returns
// of's record, signed by of.
func (a *adversary) recordOf(nd *Node, of *Node) roster.Record {
	require.NoError(a.t, a.send(nd, &gossip.Digest{To: ^peer.ID(0)}))
	c := a.conn(nd)
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		frame, err := c.Receive(ctx)
		cancel()
		require.NoError(a.t, err)
		msg, err := a.codec.Decode(frame)
		require.NoError(a.t, err)
		if m, ok := msg.(*gossip.Records); ok {
			for _, r := range m.Records {
				if uint64(r.ID) == of.ID() {
					return r
				}
			}
		}
	}
	require.Fail(a.t, "no record of the node in the answer")
	return roster.Record{}
}

// declare makes rec a declaration by the adversary: rec's state (Suspect
// or Failed) at rec's incarnation, signed with the adversary's key.
func (a *adversary) declare(rec roster.Record, st roster.State) roster.Record {
	rec.State = st
	p := &roster.Proof{Declarer: a.id(), DeclarerKey: a.tr.PublicKey()}
	if rec.Proof != nil {
		p.Key, p.Sig = rec.Proof.Key, rec.Proof.Sig
	}
	p.DeclarerSig = a.tr.Sign(roster.DeclarationBytes(rec.ID, rec.Incarnation, a.id()))
	rec.Proof = p
	return rec
}

// sybil returns the Alive record of an invented member with a key of the
// adversary's making, signed with it, and meta bytes of metadata.
func (a *adversary) sybil(meta int) roster.Record {
	id, err := transport.GenerateIdentity()
	require.NoError(a.t, err)
	key := id.Public()
	r := roster.Record{ID: peer.ID(transport.KeyID(key)), Addr: "sybil", Meta: make([]byte, meta), Incarnation: 1, State: roster.StateAlive}
	r.Proof = &roster.Proof{Key: key, Sig: ed25519.Sign(id.Key, roster.StatementBytes(&r))}
	return r
}

// closedBy reports whether nd closed the adversary's connection, and why.
func (a *adversary) closedBy(nd *Node) (string, bool) {
	c := a.conn(nd)
	select {
	case <-c.Done():
	default:
		return "", false
	}
	var ce *transport.CloseError
	if errors.As(c.Err(), &ce) {
		return ce.Reason, true
	}
	return c.Err().Error(), true
}
