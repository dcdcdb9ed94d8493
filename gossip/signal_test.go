package gossip

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// signedRecord returns member id's Alive record at inc, naming rv, signed
// by id (fakeAuth).
func signedRecord(id peer.ID, inc uint64, rv roster.Rendezvous) roster.Record {
	r := roster.Record{ID: id, Addr: string(rune('a' + id)), Incarnation: inc, State: roster.StateAlive}
	r.Proof = &roster.Proof{}
	if !rv.IsZero() {
		r.Proof.Rendezvous = &rv
	}
	r.Proof.Key, r.Proof.Sig = fakeAuth{id}.PublicKey(), fakeAuth{id}.Sign(roster.StatementBytes(&r))
	return r
}

// The members of the forwarding table: R (1) is the rendezvous, B (2)
// the member behind a NAT that names it, A (3) the sender, C (4) a
// member behind a NAT that names A, D (5) a member that names R but is
// not R's neighbour.
const (
	sigR, sigB, sigA, sigC, sigD peer.ID = 1, 2, 3, 4, 5
)

// rendezvousEngine returns R's engine with signatures, budgets of
// perPeriod signals per peer, B as an active neighbour and the signed
// records of B, A, C and D.
func rendezvousEngine(t *testing.T, perPeriod int) *Engine {
	t.Helper()
	b := DefaultBudgets()
	b.PerPeriod[BudgetSignal] = perPeriod
	b.Strikes = 1000
	e := budgetEngine(t, sigR, b)
	do(t, e, func(out *Ready) { e.Receive(t0, sigB, &hyparview.Join{Addr: "b", Nonce: 1}, out) })
	require.True(t, e.hv.IsActive(sigB))
	viaR := roster.Rendezvous{ID: sigR, Addr: "a", Unreachable: true}
	do(t, e, func(out *Ready) {
		e.Receive(t0, sigB, &Records{Records: []roster.Record{
			signedRecord(sigB, 1, viaR),
			signedRecord(sigA, 1, roster.Rendezvous{}),
			signedRecord(sigC, 1, roster.Rendezvous{ID: sigA, Addr: "d", Unreachable: true}),
			signedRecord(sigD, 1, viaR),
		}}, out)
	})
	rec, ok := e.Member(sigB)
	require.True(t, ok)
	require.Equal(t, viaR, rec.Rendezvous())
	return e
}

// TestSignalForwardingRules: what a rendezvous relays and what it
// refuses, each refusal counted by its reason.
func TestSignalForwardingRules(t *testing.T) {
	data := []byte("an ice signal")
	for _, tc := range []struct {
		name    string
		from    peer.ID
		msg     Signal
		relayTo peer.ID       // 0: nothing sent
		deliver bool          // handed to the driver
		refused SignalRefusal // when neither
	}{
		{name: "A to B, which names R and is linked", from: sigA, msg: Signal{From: sigA, To: sigB, Session: 7, Data: data}, relayTo: sigB},
		{name: "B answers A directly through R: not R's to relay", from: sigB, msg: Signal{From: sigB, To: sigA, Session: 7, Data: data}, refused: SignalNotRendezvous},
		{name: "to C, which names another node", from: sigA, msg: Signal{From: sigA, To: sigC, Session: 7, Data: data}, refused: SignalNotRendezvous},
		{name: "to a member R does not know", from: sigA, msg: Signal{From: sigA, To: 9, Session: 7, Data: data}, refused: SignalNotRendezvous},
		{name: "to D, which names R but has no link to it", from: sigA, msg: Signal{From: sigA, To: sigD, Session: 7, Data: data}, refused: SignalNotLinked},
		{name: "A speaking for C", from: sigA, msg: Signal{From: sigC, To: sigB, Session: 7, Data: data}, refused: SignalSpoofed},
		{name: "for R from A itself", from: sigA, msg: Signal{From: sigA, To: sigR, Session: 7, Data: data}, deliver: true},
		{name: "for R, relayed by a node that is not R's rendezvous", from: sigA, msg: Signal{From: sigC, To: sigR, Session: 7, Data: data}, refused: SignalSpoofed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := rendezvousEngine(t, 100)
			before := e.Counters().Engine
			m := tc.msg
			out := do(t, e, func(out *Ready) { e.Receive(t0, tc.from, &m, out) })
			after := e.Counters().Engine
			switch {
			case tc.relayTo != 0:
				require.Len(t, out.Sends, 1)
				require.Equal(t, hyparview.Peer{ID: tc.relayTo}, out.Sends[0].To, "over the open link only: no address to dial")
				require.Equal(t, &m, out.Sends[0].Msg)
				require.Equal(t, before.SignalsRelayed+1, after.SignalsRelayed)
				require.Empty(t, out.Signals)
			case tc.deliver:
				require.Empty(t, out.Sends)
				require.Equal(t, []SignalDelivery{{From: m.From, Session: m.Session, Data: data}}, out.Signals)
				require.Equal(t, before.SignalsReceived+1, after.SignalsReceived)
			default:
				require.Empty(t, out.Sends)
				require.Empty(t, out.Signals)
				require.Equal(t, before.SignalsRefused[tc.refused]+1, after.SignalsRefused[tc.refused], "refused as %v", tc.refused)
				require.Equal(t, before.SignalsRelayed, after.SignalsRelayed)
			}
		})
	}
}

