package membership

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/transport"
)

// The attack tests: one admitted peer that does not follow the protocol
// (adversary) against a small cluster on the in-memory network, one test
// per row of docs/security.md's table of attacks, each asserting its
// bound. The forged origin row is TestForgedOriginIsNotDelivered
// (signer_test.go).

// startCluster joins n nodes configured by configure and waits until every
// node lists every node alive.
func startCluster(t *testing.T, n int, configure func(*Config)) *memCluster {
	t.Helper()
	c := newMemClusterWith(t, n, configure)
	c.joinAll()
	waitFor(t, time.Minute, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
	return c
}

// rogueOn starts an adversary on c's network.
func rogueOn(t *testing.T, c *memCluster) *adversary {
	t.Helper()
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := c.net.Listen("rogue", id, transport.MemConfig{})
	require.NoError(t, err)
	return newAdversary(t, tr)
}

// memberOn returns nd's record of member id.
func memberOn(t *testing.T, nd *Node, id uint64) Member {
	t.Helper()
	for _, m := range nd.Members() {
		if m.ID == id {
			return m
		}
	}
	require.Fail(t, "member not listed", "node %x does not list %x", nd.ID(), id)
	return Member{}
}

// Row 1: one peer says honest node b failed at incarnation 2^63−1, which
// b could never refute. Every form of the claim — unsigned; with b's real
// statement at another incarnation; claiming Alive with the rogue's key —
// is dropped and counted by the node it reaches, by anti-entropy or as a
// broadcast, relayed nowhere, and the rogue evicted; b stays Alive at its
// own incarnation everywhere and never has to refute.
func TestAttackFailureAtMaxIncarnation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, 3, nil)
		a, b := c.nodes[0], c.nodes[1]
		rogue := rogueOn(t, c)
		real := rogue.recordOf(a, b)
		require.NotNil(t, real.Proof, "b's record is signed by b")

		lie := rogue.declare(real, roster.StateFailed)
		lie.Incarnation = math.MaxInt64
		unsigned := lie
		unsigned.Proof = nil
		asAlive := real
		asAlive.Incarnation = math.MaxInt64
		asAlive.Proof = &roster.Proof{Key: rogue.tr.PublicKey(), Sig: rogue.tr.Sign(roster.StatementBytes(&asAlive))}
		require.NoError(t, rogue.broadcast(a, lie))
		require.NoError(t, rogue.broadcast(a, unsigned))
		require.NoError(t, rogue.send(a, &gossip.Records{Records: []roster.Record{asAlive, lie}}))
		time.Sleep(10 * time.Second)
		require.Zero(t, a.Counters().Engine.Evictions, "four forgeries are within the allowance")
		for range 20 { // repeated, the lie gets the rogue evicted
			if rogue.broadcast(a, lie) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}

		for _, nd := range c.nodes {
			m := memberOn(t, nd, b.ID())
			require.Equal(t, StateAlive, m.State, "on node %x", nd.ID())
			require.Equal(t, real.Incarnation, m.Incarnation, "on node %x", nd.ID())
		}
		require.Zero(t, b.Counters().Roster.Refutations)
		ca := a.Counters()
		require.GreaterOrEqual(t, ca.Engine.ForgedRecords, uint64(3))
		require.Equal(t, uint64(1), ca.Engine.Evictions, "the rogue is evicted")
		reason, closed := rogue.closedBy(a)
		require.True(t, closed, "a closed the rogue's connection")
		require.Equal(t, "evicted: over its forged budget", reason)
		t.Logf("a closed the rogue's connection: %q; counters: forged records %d, banned drops %d",
			reason, ca.Engine.ForgedRecords, ca.Engine.BannedDrops)
		for _, nd := range c.nodes[1:] {
			require.Zero(t, nd.Counters().Engine.ForgedRecords, "nothing forged was relayed to node %x", nd.ID())
		}
	})
}

// Row 2, without keys: 200 Records messages inventing 51,200 members with
// 512 bytes of metadata each. No invented member is listed anywhere: the
// first message's forgeries evict the rogue, the rest is never read.
func TestAttackInventedMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, 3, nil)
		a := c.nodes[0]
		rogue := rogueOn(t, c)
		sent := 0
		for i := range 200 {
			recs := make([]roster.Record, gossip.MaxRecordsPerMessage)
			for k := range recs {
				recs[k] = roster.Record{ID: peer.ID(1<<40 | uint64(i)<<8 | uint64(k)), Addr: "x", Meta: make([]byte, 512), Incarnation: 1, State: roster.StateAlive}
			}
			if rogue.send(a, &gossip.Records{Records: recs}) != nil {
				break
			}
			sent++
		}
		time.Sleep(time.Minute)
		for _, nd := range c.nodes {
			require.Len(t, nd.Members(), 3, "on node %x", nd.ID())
		}
		reason, closed := rogue.closedBy(a)
		require.True(t, closed)
		require.Equal(t, "evicted: over its forged budget", reason)
		require.Equal(t, uint64(1), a.Counters().Engine.Evictions)
		t.Logf("the rogue sent %d messages before its connection closed; a verified %d records", sent, a.Counters().Engine.ForgedRecords)
	})
}

