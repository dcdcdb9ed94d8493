package gossip

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// reachNet returns a net of signed engines: node 1 public and checking
// nothing (a seed of today's behaviour), the others checking their
// reachability; the nodes in natted cannot be dialled. Every dial back
// must go to the requester's own record's address.
func reachNet(t *testing.T, natted map[peer.ID]bool, ids ...peer.ID) *net {
	n := &net{t: t, now: t0, eng: map[peer.ID]*Engine{}, down: map[peer.ID]bool{},
		deliv: map[peer.ID][]Delivery{}, events: map[peer.ID][]MemberEvent{}}
	for _, id := range ids {
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{id}, CheckReachability: id != 1}}
		e, err := New(hyparview.Peer{ID: id, Addr: string(rune('a' + id))}, cfg, rand.New(rand.NewPCG(uint64(id), 3)))
		require.NoError(t, err)
		n.eng[id] = e
	}
	n.dialBack = func(by peer.ID, d DialBack) ReachResult {
		require.Equal(t, string(rune('a'+d.ID)), d.Addr, "the requester's own record's address")
		if natted[d.ID] {
			return ReachFailed
		}
		return ReachDialled
	}
	return n
}

// TestReachabilityCheck: a node behind a NAT learns that it cannot be
// dialled and says so in its record with a rendezvous that can be; a
// public node learns that it can, and its record says nothing against
// dialling it; every member holds both records.
func TestReachabilityCheck(t *testing.T) {
	n := reachNet(t, map[peer.ID]bool{2: true}, 1, 2, 3)
	n.join(1)
	n.run(0)
	n.join(2, 1)
	n.join(3, 1)
	n.run(5 * DefaultRejoinInterval)

	natted, public := n.eng[2], n.eng[3]
	r := natted.Reachability()
	require.True(t, r.Checked)
	require.False(t, r.Reachable)
	require.NotZero(t, r.By)
	rv := natted.roster.OwnRendezvous()
	require.True(t, rv.Unreachable)
	require.NotZero(t, rv.ID, "it names a rendezvous")
	require.NotEqual(t, peer.ID(2), rv.ID)
	require.True(t, natted.hv.IsActive(rv.ID))

	r = public.Reachability()
	require.True(t, r.Checked)
	require.True(t, r.Reachable)
	require.True(t, public.roster.OwnRendezvous().IsZero())
	require.Zero(t, n.eng[1].Reachability(), "node 1 checks nothing")
	require.Zero(t, n.eng[1].Counters().Engine.ReachAsked)

	for _, id := range []peer.ID{1, 2, 3} {
		rec, ok := n.eng[id].Member(2)
		require.True(t, ok)
		require.Equal(t, rv, rec.Rendezvous(), "node %d holds 2's rendezvous", id)
		rec, ok = n.eng[id].Member(3)
		require.True(t, ok)
		require.True(t, rec.Rendezvous().IsZero(), "node %d holds 3 reachable", id)
	}
	for _, id := range []peer.ID{2, 3} {
		c := n.eng[id].Counters().Engine
		require.Equal(t, uint64(1), c.ReachAsked, "node %d: one check", id)
		require.Zero(t, c.ReachUnanswered)
	}
	require.Equal(t, uint64(1), natted.Counters().Engine.ReachResults[ReachFailed])
	require.Equal(t, uint64(1), public.Counters().Engine.ReachResults[ReachDialled])
}