// TestSignalBudget: a rendezvous relays at most BudgetSignal signals of
// one sender per period; the rest are refused and counted, and another
// sender has its own budget; the next period refills it.
func TestSignalBudget(t *testing.T) {
	e := rendezvousEngine(t, 3)
	relayed := func(from peer.ID, at int) bool {
		m := &Signal{From: from, To: sigB, Session: 1, Data: []byte{byte(at)}}
		out := do(t, e, func(out *Ready) { e.Receive(t0.Add(1), from, m, out) })
		return len(out.Sends) == 1
	}
	for i := range 3 {
		require.True(t, relayed(sigA, i), "signal %d within budget", i)
	}
	for i := range 5 {
		require.False(t, relayed(sigA, 10+i), "signal %d over budget", i)
	}
	c := e.Counters().Engine
	require.Equal(t, uint64(5), c.SignalsRefused[SignalOverBudget])
	require.Equal(t, uint64(5), c.OverBudget[BudgetSignal])
	require.Equal(t, uint64(3), c.SignalsRelayed)
	require.True(t, relayed(sigC, 0), "another sender has its own budget")

	m := &Signal{From: sigA, To: sigB, Session: 1, Data: []byte{1}}
	out := do(t, e, func(out *Ready) { e.Receive(t0.Add(DefaultBudgets().Period+1), sigA, m, out) })
	require.Len(t, out.Sends, 1, "the next period refills the budget")
}

// TestSignalDecoding: the codec takes a well-formed Signal and refuses
// one over MaxSignalBytes, without data, without a session, without an
// end or to its own sender.
func TestSignalDecoding(t *testing.T) {
	codec, err := NewCodec(wire.Limits{})
	require.NoError(t, err)
	ok := &Signal{From: 3, To: 2, Session: 9, Data: bytes.Repeat([]byte{1}, MaxSignalBytes)}
	b, err := codec.Encode(ok)
	require.NoError(t, err)
	got, err := codec.Decode(b)
	require.NoError(t, err)
	require.Equal(t, ok, got)
	for name, bad := range map[string]*Signal{
		"oversized":    {From: 3, To: 2, Session: 9, Data: bytes.Repeat([]byte{1}, MaxSignalBytes+1)},
		"empty":        {From: 3, To: 2, Session: 9},
		"no session":   {From: 3, To: 2, Data: []byte{1}},
		"no sender":    {To: 2, Session: 9, Data: []byte{1}},
		"no receiver":  {From: 3, Session: 9, Data: []byte{1}},
		"to its owner": {From: 3, To: 3, Session: 9, Data: []byte{1}},
	} {
		b, err := codec.Encode(bad)
		require.NoError(t, err, name)
		_, err = codec.Decode(b)
		require.ErrorIs(t, err, wire.ErrLimit, name)
	}
}

