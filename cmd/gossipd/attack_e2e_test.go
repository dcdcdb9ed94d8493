package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/transport"
	"github.com/plumview/plumview/wire"
)

// The worst rows of docs/security.md's table of attacks, repeated against
// real agents: three gossipd processes on loopback admitted by a cluster
// secret, and a rogue in the test process admitted by the same secret,
// with its own identity, that dials an agent's gossip port over QUIC and
// speaks the repository's codec, message types and signing rules without
// following the protocol. (membership/attack_test.go has one test per row
// against the library itself.)

// attackSecret is the cluster secret of the attack tests' agents and rogue.
const attackSecret = "the-cluster-secret-of-the-attack-tests"

// forgedEviction is the reason an agent gives when it closes the
// connection of a peer over its budget of forged records and broadcasts.
const forgedEviction = "evicted: over its forged budget"

// startAttackCluster starts three agents admitted by attackSecret and
// waits until each lists all three alive.
func startAttackCluster(t *testing.T) []*proc {
	t.Helper()
	dir := shortDir(t)
	secret := writeSecret(t, dir, "cluster", attackSecret)
	a := startAgent(t, dir, "a", "-cluster-secret-file", secret)
	ps := []*proc{a,
		startAgent(t, dir, "b", "-cluster-secret-file", secret, "-seeds", a.addr()),
		startAgent(t, dir, "c", "-cluster-secret-file", secret, "-seeds", a.addr())}
	waitFor(t, time.Minute, "the three agents list each other alive", func() bool { return allListAlive(t, ps, len(ps)) })
	return ps
}

// rogue is an admitted peer that does not follow the protocol: it holds a
// certificate from the cluster secret, as every agent does, and sends an
// agent whatever messages it makes.
type rogue struct {
	t     *testing.T
	tr    transport.Transport
	codec *wire.Codec
	conns map[*proc]transport.Conn
}

