package gossip

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// budgetEngine returns node id's engine with the member list, signatures
// (fakeAuth) and the budgets b.
func budgetEngine(t *testing.T, id peer.ID, b Budgets) *Engine {
	t.Helper()
	cfg := Config{Budgets: &b, Members: &MembersConfig{Auth: fakeAuth{id}}}
	e, err := New(hyparview.Peer{ID: id, Addr: "a"}, cfg, rand.New(rand.NewPCG(uint64(id), 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	return e
}

func smallBudgets() Budgets {
	b := DefaultBudgets()
	b.PerPeriod[BudgetNeighbor] = 2
	b.Strikes = 3
	return b
}

// A peer over its NEIGHBOR budget is slowed: its requests beyond the
// budget are dropped and counted; past Strikes it is evicted (its
// connection closed, reported for the log) and everything it sends is
// dropped until BanPeriod is over. The budget refills each Period, and
// other peers are not affected.
func TestPeerOverBudgetIsSlowedThenEvicted(t *testing.T) {
	b := smallBudgets()
	e := budgetEngine(t, 1, b)
	const abuser, other = peer.ID(2), peer.ID(3)
	ask := func(now time.Time, from peer.ID) *Ready {
		return do(t, e, func(out *Ready) {
			e.Receive(now, from, &hyparview.Neighbor{Priority: hyparview.PriorityHigh, Addr: "x", Nonce: uint64(now.UnixNano())}, out)
		})
	}
	for i := range 2 {
		require.False(t, ask(t0.Add(time.Duration(i)), abuser).Empty(), "request %d is within budget: answered", i)
	}
	for i := range b.Strikes {
		require.True(t, ask(t0.Add(time.Duration(10+i)), abuser).Empty(), "request over budget %d is dropped", i)
	}
	require.Equal(t, uint64(b.Strikes), e.Counters().Engine.OverBudget[BudgetNeighbor])
	require.False(t, ask(t0.Add(20), other).Empty(), "another peer has its own budget")

	out := ask(t0.Add(30), abuser)
	require.Equal(t, []Eviction{{Peer: abuser, Budget: BudgetNeighbor}}, out.Evictions)
	require.Contains(t, out.Closes, abuser)
	require.Equal(t, uint64(1), e.Counters().Engine.Evictions)

	later := t0.Add(b.Period + time.Second)
	require.True(t, ask(later, abuser).Empty(), "banned")
	require.Equal(t, uint64(1), e.Counters().Engine.BannedDrops)
	require.False(t, ask(t0.Add(b.BanPeriod+time.Second), abuser).Empty(), "the ban is over and the budget refilled")
}

// More peers than MaxPeers share budgets, so that a crowd of keys cannot
// grow the table: peers whose ID falls in the same one of the
// sharedBudgets share one, others do not (before, every peer beyond the
// table shared a single budget, and a burst of newcomers larger than the
// table was refused but for a few: at 5,000 nodes joining through one
// contact, thousands of JOINs); peers whose period is over are forgotten
// first.
func TestBudgetTableIsBounded(t *testing.T) {
	b := smallBudgets()
	b.MaxPeers = 2
	e := budgetEngine(t, 1, b)
	ask := func(now time.Time, from peer.ID) bool {
		return !do(t, e, func(out *Ready) {
			e.Receive(now, from, &hyparview.Neighbor{Priority: hyparview.PriorityHigh, Addr: "x", Nonce: uint64(from)<<20 + uint64(now.UnixNano())}, out)
		}).Empty()
	}
	require.True(t, ask(t0, 2))
	require.True(t, ask(t0, 3))
	require.Len(t, e.budgets.peers, 2)
	for _, id := range []peer.ID{10, 10 + sharedBudgets} {
		require.True(t, ask(t0, id), "a shared budget")
	}
	require.False(t, ask(t0, 10+2*sharedBudgets), "that shared budget is spent")
	for id := peer.ID(11); id < 11+3; id++ {
		require.True(t, ask(t0, id), "peer %d has a shared budget of its own", id)
	}
	require.Len(t, e.budgets.peers, 2)
	require.True(t, ask(t0.Add(b.Period), 13), "a stale entry made room")
	require.Contains(t, e.budgets.peers, peer.ID(13))
}

// Records of members new to the node beyond a peer's budget are dropped
// without a strike, while its updates of members already held apply; the
// dropped ones come back with a later exchange.
func TestNewMembersOverBudgetAreDropped(t *testing.T) {
	b := DefaultBudgets()
	b.PerPeriod[BudgetNewMembers] = 2
	b.Strikes = 0
	e := budgetEngine(t, 1, b)
	signed := func(id peer.ID, inc uint64) roster.Record {
		r := roster.Record{ID: id, Addr: "x", Incarnation: inc, State: roster.StateAlive}
		r.Proof = &roster.Proof{Key: fakeAuth{id}.PublicKey(), Sig: fakeAuth{id}.Sign(roster.StatementBytes(&r))}
		return r
	}
	do(t, e, func(out *Ready) {
		e.Receive(t0, 2, &Records{Records: []roster.Record{signed(5, 1), signed(6, 1)}}, out)
	})
	out := do(t, e, func(out *Ready) {
		e.Receive(t0, 2, &Records{Records: []roster.Record{signed(5, 2), signed(7, 1), signed(8, 1)}}, out)
	})
	require.Empty(t, out.Evictions, "no strike for new members")
	m, _ := e.Member(5)
	require.Equal(t, uint64(2), m.Incarnation, "the update of a known member applied")
	_, ok := e.Member(7)
	require.False(t, ok, "new members over budget dropped")
	require.Equal(t, uint64(1), e.Counters().Engine.OverBudget[BudgetNewMembers])

	do(t, e, func(out *Ready) {
		e.Receive(t0.Add(b.Period), 2, &Records{Records: []roster.Record{signed(7, 1), signed(8, 1)}}, out)
	})
	_, ok = e.Member(8)
	require.True(t, ok, "the next period takes them")
}

// Records that fail verification are charged to the peer that sent them:
// the first forgery past its forged budget evicts it, whatever Strikes
// says, and what it sends next is not even verified.
func TestForgedRecordsAreCharged(t *testing.T) {
	b := DefaultBudgets()
	b.PerPeriod[BudgetForged] = 1
	e := budgetEngine(t, 1, b)
	forged := roster.Record{ID: 5, Addr: "x", Incarnation: 1, State: roster.StateAlive} // no proof
	var evicted []Eviction
	for range 3 {
		out := do(t, e, func(out *Ready) {
			e.Receive(t0, 2, &Records{Records: []roster.Record{forged}}, out)
		})
		evicted = append(evicted, out.Evictions...)
	}
	require.Equal(t, []Eviction{{Peer: 2, Budget: BudgetForged}}, evicted)
	c := e.Counters().Engine
	require.Equal(t, uint64(2), c.ForgedRecords, "the third was dropped unread")
	require.Equal(t, uint64(1), c.BannedDrops)
}

// Budgets with a zero period, table or budget are refused.
func TestBudgetsValidate(t *testing.T) {
	d := DefaultBudgets()
	require.NoError(t, d.Validate())
	for name, mutate := range map[string]func(*Budgets){
		"period":   func(b *Budgets) { b.Period = 0 },
		"peers":    func(b *Budgets) { b.MaxPeers = 0 },
		"strikes":  func(b *Budgets) { b.Strikes = -1 },
		"a budget": func(b *Budgets) { b.PerPeriod[BudgetShuffle] = 0 },
	} {
		b := DefaultBudgets()
		mutate(&b)
		require.Error(t, b.Validate(), name)
		require.Error(t, Config{Budgets: &b}.Validate(), name)
	}
}

// Every request a peer can repeat spends its budget: for each kind, the
// requests within budget reach the protocol and the first one over it is
// dropped and counted under that budget.
func TestEveryRequestHasABudget(t *testing.T) {
	self := hyparview.Peer{ID: 7, Addr: "x"}
	for _, tc := range []struct {
		budget Budget
		msg    func(i int) Message
	}{
		{BudgetJoin, func(i int) Message { return &hyparview.Join{Addr: "x", Nonce: uint64(i + 1)} }},
		{BudgetForwardJoin, func(i int) Message {
			return &hyparview.ForwardJoin{NewNode: hyparview.Peer{ID: peer.ID(100 + i), Addr: "n"}, TTL: 3}
		}},
		{BudgetShuffle, func(int) Message { return &hyparview.Shuffle{Origin: self, TTL: 0, Peers: []hyparview.Peer{self}} }},
		{BudgetShuffle, func(int) Message { return &hyparview.ShuffleReply{Peers: []hyparview.Peer{self}} }},
		{BudgetNeighbor, func(i int) Message {
			return &hyparview.Neighbor{Priority: hyparview.PriorityLow, Addr: "x", Nonce: uint64(i + 1)}
		}},
		{BudgetRecords, func(int) Message { return &Digest{To: ^peer.ID(0)} }},
		{BudgetRecords, func(int) Message { return &Records{Want: []peer.ID{9}} }},
		{BudgetViews, func(i int) Message { return &ViewsRequest{Nonce: uint64(i + 1)} }},
	} {
		b := DefaultBudgets()
		for k := range b.PerPeriod {
			b.PerPeriod[k] = 1_000_000
		}
		b.PerPeriod[tc.budget] = 3
		e := budgetEngine(t, 1, b)
		for i := range 3 {
			do(t, e, func(out *Ready) { e.Receive(t0, 7, tc.msg(i), out) })
		}
		require.Zero(t, e.Counters().Engine.OverBudget[tc.budget], "%T within budget", tc.msg(0))
		out := do(t, e, func(out *Ready) { e.Receive(t0, 7, tc.msg(3), out) })
		require.True(t, out.Empty(), "%T over budget is dropped", tc.msg(0))
		require.Equal(t, uint64(1), e.Counters().Engine.OverBudget[tc.budget], "%T", tc.msg(0))
	}
}