// TestReachabilityCheckLinkLost: a node whose asked neighbour leaves its
// active view before answering asks another at once, rather than waiting
// out the timeout and then the interval with a record that says nothing.
func TestReachabilityCheckLinkLost(t *testing.T) {
	n := reachNet(t, map[peer.ID]bool{2: true}, 1, 2, 3)
	n.join(1)
	n.run(0)
	n.join(3, 1)
	n.run(5 * DefaultRejoinInterval)
	dialBack := n.dialBack
	n.dialBack = nil // the dials back wait
	n.join(2, 1)
	n.run(time.Second)
	e := n.eng[2]
	asked := e.Reachability().InFlight
	require.NotZero(t, asked, "a check in flight")
	require.True(t, e.hv.IsActive(3), "another neighbour to ask")
	n.dialBacks = nil // the neighbour never answers: the link ends first
	n.dialBack = dialBack
	n.step(2, func(e *Engine, out *Ready) { e.ConnectionFailed(n.now, asked, out) })
	n.step(asked, func(e *Engine, out *Ready) { e.ConnectionFailed(n.now, 2, out) })
	n.run(time.Second)
	r := e.Reachability()
	require.True(t, r.Checked, "checked within a second of the lost link")
	require.False(t, r.Reachable)
	require.NotEqual(t, asked, r.By)
	c := e.Counters().Engine
	require.Equal(t, uint64(2), c.ReachAsked)
	require.Equal(t, uint64(1), c.ReachUnanswered)
	require.True(t, e.roster.OwnRendezvous().Unreachable)
}

// TestReachabilityCheckAlone: a node whose check has no answer and whose
// only neighbour cannot be dialled asks, on its rejoin tick, a member
// that can be dialled for a link, and asks it.
func TestReachabilityCheckAlone(t *testing.T) {
	n := reachNet(t, map[peer.ID]bool{2: true, 3: true}, 1, 2, 3)
	n.join(1)
	n.run(0)
	n.join(2, 1)
	n.run(5 * DefaultRejoinInterval)
	require.True(t, n.eng[2].roster.OwnRendezvous().Unreachable)
	dialBack := n.dialBack
	n.dialBack = nil // the dials back wait
	n.join(3, 1)
	n.run(time.Second)
	e := n.eng[3]
	require.Equal(t, peer.ID(1), e.Reachability().InFlight, "asked 1, the one neighbour it may ask")
	require.True(t, e.hv.IsActive(2), "and linked to 2, which cannot be dialled")
	n.dialBacks = nil // 1 closes its link to 3 before it answers
	n.step(3, func(e *Engine, out *Ready) { e.ConnectionClosed(n.now, 1, out) })
	n.step(1, func(e *Engine, out *Ready) { e.ConnectionClosed(n.now, 3, out) })
	n.dialBack = dialBack
	require.False(t, e.hv.IsActive(1))
	require.Zero(t, e.Reachability().InFlight, "nobody to ask")
	out := n.step(3, func(e *Engine, out *Ready) { e.TimerFired(n.now, Timer{kind: TimerRejoin}, out) })
	require.Equal(t, uint64(1), e.Counters().Engine.RendezvousAsked)
	require.True(t, slices.ContainsFunc(out.Sends, func(s Send) bool { return s.To.ID == 1 }), "a link asked of 1")
	n.run(2 * DefaultRejoinInterval)
	r := e.Reachability()
	require.True(t, r.Checked, "checked within two rejoin ticks")
	require.False(t, r.Reachable)
	require.Equal(t, peer.ID(1), r.By)
	require.Equal(t, peer.ID(1), e.roster.OwnRendezvous().ID)
}

// TestRendezvousThatCannotBeDialled: a node whose rendezvous's record
// comes to say that it cannot be dialled (a neighbour on its own LAN,
// named before its own check ended) names another on its next rejoin
// tick.
func TestRendezvousThatCannotBeDialled(t *testing.T) {
	n := reachNet(t, map[peer.ID]bool{2: true, 3: true}, 1, 2, 3)
	n.join(1)
	n.run(0)
	n.join(2, 1)
	n.join(3, 1)
	n.run(5 * DefaultRejoinInterval)
	e := n.eng[3]
	require.True(t, e.hv.IsActive(1) && e.hv.IsActive(2))
	require.True(t, e.roster.OwnRendezvous().Unreachable)
	require.True(t, n.eng[2].roster.OwnRendezvous().Unreachable)
	// As if 3 had named 2 before 2's record said it cannot be dialled.
	n.step(3, func(e *Engine, out *Ready) {
		rv := roster.Rendezvous{ID: 2, Addr: string(rune('a' + 2)), Unreachable: true}
		require.NoError(t, e.stepRoster(n.now, roster.Input{Kind: roster.InputSetRendezvous, Rendezvous: rv}, out))
	})
	require.Equal(t, peer.ID(2), e.roster.OwnRendezvous().ID)
	n.run(DefaultRejoinInterval)
	require.Equal(t, peer.ID(1), e.roster.OwnRendezvous().ID, "one that can be dialled")
}