// TestSendSignalRoutes: a signal goes to the member's rendezvous when it
// names one, over the open link when this node is the rendezvous,
// directly to a member that can be dialled; a member that cannot and
// names none, an unknown member and bad sizes are errors that send
// nothing.
func TestSendSignalRoutes(t *testing.T) {
	e := rendezvousEngine(t, 100) // R
	send := func(to peer.ID, data []byte) (*Ready, error) {
		out := &Ready{}
		err := e.SendSignal(t0, to, 5, data, out)
		require.NoError(t, e.Invariants())
		return out, err
	}
	out, err := send(sigB, []byte{1})
	require.NoError(t, err)
	require.Equal(t, []Send{{To: hyparview.Peer{ID: sigB}, Msg: &Signal{From: sigR, To: sigB, Session: 5, Data: []byte{1}}}}, out.Sends)
	out, err = send(sigA, []byte{1})
	require.NoError(t, err)
	require.Equal(t, hyparview.Peer{ID: sigA, Addr: string(rune('a' + sigA))}, out.Sends[0].To, "directly")
	out, err = send(sigC, []byte{1})
	require.NoError(t, err)
	require.Equal(t, hyparview.Peer{ID: sigA, Addr: string(rune('a' + sigA))}, out.Sends[0].To,
		"through C's rendezvous A, at the address A's own record holds")
	require.Equal(t, uint64(3), e.Counters().Engine.SignalsSent)

	do(t, e, func(out *Ready) {
		e.Receive(t0, sigB, &Records{Records: []roster.Record{signedRecord(6, 1, roster.Rendezvous{Unreachable: true})}}, out)
	})
	for name, tc := range map[string]struct {
		to   peer.ID
		data []byte
		want error
	}{
		"unreachable, no rendezvous": {6, []byte{1}, ErrNoRoute},
		"unknown":                    {9, []byte{1}, ErrUnknownMember},
		"itself":                     {sigR, []byte{1}, ErrUnknownMember},
		"empty":                      {sigA, nil, ErrSignalSize},
		"oversized":                  {sigA, make([]byte, MaxSignalBytes+1), ErrSignalSize},
	} {
		out, err := send(tc.to, tc.data)
		require.ErrorIs(t, err, tc.want, name)
		require.True(t, out.Empty(), name)
	}
	require.Equal(t, uint64(3), e.Counters().Engine.SignalsSent)
}

// TestSignalThroughTheRendezvous: on the test network, A signals B, which
// sits behind a NAT and chose R, its only neighbour that can be dialled,
// as its rendezvous; the signal reaches B through R and B's answer
// reaches A. When R leaves B's active view, B names another neighbour
// that can be dialled and publishes it; a node behind a NAT never names
// another node behind a NAT.
func TestSignalThroughTheRendezvous(t *testing.T) {
	n := &net{t: t, now: t0, eng: map[peer.ID]*Engine{}, down: map[peer.ID]bool{},
		deliv: map[peer.ID][]Delivery{}, events: map[peer.ID][]MemberEvent{}}
	for _, id := range []peer.ID{1, 2, 3, 4} {
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{id}, BehindNAT: id == 2 || id == 4}}
		e, err := New(hyparview.Peer{ID: id, Addr: string(rune('a' + id))}, cfg, rand.New(rand.NewPCG(uint64(id), 2)))
		require.NoError(t, err)
		n.eng[id] = e
	}
	var got []SignalDelivery
	var gotBy []peer.ID
	n.onSignals = func(id peer.ID, s []SignalDelivery) {
		for _, d := range s {
			got, gotBy = append(got, d), append(gotBy, id)
		}
	}
	n.join(1)
	n.run(0)
	n.join(4, 1) // behind a NAT: names 1
	n.run(0)
	n.join(2, 4) // behind a NAT, through 4, also behind one
	n.join(3, 1)
	n.run(5 * DefaultRejoinInterval)
	rv := n.eng[2].roster.OwnRendezvous()
	require.NotZero(t, rv.ID, "B chose a rendezvous")
	require.True(t, rv.Unreachable)
	require.NotEqual(t, peer.ID(4), rv.ID, "never a node behind a NAT")
	require.True(t, n.eng[2].hv.IsActive(rv.ID))
	for _, id := range []peer.ID{1, 3, 4} {
		r, ok := n.eng[id].Member(2)
		require.True(t, ok, "node %d holds B", id)
		require.Equal(t, rv, r.Rendezvous(), "node %d holds B's rendezvous", id)
	}

	// The other node that can be dialled (A) signals B, and B answers.
	a := peer.ID(1)
	if rv.ID == 1 {
		a = 3
	}
	require.True(t, n.eng[2].hv.IsActive(a), "B is linked to both nodes that can be dialled")
	n.step(a, func(e *Engine, out *Ready) { require.NoError(t, e.SendSignal(n.now, 2, 11, []byte("offer"), out)) })
	n.run(0)
	require.Equal(t, []SignalDelivery{{From: a, Session: 11, Data: []byte("offer")}}, got)
	require.Equal(t, []peer.ID{2}, gotBy)
	require.Equal(t, uint64(1), n.eng[rv.ID].Counters().Engine.SignalsRelayed, "the offer went through the rendezvous")
	n.step(2, func(e *Engine, out *Ready) { require.NoError(t, e.SendSignal(n.now, a, 11, []byte("answer"), out)) })
	n.run(0)
	require.Equal(t, SignalDelivery{From: 2, Session: 11, Data: []byte("answer")}, got[1])
	require.Equal(t, a, gotBy[1])

	// The rendezvous crashes: B names the other node that can be dialled.
	old := rv.ID
	n.down[old] = true
	n.step(2, func(e *Engine, out *Ready) { e.ConnectionFailed(n.now, old, out) })
	n.run(5 * DefaultRejoinInterval)
	rv2 := n.eng[2].roster.OwnRendezvous()
	require.Equal(t, roster.Rendezvous{ID: a, Addr: string(rune('a' + a)), Unreachable: true}, rv2)
	require.True(t, n.eng[2].hv.IsActive(a))
	r, _ := n.eng[4].Member(2)
	require.Equal(t, rv2, r.Rendezvous(), "published")

	// C (4), behind a NAT too, signals B through its new rendezvous.
	relayed := n.eng[a].Counters().Engine.SignalsRelayed
	n.step(4, func(e *Engine, out *Ready) { require.NoError(t, e.SendSignal(n.now, 2, 12, []byte("offer"), out)) })
	n.run(0)
	require.Equal(t, SignalDelivery{From: 4, Session: 12, Data: []byte("offer")}, got[len(got)-1])
	require.Equal(t, relayed+1, n.eng[a].Counters().Engine.SignalsRelayed)
	require.GreaterOrEqual(t, n.eng[2].Counters().Engine.RendezvousChanges, uint64(2))
}