// Row 2, with keys: the rogue signs invented members with keys of its own
// making, which no running node holds. Each node takes at most its
// new-members budget per period from the rogue and at most MaxMembers in
// all, never evicting an honest member; and since no invented member ever
// refreshes its record, every node has forgotten them all once
// SilenceTimeout, RetainDead and a sweep have passed, while the honest
// members, which refresh, stay.
func TestAttackSybilMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxMembers, budget = 200, 300
		c := startCluster(t, 3, func(cfg *Config) {
			b := gossip.DefaultBudgets()
			b.PerPeriod[gossip.BudgetNewMembers] = budget
			cfg.Protocol.Budgets = &b
			cfg.Roster.MaxMembers = maxMembers
			cfg.Roster.RefreshInterval = time.Minute
			cfg.Roster.SilenceTimeout = 3 * time.Minute
			cfg.Roster.RetainDead = time.Minute
			cfg.Roster.ExpiryInterval = 30 * time.Second
		})
		a := c.nodes[0]
		rogue := rogueOn(t, c)
		for range 3 {
			recs := make([]roster.Record, gossip.MaxRecordsPerMessage)
			for k := range recs {
				recs[k] = rogue.sybil(512)
			}
			require.NoError(t, rogue.send(a, &gossip.Records{Records: recs}))
		}
		time.Sleep(time.Minute) // anti-entropy spreads them to b and c
		for _, nd := range c.nodes {
			require.LessOrEqual(t, len(nd.Members()), maxMembers, "on node %x", nd.ID())
			require.True(t, allSee([]*Node{nd}, c.nodes, StateAlive), "no honest member lost on node %x", nd.ID())
		}
		ca := a.Counters()
		require.NotZero(t, ca.Engine.OverBudget[gossip.BudgetNewMembers], "the budget dropped some")
		require.NotZero(t, ca.Roster.RefusedFull, "the cap refused some")
		require.Zero(t, ca.Engine.Evictions, "signed records earn no strike")
		t.Logf("a holds %d members; %d refused at the cap, %d requests over the new-members budget",
			len(a.Members()), ca.Roster.RefusedFull, ca.Engine.OverBudget[gossip.BudgetNewMembers])

		waitFor(t, 10*time.Minute, "every invented member forgotten", func() bool {
			for _, nd := range c.nodes {
				if len(nd.Members()) != len(c.nodes) {
					return false
				}
			}
			return true
		})
		require.True(t, allSee(c.nodes, c.nodes, StateAlive), "the honest members, which refresh, stay")
		// No invented member answers a probe, and none refreshes: the
		// probes suspect them, silence catches those never probed.
		ca = a.Counters()
		require.NotZero(t, ca.Roster.Silenced+ca.Engine.ProbesFailed)
	})
}

// A suspicion is valid from any admitted peer at the incarnation the
// subject signed: one peer declares honest node b suspect, then failed.
// Every node may list b so for a moment, but b refutes with its next
// incarnation, which every node takes; replayed, the declarations are
// stale. (The simulator's members experiment measures how long the
// refutation takes to spread.)
func TestAttackFalseSuspicionIsRefuted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, 5, nil)
		a, b := c.nodes[0], c.nodes[1]
		rogue := rogueOn(t, c)
		real := rogue.recordOf(a, b)
		suspicion, failure := rogue.declare(real, roster.StateSuspect), rogue.declare(real, roster.StateFailed)
		require.NoError(t, rogue.broadcast(a, suspicion))
		require.NoError(t, rogue.broadcast(a, failure))
		refuted := func() bool {
			for _, nd := range c.nodes {
				if m := memberOn(t, nd, b.ID()); m.State != StateAlive || m.Incarnation <= real.Incarnation {
					return false
				}
			}
			return true
		}
		waitFor(t, time.Minute, "b's refutation reaches every node", refuted)
		require.Equal(t, uint64(1), b.Counters().Roster.Refutations)
		require.Zero(t, a.Counters().Engine.ForgedRecords, "the declarations were valid")

		require.NoError(t, rogue.broadcast(c.nodes[2], suspicion, failure))
		require.NoError(t, rogue.send(a, &gossip.Records{Records: []roster.Record{failure}}))
		time.Sleep(10 * time.Second)
		require.True(t, refuted(), "replayed, the declarations are stale")
		require.Equal(t, uint64(1), b.Counters().Roster.Refutations)
	})
}