// TestReachabilityCheckBounded: changes of neighbours make a check due,
// but a node is dialled back at most once per ReachInterval however
// often its view changes.
func TestReachabilityCheckBounded(t *testing.T) {
	ids := []peer.ID{}
	for id := peer.ID(1); id <= 30; id++ {
		ids = append(ids, id)
	}
	n := reachNet(t, nil, ids...)
	n.join(1)
	n.run(0)
	for id := peer.ID(2); id <= 7; id++ {
		n.join(id, 1)
	}
	n.run(5 * DefaultRejoinInterval)
	start := n.now
	// Churn: a newcomer joins every 10 s and crashes 10 s later, for
	// four minutes.
	for id := peer.ID(8); id <= 30; id++ {
		n.join(id, peer.ID(2+int(id)%6))
		n.run(10 * time.Second)
		n.down[id] = true
	}
	n.run(10 * time.Second)
	minutes := uint64(n.now.Sub(start)/DefaultReachInterval) + 1
	rechecked := 0
	for id := peer.ID(2); id <= 7; id++ {
		c := n.eng[id].Counters().Engine
		dialled := c.ReachResults[ReachDialled] + c.ReachResults[ReachFailed] + c.ReachUnanswered
		require.LessOrEqual(t, dialled, minutes+1, "node %d: at most one dial back a minute", id)
		require.LessOrEqual(t, c.ReachAsked, 2*minutes+2, "node %d: and few refused checks", id)
		require.Zero(t, c.ReachResults[ReachFailed], "node %d", id)
		if c.ReachAsked > 1 {
			rechecked++
		}
		require.True(t, n.eng[id].Reachability().Reachable, "node %d", id)
	}
	require.Positive(t, rechecked, "changes of neighbours made checks due")

}

// TestReachabilityFlips: a node that learned it cannot be dialled and
// later can (its NAT went away, its address changed) drops its
// rendezvous, and back; a stable node does not check again.
func TestReachabilityFlips(t *testing.T) {
	natted := map[peer.ID]bool{2: true}
	n := reachNet(t, natted, 1, 2, 3)
	n.join(1)
	n.run(0)
	n.join(3, 1)
	n.join(2, 1)
	n.run(5 * DefaultRejoinInterval)
	e := n.eng[2]
	require.True(t, e.roster.OwnRendezvous().Unreachable)

	natted[2] = false
	asked := e.Counters().Engine.ReachAsked
	n.run(DefaultReachInterval)
	require.Equal(t, asked, e.Counters().Engine.ReachAsked, "nothing changed: no check")
	n.step(2, func(e *Engine, out *Ready) { e.AddressChanged(n.now, out) })
	n.run(time.Second)
	require.True(t, e.Reachability().Reachable)
	require.True(t, e.roster.OwnRendezvous().IsZero(), "reachable: no rendezvous, nothing against dialling")
	rec, _ := n.eng[1].Member(2)
	require.True(t, rec.Rendezvous().IsZero(), "published")

	natted[2] = true
	n.run(DefaultReachInterval)
	n.step(2, func(e *Engine, out *Ready) { e.AddressChanged(n.now, out) })
	n.run(time.Second)
	require.False(t, e.Reachability().Reachable)
	require.True(t, e.roster.OwnRendezvous().Unreachable)
	require.NotZero(t, e.roster.OwnRendezvous().ID)
}

// reachResponder returns R's engine (sigR) with budgets of perPeriod
// ReachRequests per peer, B as an active neighbour, and the signed
// records of B and A (not a neighbour).
func reachResponder(t *testing.T, perPeriod int) *Engine {
	t.Helper()
	b := DefaultBudgets()
	b.PerPeriod[BudgetReach] = perPeriod
	b.Strikes = 1000
	e := budgetEngine(t, sigR, b)
	do(t, e, func(out *Ready) { e.Receive(t0, sigB, &hyparview.Join{Addr: "b", Nonce: 1}, out) })
	do(t, e, func(out *Ready) {
		e.Receive(t0, sigB, &Records{Records: []roster.Record{
			signedRecord(sigB, 1, roster.Rendezvous{}),
			signedRecord(sigA, 1, roster.Rendezvous{}),
		}}, out)
	})
	return e
}