// FuzzReceiveSignal hands arbitrary bytes, decoded as a message, to a
// rendezvous from an arbitrary peer: nothing panics, the invariants
// hold, a Signal is relayed only to B (the one linked member that names
// R), over the open link and unchanged, and handed to the driver only
// when it is for R.
func FuzzReceiveSignal(f *testing.F) {
	codec, err := NewCodec(wire.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*Signal{
		{From: sigA, To: sigB, Session: 1, Data: []byte("x")},
		{From: sigA, To: sigR, Session: 2, Data: []byte("y")},
		{From: sigC, To: sigD, Session: 3, Data: bytes.Repeat([]byte{7}, 64)},
	} {
		b, err := codec.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(sigA))
	}
	f.Fuzz(func(t *testing.T, b []byte, from uint8) {
		msg, err := codec.Decode(b)
		if err != nil {
			return
		}
		e := rendezvousEngine(t, 100)
		out := &Ready{}
		e.Receive(t0, peer.ID(from), msg, out)
		if err := e.Invariants(); err != nil {
			t.Fatal(err)
		}
		m, isSignal := msg.(*Signal)
		for _, s := range out.Sends {
			if _, ok := s.Msg.(*Signal); !ok {
				continue
			}
			if !isSignal || s.To != (hyparview.Peer{ID: sigB}) || s.Msg != m || m.From != peer.ID(from) {
				t.Fatalf("relayed %+v to %v after %+v from %d", s.Msg, s.To, msg, from)
			}
		}
		for _, d := range out.Signals {
			if !isSignal || m.To != sigR || d.From != m.From {
				t.Fatalf("handed %+v after %+v from %d", d, msg, from)
			}
		}
	})
}

// TestUnreachableMembersAreNotProbed: the probes never dial a member
// whose record says it cannot be dialled; they go to the one that can.
func TestUnreachableMembersAreNotProbed(t *testing.T) {
	e := rendezvousEngine(t, 100)
	targets := map[peer.ID]int{}
	for range 20 {
		p, ok := e.nextProbeTarget(t0)
		if ok {
			targets[p.ID]++
		}
	}
	require.Equal(t, map[peer.ID]int{sigA: 20}, targets, "A only: C and D are behind NATs, B is a neighbour")
}