// A flood of SHUFFLEs (the budget of every HyParView request works the
// same way), redialled each time the node closes the connection, is
// slowed, then its sender evicted with the budget named and banned; the
// node keeps its honest neighbours and members.
func TestAttackShuffleFloodIsEvicted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, 4, nil)
		a := c.nodes[0]
		before, _ := a.Views()
		rogue := rogueOn(t, c)
		self := hyparview.Peer{ID: rogue.id(), Addr: "rogue"}
		d := gossip.DefaultBudgets()
		for i := range 2 * (d.PerPeriod[gossip.BudgetShuffle] + d.Strikes) {
			msg := &hyparview.Shuffle{Origin: self, TTL: 0, Peers: []hyparview.Peer{self, {ID: peer.ID(1<<40 + i), Addr: "x"}}}
			_ = rogue.send(a, msg)
			synctest.Wait()
			rogue.redial(a)
		}
		require.Contains(t, rogue.closes, "evicted: over its shuffle budget")
		ca := a.Counters()
		require.Equal(t, uint64(1), ca.Engine.Evictions)
		require.Equal(t, uint64(d.Strikes+1), ca.Engine.OverBudget[gossip.BudgetShuffle])
		require.NotZero(t, ca.Engine.BannedDrops, "banned: what it sends after is dropped")
		after, _ := a.Views()
		require.ElementsMatch(t, before, after, "the honest neighbours are kept")
		require.True(t, allSee(c.nodes, c.nodes, StateAlive))
	})
}

// Row 1 over QUIC on loopback: the same forged failure, sent by a rogue
// with its own identity over a real connection, is dropped by the node it
// reaches, relayed nowhere, and gets the rogue evicted.
func TestAttackFailureAtMaxIncarnationOverQUIC(t *testing.T) {
	nodes := []*Node{newQUICNode(t, 1), newQUICNode(t, 2), newQUICNode(t, 3)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, nodes[0].Join(ctx))
	for _, nd := range nodes[1:] {
		require.NoError(t, nd.Join(ctx, nodes[0].Addr()))
	}
	waitForWall(t, time.Minute, "member lists converge", func() bool { return allSee(nodes, nodes, StateAlive) })
	a, b := nodes[0], nodes[1]
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := transport.ListenQUIC(transport.Config{Identity: id})
	require.NoError(t, err)
	rogue := newAdversary(t, tr)
	real := rogue.recordOf(a, b)
	lie := rogue.declare(real, roster.StateFailed)
	lie.Incarnation = math.MaxInt64
	for range 20 {
		if rogue.broadcast(a, lie) != nil {
			break
		}
	}
	waitForWall(t, time.Minute, "the rogue evicted", func() bool { return a.Counters().Engine.Evictions == 1 })
	for _, nd := range nodes {
		m := memberOn(t, nd, b.ID())
		require.Equal(t, StateAlive, m.State)
		require.Equal(t, real.Incarnation, m.Incarnation)
		require.Zero(t, nd.Counters().Roster.Refutations)
	}
	require.NotZero(t, a.Counters().Engine.ForgedRecords)
}

// waitForWall polls cond on the wall clock, for tests outside a synctest
// bubble (real sockets): it waits for the condition, failing only after a
// limit far above what it needs on a loaded machine.
func waitForWall(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An honest burst passes every budget: a rolling restart of a whole
// cluster of 10 nodes — each leaves, comes back with the same key and
// address and joins through another, one after the other — ends with every
// node listing every node alive, and no node ever dropped a request for
// being over a peer's budget or evicted anyone.
func TestRollingRestartStaysWithinBudgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		c := newMemCluster(t, 0)
		ids := make([]transport.Identity, n)
		start := func(i int) *Node {
			tr, err := c.net.Listen(fmt.Sprintf("node%d", i), ids[i], transport.MemConfig{})
			require.NoError(t, err)
			nd, err := New(testConfig(tr, uint64(i+1)))
			require.NoError(t, err)
			return nd
		}
		for i := range n {
			var err error
			ids[i], err = transport.GenerateIdentity()
			require.NoError(t, err)
			c.nodes = append(c.nodes, start(i))
		}
		c.joinAll()
		waitFor(t, time.Minute, "the cluster converges", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })

		var over, evicted uint64
		tally := func(nd *Node) {
			ec := nd.Counters().Engine
			for _, v := range ec.OverBudget {
				over += v
			}
			evicted += ec.Evictions
		}
		ctx := context.Background()
		for i := range n {
			old := c.nodes[i]
			tally(old)
			require.NoError(t, old.Leave(ctx))
			require.NoError(t, old.Close())
			c.nodes[i] = start(i)
			require.NoError(t, c.nodes[i].Join(ctx, c.nodes[(i+1)%n].Addr()))
			waitFor(t, time.Minute, fmt.Sprintf("node %d back everywhere", i), func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		}
		for _, nd := range c.nodes {
			tally(nd)
		}
		require.Zero(t, over, "no request over a peer's budget")
		require.Zero(t, evicted, "no peer evicted")
	})
}