// TestReachRequestRules: a node dials back only an active neighbour with
// a signed record, at its record's address; others get a refusal; the
// result goes back over the open link only.
func TestReachRequestRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		from peer.ID
		dial bool
	}{
		{name: "an active neighbour with a signed record", from: sigB, dial: true},
		{name: "a member that is not a neighbour", from: sigA},
		{name: "a stranger", from: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := reachResponder(t, 10)
			out := do(t, e, func(out *Ready) { e.Receive(t0, tc.from, &ReachRequest{Nonce: 42}, out) })
			c := e.Counters().Engine
			if !tc.dial {
				require.Empty(t, out.DialBacks)
				require.Equal(t, []Send{{To: hyparview.Peer{ID: tc.from}, Msg: &ReachAnswer{Nonce: 42, Result: ReachRefused}}}, out.Sends)
				require.Equal(t, uint64(1), c.ReachRefused)
				return
			}
			rec, _ := e.Member(tc.from)
			require.Equal(t, []DialBack{{ID: tc.from, Addr: rec.Addr, Nonce: 42}}, out.DialBacks)
			require.Empty(t, out.Sends, "the answer waits for the dial")
			require.Equal(t, uint64(1), c.ReachDialBacks)
			for _, res := range []ReachResult{ReachDialled, ReachFailed, ReachRefused, 0} {
				out = do(t, e, func(out *Ready) { e.DialedBack(t0, DialBack{ID: tc.from, Addr: rec.Addr, Nonce: 42}, res, out) })
				want := res
				if res == 0 {
					want = ReachRefused
				}
				require.Equal(t, []Send{{To: hyparview.Peer{ID: tc.from}, Msg: &ReachAnswer{Nonce: 42, Result: want}}}, out.Sends, "over the open link only")
			}
		})
	}
}

// TestReachBudget: a neighbour gets at most BudgetReach dials back per
// period; the requests beyond are dropped unanswered and counted; the
// next period refills the budget.
func TestReachBudget(t *testing.T) {
	e := reachResponder(t, 2)
	dials := 0
	for i := range 6 {
		out := do(t, e, func(out *Ready) { e.Receive(t0.Add(1), sigB, &ReachRequest{Nonce: uint64(i)}, out) })
		dials += len(out.DialBacks)
		if i >= 2 {
			require.Empty(t, out.Sends, "over budget: no answer either")
		}
	}
	require.Equal(t, 2, dials)
	require.Equal(t, uint64(4), e.Counters().Engine.OverBudget[BudgetReach])
	out := do(t, e, func(out *Ready) { e.Receive(t0.Add(DefaultBudgets().Period+1), sigB, &ReachRequest{Nonce: 9}, out) })
	require.Len(t, out.DialBacks, 1, "the next period refills the budget")
}