// TestSignalsFromOwnRendezvousAreNotCharged: a node behind a NAT takes
// every signal its rendezvous relays, beyond the rendezvous's budget
// (the rendezvous charged each sender's), while a peer that sends it
// signals itself is held to its own.
func TestSignalsFromOwnRendezvousAreNotCharged(t *testing.T) {
	b := DefaultBudgets()
	b.PerPeriod[BudgetSignal] = 2
	b.Strikes = 1
	cfg := Config{Budgets: &b, Members: &MembersConfig{Auth: fakeAuth{sigB}, BehindNAT: true}}
	e, err := New(hyparview.Peer{ID: sigB, Addr: "c"}, cfg, rand.New(rand.NewPCG(2, 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	do(t, e, func(out *Ready) { e.Receive(t0, sigR, &hyparview.Join{Addr: "b", Nonce: 1}, out) })
	do(t, e, func(out *Ready) {
		e.Receive(t0, sigR, &Records{Records: []roster.Record{signedRecord(sigR, 1, roster.Rendezvous{}), signedRecord(sigA, 1, roster.Rendezvous{})}}, out)
	})
	do(t, e, func(out *Ready) { e.chooseRendezvous(t0, out) })
	require.Equal(t, roster.Rendezvous{ID: sigR, Addr: "b", Unreachable: true}, e.roster.OwnRendezvous())

	taken := 0
	for i := range 10 {
		out := do(t, e, func(out *Ready) {
			e.Receive(t0, sigR, &Signal{From: peer.ID(10 + i%3), To: sigB, Session: 1, Data: []byte{1}}, out)
		})
		taken += len(out.Signals)
		require.Empty(t, out.Evictions)
	}
	require.Equal(t, 10, taken, "every signal the rendezvous relays")
	taken = 0
	for range 3 {
		out := do(t, e, func(out *Ready) { e.Receive(t0, sigA, &Signal{From: sigA, To: sigB, Session: 1, Data: []byte{1}}, out) })
		taken += len(out.Signals)
	}
	require.Equal(t, 2, taken, "a peer of its own is held to its budget")
	require.Equal(t, uint64(1), e.Counters().Engine.SignalsRefused[SignalOverBudget])
}

// TestFailedDialToUnreachableMemberIsNoEvidence: a failed connection to
// a member that is not a neighbour and says it cannot be dialled neither
// suspects it nor probes it; to one that can be dialled, it does.
func TestFailedDialToUnreachableMemberIsNoEvidence(t *testing.T) {
	e := rendezvousEngine(t, 100)
	out := do(t, e, func(out *Ready) { e.ConnectionFailed(t0, sigD, out) })
	require.Empty(t, out.Sends, "no probe of D through neighbours")
	d, _ := e.Member(sigD)
	require.Equal(t, roster.StateAlive, d.State)

	out = do(t, e, func(out *Ready) { e.ConnectionFailed(t0, sigA, out) })
	require.Len(t, out.Sends, 1)
	require.Equal(t, sigB, out.Sends[0].To.ID, "A is probed through R's neighbour")
	require.Equal(t, sigA, out.Sends[0].Msg.(*PingReq).Target)
}

// TestNodeBehindNATAsksForARendezvous: a node behind a NAT whose only
// neighbour is behind a NAT too (an active view of one) names no
// rendezvous; on its rejoin tick it asks the member that can be dialled
// for a link, which replaces the other, and names it.
func TestNodeBehindNATAsksForARendezvous(t *testing.T) {
	n := &net{t: t, now: t0, eng: map[peer.ID]*Engine{}, down: map[peer.ID]bool{},
		deliv: map[peer.ID][]Delivery{}, events: map[peer.ID][]MemberEvent{}}
	for _, id := range []peer.ID{1, 2, 4} {
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{id}, BehindNAT: id != 1, ProbeInterval: -1}}
		if id == 2 {
			cfg.HyParView.ActiveViewSize = 1
		}
		e, err := New(hyparview.Peer{ID: id, Addr: string(rune('a' + id))}, cfg, rand.New(rand.NewPCG(uint64(id), 2)))
		require.NoError(t, err)
		n.eng[id] = e
	}
	n.join(1)
	n.join(4, 1)
	n.run(0)
	// 1 and 2 do not meet while 2 joins (the join walk would link them).
	n.cut = func(from, to peer.ID) bool { return from+to == 3 }
	n.join(2, 4)
	n.run(0)
	n.cut = nil
	require.Equal(t, []hyparview.Peer{{ID: 4, Addr: "e"}}, n.eng[2].hv.Active())
	require.Zero(t, n.eng[2].roster.OwnRendezvous().ID, "its only neighbour is behind a NAT")
	require.True(t, n.eng[2].roster.OwnRendezvous().Unreachable)
	_, known := n.eng[2].Member(1)
	require.True(t, known, "it learnt of 1 from 4")

	n.run(10 * DefaultRejoinInterval)
	require.Equal(t, roster.Rendezvous{ID: 1, Addr: "b", Unreachable: true}, n.eng[2].roster.OwnRendezvous())
	require.Equal(t, []hyparview.Peer{{ID: 1, Addr: "b"}}, n.eng[2].hv.Active())
	require.Positive(t, n.eng[2].Counters().Engine.RendezvousAsked)
	r, _ := n.eng[4].Member(2)
	require.Equal(t, peer.ID(1), r.Rendezvous().ID, "published: the record went to the new neighbour, which relayed it")
}