// JOINs from 20 fresh keys to one node whose view is full of established
// neighbours: with the join eviction budget of gossip.ProductionConfig,
// the node keeps at least half of the honest neighbours it had (S1's rule
// would let the newcomers take them all; hyparview's tests measure both).
func TestAttackJoinBurstKeepsHonestNeighbours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, 12, nil)
		a := c.nodes[0]
		time.Sleep(2 * time.Minute) // a few shuffle periods: the links are established
		before, _ := a.Views()
		require.NotEmpty(t, before)
		for i := range 20 {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			tr, err := c.net.Listen(fmt.Sprintf("fresh%d", i), id, transport.MemConfig{})
			require.NoError(t, err)
			rogue := newAdversary(t, tr)
			require.NoError(t, rogue.send(a, &hyparview.Join{Addr: fmt.Sprintf("fresh%d", i), Nonce: uint64(i + 1)}))
		}
		time.Sleep(time.Second)
		after, _ := a.Views()
		kept := 0
		for _, id := range before {
			if slices.Contains(after, id) {
				kept++
			}
		}
		t.Logf("a kept %d of its %d honest neighbours; its view is now %d links", kept, len(before), len(after))
		require.GreaterOrEqual(t, 2*kept, len(before), "at least half of the honest neighbours kept")
	})
}

// A peer that closes its connection deliberately, with a reason (it no
// longer needs it, it keeps a duplicate, it evicted us), is alive: the
// node does not report the close as a failure, so it does not suspect the
// peer. Before, every such close was a connection failure, and a live
// member was suspected (and had to refute) after a routine close.
func TestGracefulCloseIsNotAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The peer answers no probe and takes no link (it is a raw
		// transport at an address no one can dial): probing and the
		// rejoin tick's requests for links, which would rightly suspect
		// it, are off.
		c := startCluster(t, 2, func(cfg *Config) { cfg.ProbeInterval, cfg.RejoinInterval = -1, time.Hour })
		a := c.nodes[0]
		peerNode := rogueOn(t, c)
		own := roster.Record{ID: peerNode.id(), Addr: "rogue", Incarnation: 1, State: roster.StateAlive}
		own.Proof = &roster.Proof{Key: peerNode.tr.PublicKey(), Sig: peerNode.tr.Sign(roster.StatementBytes(&own))}
		require.NoError(t, peerNode.send(a, &gossip.Records{Records: []roster.Record{own}}))
		waitFor(t, time.Minute, "a lists the peer", func() bool {
			for _, m := range a.Members() {
				if m.ID == uint64(own.ID) {
					return m.State == StateAlive
				}
			}
			return false
		})
		require.NoError(t, peerNode.conn(a).Close("not needed by the protocol"))
		time.Sleep(10 * time.Second)
		require.Equal(t, StateAlive, memberOn(t, a, uint64(own.ID)).State, "a peer that closed gracefully is not suspected")
		require.Zero(t, a.Counters().Roster.SuspicionsRaised)
	})
}

// A neighbour that closes the connection carrying our link, deliberately,
// is alive: the link ends as a disconnect does (the peer leaves the active
// view) and no one is suspected. Before, the close was reported as a
// failure and the neighbour suspected.
func TestNeighbourClosingItsConnectionIsNotSuspected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The peer answers no probe and takes no link (it is a raw
		// transport at an address no one can dial): probing and the
		// rejoin tick's requests for links, which would rightly suspect
		// it, are off, and the shuffle tick, whose repair or refresh may
		// ask the passive peer it became, comes only at the full period
		// (no early ticks, hyparview/doc.go, deviation 14), after the
		// test's window.
		c := startCluster(t, 2, func(cfg *Config) {
			cfg.ProbeInterval, cfg.RejoinInterval = -1, time.Hour
			cfg.Protocol.HyParView.WithoutEarlyTicks = true
		})
		a := c.nodes[0]
		nb := rogueOn(t, c)
		require.NoError(t, nb.send(a, &hyparview.Join{Addr: "rogue", Nonce: 7}))
		waitFor(t, time.Minute, "a links to the newcomer", func() bool {
			active, _ := a.Views()
			return slices.Contains(active, uint64(nb.id()))
		})
		require.NoError(t, nb.conn(a).Close("done with this link"))
		waitFor(t, time.Minute, "the link ends", func() bool {
			active, _ := a.Views()
			return !slices.Contains(active, uint64(nb.id()))
		})
		time.Sleep(5 * time.Second)
		require.Zero(t, a.Counters().Roster.SuspicionsRaised, "a live neighbour that closed its connection is not suspected")
		require.NotZero(t, a.Counters().HyParView.ConnectionsClosedByPeer)
	})
}