// TestReachAnswers: a node takes only the answer of the neighbour it
// asked, under the check's nonce; a refusal or no answer decides
// nothing; after no answer the next check waits for the interval, after
// a refusal (no dial made) for ReachTimeout.
func TestReachAnswers(t *testing.T) {
	mk := func(t *testing.T) (*Engine, *Ready) {
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{sigB}, CheckReachability: true, ProbeInterval: -1}}
		e, err := New(hyparview.Peer{ID: sigB, Addr: "c"}, cfg, rand.New(rand.NewPCG(1, 1)))
		require.NoError(t, err)
		do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
		do(t, e, func(out *Ready) { e.Receive(t0, sigR, &hyparview.Join{Addr: "b", Nonce: 1}, out) })
		out := do(t, e, func(out *Ready) {
			e.Receive(t0, sigR, &Records{Records: []roster.Record{signedRecord(sigR, 1, roster.Rendezvous{})}}, out)
		})
		return e, out
	}
	request := func(out *Ready) *ReachRequest {
		for _, s := range out.Sends {
			if m, ok := s.Msg.(*ReachRequest); ok {
				require.Equal(t, hyparview.Peer{ID: sigR}, s.To)
				return m
			}
		}
		return nil
	}
	t.Run("asks once it holds a reachable neighbour's record", func(t *testing.T) {
		e, out := mk(t)
		m := request(out)
		require.NotNil(t, m)
		require.Equal(t, sigR, e.Reachability().InFlight)
		// Answers of another peer or another nonce change nothing.
		do(t, e, func(out *Ready) { e.Receive(t0, sigA, &ReachAnswer{Nonce: m.Nonce, Result: ReachFailed}, out) })
		do(t, e, func(out *Ready) { e.Receive(t0, sigR, &ReachAnswer{Nonce: m.Nonce + 1, Result: ReachFailed}, out) })
		require.False(t, e.Reachability().Checked)
		require.Equal(t, uint64(2), e.Counters().Engine.StaleReachAnswers)
		do(t, e, func(out *Ready) { e.Receive(t0, sigR, &ReachAnswer{Nonce: m.Nonce, Result: ReachFailed}, out) })
		r := e.Reachability()
		require.Equal(t, Reachability{Checked: true, By: sigR, At: t0}, r)
		require.Equal(t, roster.Rendezvous{ID: sigR, Addr: "b", Unreachable: true}, e.roster.OwnRendezvous())
		// The same answer again is stale.
		do(t, e, func(out *Ready) { e.Receive(t0, sigR, &ReachAnswer{Nonce: m.Nonce, Result: ReachDialled}, out) })
		require.False(t, e.Reachability().Reachable)
	})
	t.Run("a refusal decides nothing", func(t *testing.T) {
		e, out := mk(t)
		m := request(out)
		do(t, e, func(out *Ready) { e.Receive(t0, sigR, &ReachAnswer{Nonce: m.Nonce, Result: ReachRefused}, out) })
		require.Equal(t, Reachability{}, e.Reachability())
		require.True(t, e.roster.OwnRendezvous().IsZero())
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultReachTimeout/2), Timer{kind: TimerRejoin}, out) })
		require.Nil(t, request(out), "not before ReachTimeout")
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultReachTimeout), Timer{kind: TimerRejoin}, out) })
		require.NotNil(t, request(out), "again after it")
	})
	t.Run("no answer decides nothing", func(t *testing.T) {
		e, out := mk(t)
		m := request(out)
		var tm Timer
		for _, ts := range out.Timers {
			if ts.Timer.Kind() == TimerReach {
				tm = ts.Timer
				require.Equal(t, DefaultReachTimeout, ts.After)
			}
		}
		require.Equal(t, TimerReach, tm.Kind())
		do(t, e, func(out *Ready) { e.TimerFired(t0.Add(DefaultReachTimeout), tm, out) })
		require.Equal(t, uint64(1), e.Counters().Engine.ReachUnanswered)
		require.Zero(t, e.Reachability().InFlight)
		out = do(t, e, func(out *Ready) {
			e.TimerFired(t0.Add(DefaultReachInterval-time.Second), Timer{kind: TimerRejoin}, out)
		})
		require.Nil(t, request(out), "not before the interval")
		do(t, e, func(out *Ready) { e.Receive(t0, sigR, &ReachAnswer{Nonce: m.Nonce, Result: ReachFailed}, out) })
		require.False(t, e.Reachability().Checked, "an answer after the timeout is stale")
	})
}

// TestReachDecoding: the codec carries both messages and refuses an
// answer of no known result; a request carries no address at all.
func TestReachDecoding(t *testing.T) {
	codec, err := NewCodec(wire.Limits{})
	require.NoError(t, err)
	for _, m := range []Message{&ReachRequest{Nonce: 7}, &ReachAnswer{Nonce: 7, Result: ReachDialled}, &ReachAnswer{Nonce: 1, Result: ReachRefused}} {
		b, err := codec.Encode(m)
		require.NoError(t, err)
		got, err := codec.Decode(b)
		require.NoError(t, err)
		require.Equal(t, m, got)
		require.Equal(t, 3, NeedsProtocol(m))
	}
	for _, res := range []ReachResult{0, ReachRefused + 1} {
		b, err := codec.Encode(&ReachAnswer{Nonce: 7, Result: res})
		if err == nil {
			_, err = codec.Decode(b)
		}
		require.Error(t, err, "result %d", res)
	}
}