// newRogue starts a rogue with a fresh identity certified by attackSecret,
// closed at the end of the test.
func newRogue(t *testing.T) *rogue {
	t.Helper()
	ca, err := transport.ClusterCAFromSecret([]byte(attackSecret))
	require.NoError(t, err)
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	id.CACert, err = transport.IssueCertificate(ca, id.Public(), time.Hour)
	require.NoError(t, err)
	tr, err := transport.ListenQUIC(transport.Config{Identity: id,
		Admission: transport.Admission{CAKey: ca.Public().(ed25519.PublicKey)}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	codec, err := gossip.NewCodec(wire.Limits{})
	require.NoError(t, err)
	return &rogue{t: t, tr: tr, codec: codec, conns: map[*proc]transport.Conn{}}
}

// id is the rogue's own ID, derived from its key as every agent's.
func (r *rogue) id() peer.ID { return peer.ID(transport.KeyID(r.tr.PublicKey())) }

// conn returns the rogue's connection to p's gossip port, dialling it once
// with the key p advertises.
func (r *rogue) conn(p *proc) transport.Conn {
	if c, ok := r.conns[p]; ok {
		return c
	}
	k, addr, ok := strings.Cut(agentStatus(r.t, p).GetAddr(), "@")
	require.True(r.t, ok)
	key, err := base64.RawURLEncoding.DecodeString(k)
	require.NoError(r.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := r.tr.Dial(ctx, addr, key)
	require.NoError(r.t, err)
	r.conns[p] = c
	return c
}

// send sends msg to p; it fails once p has closed the connection.
func (r *rogue) send(p *proc, msg peer.Message) error {
	frame, err := r.codec.Encode(msg)
	require.NoError(r.t, err)
	return r.conn(p).Send(frame)
}

// broadcast hands p a broadcast of recs under their content-derived ID, as
// a neighbour relaying it would.
func (r *rogue) broadcast(p *proc, recs ...roster.Record) error {
	payload, err := gossip.EncodeEnvelope(&gossip.Envelope{Kind: gossip.EnvelopeRecords, Records: recs})
	require.NoError(r.t, err)
	return r.send(p, &plumtree.Gossip{ID: plumtree.ContentHashID(payload), Payload: payload})
}

// app hands p an application broadcast under id, with the origin key and
// signature key and sig (nil for none).
func (r *rogue) app(p *proc, id plumtree.MessageID, topic, data string, key, sig []byte) error {
	payload, err := gossip.EncodeEnvelope(&gossip.Envelope{Kind: gossip.EnvelopeApp, Topic: topic, Data: []byte(data), Key: key, Sig: sig})
	require.NoError(r.t, err)
	return r.send(p, &plumtree.Gossip{ID: id, Payload: payload})
}

// recordOf replays what an honest agent hands out: it sends p an empty
// digest, which p answers with every record it holds, and returns the
// record of member of, signed by of.
func (r *rogue) recordOf(p *proc, of peer.ID) roster.Record {
	require.NoError(r.t, r.send(p, &gossip.Digest{To: ^peer.ID(0)}))
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		frame, err := r.conn(p).Receive(ctx)
		cancel()
		require.NoError(r.t, err)
		msg, err := r.codec.Decode(frame)
		require.NoError(r.t, err)
		if m, ok := msg.(*gossip.Records); ok {
			for _, rec := range m.Records {
				if rec.ID == of {
					return rec
				}
			}
		}
	}
	require.Fail(r.t, "no record of the member in the answer")
	return roster.Record{}
}

// closedBy waits until p has closed the rogue's connection and returns the
// reason p gave.
func (r *rogue) closedBy(p *proc) string {
	select {
	case <-r.conn(p).Done():
	case <-time.After(time.Minute):
		r.t.Fatal("the agent did not close the rogue's connection within a minute")
	}
	var ce *transport.CloseError
	if err := r.conn(p).Err(); !errors.As(err, &ce) || !ce.Remote {
		r.t.Fatalf("the connection ended otherwise than by the agent closing it: %v", err)
	}
	return ce.Reason
}

// agentStatus returns p's status over gRPC.
func agentStatus(t *testing.T, p *proc) *gossipdv1.StatusResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := p.client(t).Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	return st
}

// idOf returns p's member ID.
func idOf(t *testing.T, p *proc) peer.ID {
	t.Helper()
	id, err := strconv.ParseUint(agentStatus(t, p).GetId(), 16, 64)
	require.NoError(t, err)
	return peer.ID(id)
}

// memberList returns every member p lists, through the CLI (`gossipd
// members -o json`, which gathers every page).
func memberList(t *testing.T, p *proc) []*gossipdv1.Member {
	t.Helper()
	out, stderr, err := cli(t, "members", "-socket", p.socket, "-o", "json")
	require.NoError(t, err, stderr)
	var resp gossipdv1.MembersResponse
	require.NoError(t, protojson.Unmarshal([]byte(out), &resp))
	return resp.GetMembers()
}

// memberOn returns p's record of member id.
func memberOn(t *testing.T, p *proc, id peer.ID) *gossipdv1.Member {
	t.Helper()
	for _, m := range memberList(t, p) {
		if m.GetId() == fmt.Sprintf("%016x", uint64(id)) {
			return m
		}
	}
	require.Failf(t, "member not listed", "agent at %s does not list %016x", p.addr(), uint64(id))
	return nil
}

// Row 1: the rogue says honest agent b failed at incarnation 2^63−1, which
// b could never refute, unsigned and as a declaration the rogue signed
// (b's real statement, fetched from a by an empty digest, does not sign
// that incarnation), as a records broadcast and as a Records message,
// again and again. Agent a drops and counts every form, evicts the rogue
// with its forged budget named, and relays nothing: every agent lists b
// alive at b's own incarnation.
func TestAttackFailureAtMaxIncarnationThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	ps := startAttackCluster(t)
	a, b := ps[0], ps[1]
	bID := idOf(t, b)
	rg := newRogue(t)
	stmt := rg.recordOf(a, bID)
	require.NotNil(t, stmt.Proof, "b's record is signed by b")
	require.Equal(t, roster.StateAlive, stmt.State)

	signed := stmt
	signed.State, signed.Incarnation = roster.StateFailed, math.MaxInt64
	signed.Proof = &roster.Proof{Key: stmt.Proof.Key, Sig: stmt.Proof.Sig, Declarer: rg.id(), DeclarerKey: rg.tr.PublicKey(),
		DeclarerSig: rg.tr.Sign(roster.DeclarationBytes(bID, math.MaxInt64, rg.id()))}
	unsigned := signed
	unsigned.Proof = nil
	rounds := 0
	for range 20 {
		err := errors.Join(rg.broadcast(a, signed), rg.broadcast(a, unsigned),
			rg.send(a, &gossip.Records{Records: []roster.Record{signed}}),
			rg.send(a, &gossip.Records{Records: []roster.Record{unsigned}}))
		if errors.Is(err, transport.ErrClosed) {
			break
		}
		require.NoError(t, err)
		rounds++
	}
	require.Equal(t, forgedEviction, rg.closedBy(a))

	self := memberOn(t, b, bID)
	require.True(t, self.GetSelf())
	require.Equal(t, stmt.Incarnation, self.GetIncarnation(), "b never had to refute")
	for _, p := range ps {
		m := memberOn(t, p, bID)
		require.Equal(t, gossipdv1.MemberState_MEMBER_STATE_ALIVE, m.GetState(), "on the agent at %s", p.addr())
		require.Equal(t, stmt.Incarnation, m.GetIncarnation(), "on the agent at %s", p.addr())
	}
	ca := agentStatus(t, a).GetCounters()
	require.Positive(t, ca["protocol_forged_records"])
	require.GreaterOrEqual(t, ca["protocol_peers_evicted"], int64(1))
	for _, p := range ps[1:] {
		require.Zero(t, agentStatus(t, p).GetCounters()["protocol_forged_records"], "nothing forged was relayed to the agent at %s", p.addr())
	}
	t.Logf("the rogue queued %d rounds of 4 forgeries, its transport wrote %d frames (the digest included) before a closed its connection (%q); a counted %d forged records, %d over its forged budget, %d banned drops",
		rounds, rg.tr.Stats().FramesSent, forgedEviction, ca["protocol_forged_records"], ca["protocol_over_budget_forged"], ca["protocol_banned_drops"])
}