// signedRecordAt is signedRecord with the member's address.
func signedRecordAt(id peer.ID, addr string) roster.Record {
	r := roster.Record{ID: id, Addr: addr, Incarnation: 1, State: roster.StateAlive, Proof: &roster.Proof{}}
	r.Proof.Key, r.Proof.Sig = fakeAuth{id}.PublicKey(), fakeAuth{id}.Sign(roster.StatementBytes(&r))
	return r
}

// TestReachFromOwnPrivateNetwork: a node on a private address takes a
// dial back from a neighbour on a private address too (one on its own
// LAN, behind the same NAT) for no answer at all, while that neighbour's
// failure to dial decides; with a neighbour on a public address as well,
// it asks that one.
func TestReachFromOwnPrivateNetwork(t *testing.T) {
	const lan, public = peer.ID(2), peer.ID(5)
	addrs := map[peer.ID]string{lan: "k@192.168.1.3:7946", public: "k@203.0.113.1:7946"}
	mk := func(t *testing.T, neighbours ...peer.ID) (*Engine, *Ready) {
		private := func(addr string) bool { return strings.HasPrefix(addr, "k@192.168.") }
		cfg := Config{Members: &MembersConfig{Auth: fakeAuth{sigB}, CheckReachability: true, ProbeInterval: -1, PrivateAddress: private}}
		e, err := New(hyparview.Peer{ID: 9, Addr: "k@192.168.1.2:7946"}, cfg, rand.New(rand.NewPCG(1, 1)))
		require.NoError(t, err)
		do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
		var recs []roster.Record
		for _, n := range neighbours {
			do(t, e, func(out *Ready) { e.Receive(t0, n, &hyparview.Join{Addr: addrs[n], Nonce: uint64(n)}, out) })
			recs = append(recs, signedRecordAt(n, addrs[n]))
		}
		out := do(t, e, func(out *Ready) { e.Receive(t0, neighbours[0], &Records{Records: recs}, out) })
		return e, out
	}
	asked := func(out *Ready) (peer.ID, uint64) {
		for _, s := range out.Sends {
			if m, ok := s.Msg.(*ReachRequest); ok {
				return s.To.ID, m.Nonce
			}
		}
		return 0, 0
	}
	t.Run("a dial back from the LAN decides nothing", func(t *testing.T) {
		e, out := mk(t, lan)
		to, nonce := asked(out)
		require.Equal(t, lan, to, "the only neighbour is asked")
		do(t, e, func(out *Ready) { e.Receive(t0, lan, &ReachAnswer{Nonce: nonce, Result: ReachDialled}, out) })
		require.False(t, e.Reachability().Checked)
		require.Equal(t, uint64(1), e.Counters().Engine.ReachInconclusive)
		require.True(t, e.roster.OwnRendezvous().IsZero(), "the record still says nothing")
		out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(3*time.Second), Timer{kind: TimerRejoin}, out) })
		to, _ = asked(out)
		require.Zero(t, to, "the LAN neighbour is not asked again within the interval")
		do(t, e, func(out *Ready) { e.Receive(t0, public, &hyparview.Join{Addr: addrs[public], Nonce: 77}, out) })
		out = do(t, e, func(out *Ready) {
			e.Receive(t0, public, &Records{Records: []roster.Record{signedRecordAt(public, addrs[public])}}, out)
		})
		to, _ = asked(out)
		require.Equal(t, public, to, "a public neighbour is asked at once, before the interval")
	})
	t.Run("a failure to dial from the LAN decides", func(t *testing.T) {
		e, out := mk(t, lan)
		_, nonce := asked(out)
		do(t, e, func(out *Ready) { e.Receive(t0, lan, &ReachAnswer{Nonce: nonce, Result: ReachFailed}, out) })
		require.Equal(t, Reachability{Checked: true, By: lan, At: t0}, e.Reachability())
	})
	t.Run("a public neighbour is asked first", func(t *testing.T) {
		e, _ := mk(t, lan, public)
		require.Equal(t, public, e.Reachability().InFlight)
	})
}