// Row 2, without keys: 200 Records messages inventing 51,200 members with
// 512 B of metadata each, unsigned. The first message's forgeries get the
// rogue evicted with its forged budget named; no agent lists any invented
// member, and `gossipd members` answers on every agent.
func TestAttackInventedMembersThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	ps := startAttackCluster(t)
	a := ps[0]
	honest := map[string]bool{}
	for _, p := range ps {
		honest[agentStatus(t, p).GetId()] = true
	}
	rg := newRogue(t)
	sent := 0
	for i := range 200 {
		recs := make([]roster.Record, gossip.MaxRecordsPerMessage)
		for k := range recs {
			recs[k] = roster.Record{ID: peer.ID(1<<40 | uint64(i)<<8 | uint64(k)), Addr: "x", Meta: make([]byte, 512), Incarnation: 1, State: roster.StateAlive}
		}
		err := rg.send(a, &gossip.Records{Records: recs})
		if errors.Is(err, transport.ErrClosed) {
			break
		}
		require.NoError(t, err)
		sent++
	}
	require.Equal(t, forgedEviction, rg.closedBy(a))

	for _, p := range ps {
		ms := memberList(t, p)
		require.Len(t, ms, len(ps), "on the agent at %s", p.addr())
		for _, m := range ms {
			require.True(t, honest[m.GetId()], "the agent at %s lists an invented member %s", p.addr(), m.GetId())
		}
	}
	ca := agentStatus(t, a).GetCounters()
	require.GreaterOrEqual(t, ca["protocol_peers_evicted"], int64(1))
	require.Positive(t, ca["protocol_forged_records"])
	t.Logf("the rogue queued %d of 200 messages and its transport wrote %d frames before a closed its connection (%q); a counted %d forged records (%d messages' worth), %d banned drops",
		sent, rg.tr.Stats().FramesSent, forgedEviction, ca["protocol_forged_records"], ca["protocol_forged_records"]/gossip.MaxRecordsPerMessage,
		ca["protocol_banned_drops"])
}

// Row 3: application broadcasts whose ID names honest agent b as their
// origin, one signed by the rogue and one unsigned, sent to every agent,
// are dropped and counted as forged origins and delivered to no
// subscriber; the rogue's own broadcast, signed with its key, sent after
// them to a alone, is what every agent's subscriber receives first.
func TestAttackForgedOriginThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	ps := startAttackCluster(t)
	a, b := ps[0], ps[1]
	bID := idOf(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var subs []gossipdv1.GossipService_SubscribeClient
	for _, p := range ps {
		sub, err := p.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{"t"}})
		require.NoError(t, err)
		subs = append(subs, sub)
		waitFor(t, time.Minute, "the stream is registered", func() bool { return agentStatus(t, p).GetCounters()["subscribers"] >= 1 })
	}

	rg := newRogue(t)
	const forgedSigned, forgedUnsigned = "forged: b's ID, the rogue's signature", "forged: b's ID, no signature"
	for i, p := range ps {
		id := plumtree.OriginSequenceID(bID, 1<<40+uint64(2*i))
		require.NoError(t, rg.app(p, id, "t", forgedSigned, rg.tr.PublicKey(), rg.tr.Sign(gossip.SignedOriginBytes(id, "t", []byte(forgedSigned)))))
		require.NoError(t, rg.app(p, plumtree.OriginSequenceID(bID, 1<<40+uint64(2*i+1)), "t", forgedUnsigned, nil, nil))
	}
	for _, p := range ps {
		waitFor(t, time.Minute, "the agent counts both forgeries", func() bool {
			return agentStatus(t, p).GetCounters()["protocol_forged_origins"] >= 2
		})
	}

	const own = "the rogue's own, signed"
	id := plumtree.OriginSequenceID(rg.id(), 1)
	require.NoError(t, rg.app(a, id, "t", own, rg.tr.PublicKey(), rg.tr.Sign(gossip.SignedOriginBytes(id, "t", []byte(own)))))
	for i, sub := range subs {
		ev, err := sub.Recv()
		require.NoError(t, err)
		require.Equal(t, own, string(ev.GetMessage().GetPayload()), "the first delivery on the agent at %s", ps[i].addr())
	}
	for _, p := range ps {
		c := agentStatus(t, p).GetCounters()
		require.Equal(t, int64(2), c["protocol_forged_origins"], "the agent at %s received the two sent to it, and nothing relayed", p.addr())
		require.Zero(t, c["protocol_peers_evicted"], "two forgeries are within the allowance")
	}
}
