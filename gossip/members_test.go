package gossip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// net is a tiny deterministic driver: engines with the member list, one
// FIFO queue of messages, timers fired in order, a virtual clock.
type net struct {
	t      *testing.T
	now    time.Time
	eng    map[peer.ID]*Engine
	queue  []msg
	timers []timer
	down   map[peer.ID]bool
	deliv  map[peer.ID][]Delivery
	events map[peer.ID][]MemberEvent
	// cut, when set, drops the messages it is true for silently: no
	// connection failure is reported (a partition's firewall).
	cut func(from, to peer.ID) bool
	// views collects the answers to overlay queries (Ready.Views).
	views map[peer.ID][]ViewsAnswer
	// onSignals, when set, sees the signals each node is handed.
	onSignals func(id peer.ID, s []SignalDelivery)
	// dialBack, when set, decides the dials back the nodes are asked for
	// (Ready.DialBacks), carried out once the queue of messages is empty;
	// without it they are left undone.
	dialBack  func(by peer.ID, d DialBack) ReachResult
	dialBacks []pendingDialBack
}

type pendingDialBack struct {
	by peer.ID
	d  DialBack
}

type msg struct {
	from, to peer.ID
	m        Message
}

type timer struct {
	at   time.Time
	to   peer.ID
	tm   Timer
	kind TimerKind
}

func newNet(t *testing.T, ids ...peer.ID) *net {
	n := &net{t: t, now: t0, eng: map[peer.ID]*Engine{}, down: map[peer.ID]bool{},
		deliv: map[peer.ID][]Delivery{}, events: map[peer.ID][]MemberEvent{}}
	for _, id := range ids {
		cfg := Config{Members: &MembersConfig{Roster: roster.Config{Incarnation: 1}, Meta: []byte{byte(id)}}}
		e, err := New(hyparview.Peer{ID: id, Addr: string(rune('a' + id))}, cfg, rand.New(rand.NewPCG(uint64(id), 2)))
		require.NoError(t, err)
		n.eng[id] = e
	}
	return n
}

// step runs one input on node id and carries out its batch.
func (n *net) step(id peer.ID, input func(e *Engine, out *Ready)) *Ready {
	out := &Ready{}
	input(n.eng[id], out)
	require.NoError(n.t, n.eng[id].Invariants())
	for _, s := range out.Sends {
		n.queue = append(n.queue, msg{id, s.To.ID, s.Msg})
	}
	for _, tm := range out.Timers {
		n.timers = append(n.timers, timer{n.now.Add(tm.After), id, tm.Timer, tm.Timer.Kind()})
	}
	n.deliv[id] = append(n.deliv[id], out.Deliveries...)
	n.events[id] = append(n.events[id], out.Events...)
	if n.onSignals != nil && len(out.Signals) > 0 {
		n.onSignals(id, out.Signals)
	}
	for _, d := range out.DialBacks {
		n.dialBacks = append(n.dialBacks, pendingDialBack{id, d})
	}
	if len(out.Views) > 0 {
		if n.views == nil {
			n.views = map[peer.ID][]ViewsAnswer{}
		}
		n.views[id] = append(n.views[id], out.Views...)
	}
	return out
}

// run delivers messages and fires timers until d of virtual time passed.
func (n *net) run(d time.Duration) {
	end := n.now.Add(d)
	for {
		if len(n.queue) > 0 {
			m := n.queue[0]
			n.queue = n.queue[1:]
			if n.cut != nil && n.cut(m.from, m.to) {
				continue
			}
			if n.down[m.to] || n.down[m.from] || n.eng[m.to] == nil { // down, or no such node
				if !n.down[m.from] {
					n.step(m.from, func(e *Engine, out *Ready) { e.ConnectionFailed(n.now, m.to, out) })
				}
				continue
			}
			n.step(m.to, func(e *Engine, out *Ready) { e.Receive(n.now, m.from, m.m, out) })
			continue
		}
		if n.dialBack != nil && len(n.dialBacks) > 0 {
			p := n.dialBacks[0]
			n.dialBacks = n.dialBacks[1:]
			if !n.down[p.by] {
				res := n.dialBack(p.by, p.d)
				n.step(p.by, func(e *Engine, out *Ready) { e.DialedBack(n.now, p.d, res, out) })
			}
			continue
		}
		best := -1
		for i, tm := range n.timers {
			if best < 0 || tm.at.Before(n.timers[best].at) {
				best = i
			}
		}
		if best < 0 || n.timers[best].at.After(end) {
			n.now = end
			return
		}
		tm := n.timers[best]
		n.timers = append(n.timers[:best], n.timers[best+1:]...)
		n.now = tm.at
		if !n.down[tm.to] {
			n.step(tm.to, func(e *Engine, out *Ready) { e.TimerFired(n.now, tm.tm, out) })
		}
	}
}

// join makes node id join through contacts.
func (n *net) join(id peer.ID, contacts ...peer.ID) {
	var cs []hyparview.Peer
	for _, c := range contacts {
		cs = append(cs, hyparview.Peer{ID: c, Addr: string(rune('a' + c))})
	}
	n.step(id, func(e *Engine, out *Ready) { e.Join(n.now, cs, out) })
}

func (n *net) state(at, of peer.ID) roster.State {
	r, _ := n.eng[at].Member(of)
	return r.State
}

// With the member list on, nodes that join learn every member's record
// with its metadata; an application message arrives with its topic; a
// crashed node is suspected by its neighbours and declared failed
// everywhere; a malformed envelope is counted and dropped.
func TestMembersComposition(t *testing.T) {
	n := newNet(t, 1, 2, 3, 4)
	n.join(1)
	for id := peer.ID(2); id <= 4; id++ {
		n.join(id, 1)
		n.run(time.Second)
	}
	for at := peer.ID(1); at <= 4; at++ {
		for of := peer.ID(1); of <= 4; of++ {
			r, ok := n.eng[at].Member(of)
			require.True(t, ok, "%d knows %d", at, of)
			require.Equal(t, roster.StateAlive, r.State)
			require.Equal(t, []byte{byte(of)}, r.Meta, "%d has %d's metadata", at, of)
		}
	}

	var id plumtree.MessageID
	n.step(2, func(e *Engine, out *Ready) {
		var err error
		id, err = e.Broadcast(n.now, "news", []byte("hi"), out)
		require.NoError(t, err)
	})
	n.run(time.Second)
	for node := peer.ID(1); node <= 4; node++ {
		require.Len(t, n.deliv[node], 1, "node %d", node)
		require.Equal(t, "news", n.deliv[node][0].Topic)
		require.Equal(t, []byte("hi"), n.deliv[node][0].Payload)
		require.Equal(t, id, n.deliv[node][0].ID, "delivered under the ID Broadcast returned")
	}

	n.down[4] = true
	for node := peer.ID(1); node <= 3; node++ {
		if slices.ContainsFunc(n.eng[node].AppendActive(nil), func(p hyparview.Peer) bool { return p.ID == 4 }) {
			n.step(node, func(e *Engine, out *Ready) { e.ConnectionFailed(n.now, 4, out) })
		}
	}
	n.run(30 * time.Second)
	for node := peer.ID(1); node <= 3; node++ {
		require.Equal(t, roster.StateFailed, n.state(node, 4), "node %d", node)
		require.Equal(t, roster.StateAlive, n.state(node, 1))
	}

	before := n.eng[1].Counters().Engine.MalformedPayloads
	n.step(1, func(e *Engine, out *Ready) {
		e.Receive(n.now, 2, &plumtree.Gossip{ID: plumtree.ContentHashID([]byte("x")), Payload: []byte("x")}, out)
	})
	require.Equal(t, before+1, n.eng[1].Counters().Engine.MalformedPayloads)
}

// Anti-entropy: a node that missed a record (here: a metadata update
// broadcast while it was not a neighbour of anyone) gets it from the
// digest exchange when a neighbour comes up.
func TestDigestExchangeRepairsRecords(t *testing.T) {
	n := newNet(t, 1, 2)
	n.join(1)
	n.step(1, func(e *Engine, out *Ready) { require.NoError(t, e.UpdateMeta(n.now, []byte("new"), out)) })
	n.run(time.Second)
	n.join(2, 1)
	n.run(time.Second)
	r, ok := n.eng[2].Member(1)
	require.True(t, ok)
	require.Equal(t, []byte("new"), r.Meta)
	require.Positive(t, n.eng[2].Counters().Roster.Merged, "it came by anti-entropy")
}

// Envelopes round-trip, and malformed ones are refused.
func TestEnvelope(t *testing.T) {
	b, err := EncodeEnvelope(&Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d")})
	require.NoError(t, err)
	e, err := DecodeEnvelope(b)
	require.NoError(t, err)
	require.Equal(t, Envelope{Kind: EnvelopeApp, Topic: "t", Data: []byte("d")}, e)
	for _, bad := range [][]byte{nil, {0xc1}, append(b, 0), mustEncode(t, &Envelope{Kind: 9}), mustEncode(t, &Envelope{Kind: EnvelopeRecords})} {
		_, err := DecodeEnvelope(bad)
		require.ErrorIs(t, err, ErrMalformedEnvelope, "%x", bad)
	}
}

func mustEncode(t *testing.T, e *Envelope) []byte {
	b, err := EncodeEnvelope(e)
	require.NoError(t, err)
	return b
}

// timersOf returns node id's pending timers of one kind.
func (n *net) timersOf(id peer.ID, kind TimerKind) []timer {
	var out []timer
	for _, tm := range n.timers {
		if tm.to == id && tm.kind == kind {
			out = append(out, tm)
		}
	}
	return out
}

// fire fires node id's pending timer of one kind now.
func (n *net) fire(id peer.ID, kind TimerKind) *Ready {
	for i, tm := range n.timers {
		if tm.to == id && tm.kind == kind {
			n.timers = append(n.timers[:i], n.timers[i+1:]...)
			return n.step(id, func(e *Engine, out *Ready) { e.TimerFired(n.now, tm.tm, out) })
		}
	}
	n.t.Fatalf("node %d has no %v timer", id, kind)
	return nil
}

// The partition-healing tick belongs to the engine: Join arms it, once,
// and it re-arms itself. An isolated node joins again through its
// contacts and asks its driver to resolve them afresh, and the contacts
// handed back replace the old ones; a connected node whose member list
// holds a failed member asks it (or a contact) to become a neighbour; with
// nothing lost it does nothing.
func TestRejoinTick(t *testing.T) {
	n := newNet(t, 1, 2)
	n.join(2, 1)
	n.queue = nil // node 1 never answers: 2 stays isolated
	require.Len(t, n.timersOf(2, TimerRejoin), 1)
	out := n.fire(2, TimerRejoin)
	require.True(t, out.ResolveContacts, "an isolated node asks for its contacts afresh")
	require.Len(t, n.timersOf(2, TimerRejoin), 1, "the tick re-arms itself")
	require.Equal(t, DefaultRejoinInterval, out.Timers[0].After)
	require.Empty(t, out.Sends, "a join to the contact is already pending")

	// The contacts resolved afresh are what the next tick joins through.
	moved := hyparview.Peer{ID: 1, Addr: "b-moved"}
	n.step(2, func(e *Engine, out *Ready) { e.ContactsResolved(n.now, []hyparview.Peer{moved}, out) })
	n.queue = nil
	out = n.fire(2, TimerJoin) // the pending join to the old address times out
	i := slices.IndexFunc(out.Sends, func(s Send) bool { _, ok := s.Msg.(*hyparview.Join); return ok })
	require.GreaterOrEqual(t, i, 0, "the node joins again")
	require.Equal(t, moved, out.Sends[i].To, "through the fresh address")

	n = newNet(t, 1, 2, 3)
	n.join(1)
	n.join(2, 1)
	n.run(time.Second)
	out = n.fire(1, TimerRejoin)
	require.False(t, out.ResolveContacts)
	require.Empty(t, out.Sends, "nothing is lost")

	failed := roster.Record{ID: 3, Addr: "d", Incarnation: 5, State: roster.StateFailed}
	n.step(1, func(e *Engine, out *Ready) { e.Receive(n.now, 2, &Records{Records: []roster.Record{failed}}, out) })
	out = n.fire(1, TimerRejoin)
	require.NotEmpty(t, out.Sends)
	require.Equal(t, hyparview.Peer{ID: 3, Addr: "d"}, out.Sends[0].To)
	nb, ok := out.Sends[0].Msg.(*hyparview.Neighbor)
	require.True(t, ok)
	require.Equal(t, hyparview.PriorityHigh, nb.Priority)
}

// ContactsResolved replaces the contacts and joins through them at once
// while the node is isolated; the next tick uses them too.
func TestContactsResolvedJoinsAnIsolatedNode(t *testing.T) {
	n := newNet(t, 1, 2)
	n.join(2, 1)
	n.queue = nil        // node 1 never answers
	n.fire(2, TimerJoin) // the join times out: no request is pending
	n.queue = nil
	moved := hyparview.Peer{ID: 9, Addr: "z"}
	out := n.step(2, func(e *Engine, out *Ready) { e.ContactsResolved(n.now, []hyparview.Peer{moved}, out) })
	require.NotEmpty(t, out.Sends)
	require.Equal(t, moved, out.Sends[0].To, "the isolated node joins through the fresh contact")
	_, isJoin := out.Sends[0].Msg.(*hyparview.Join)
	require.True(t, isJoin)
}

// The periodic exchange spreads what anti-entropy taught one node to its
// neighbours, which no new link would do: here a record node 1 merged from
// a Records message, never broadcast. Each interval is drawn between half
// and one and a half SyncInterval; a node that left stops exchanging.
func TestPeriodicSyncSpreadsMergedRecords(t *testing.T) {
	n := newNet(t, 1, 2)
	n.join(1)
	n.join(2, 1)
	n.run(time.Second)
	syncs := append(n.timersOf(1, TimerMemberSync), n.timersOf(2, TimerMemberSync)...)
	require.Len(t, syncs, 2)
	for _, tm := range syncs {
		after := tm.at.Sub(t0)
		require.True(t, after >= DefaultSyncInterval/2 && after < DefaultSyncInterval*3/2+time.Second, "sync in %v", after)
	}
	nine := roster.Record{ID: 9, Addr: "z", Incarnation: 1, State: roster.StateAlive}
	n.step(1, func(e *Engine, out *Ready) { e.Receive(n.now, 2, &Records{Records: []roster.Record{nine}}, out) })
	n.run(time.Second)
	_, ok := n.eng[2].Member(9)
	require.False(t, ok, "a merged record is not broadcast")

	n.run(DefaultSyncInterval * 3 / 2)
	got, ok := n.eng[2].Member(9)
	require.True(t, ok, "the periodic exchange brought node 9's record to node 2")
	require.Equal(t, nine.Addr, got.Addr)
	require.NotZero(t, n.eng[1].Counters().Engine.MemberSyncs+n.eng[2].Counters().Engine.MemberSyncs)

	n.step(1, func(e *Engine, out *Ready) { e.Leave(n.now, out) })
	count := n.eng[1].Counters().Engine.MemberSyncs
	n.run(2 * DefaultSyncInterval)
	require.Equal(t, count, n.eng[1].Counters().Engine.MemberSyncs, "a node that left exchanges no more")
	require.Empty(t, n.timersOf(1, TimerMemberSync), "nor re-arms the exchange")
	require.Empty(t, n.timersOf(1, TimerRejoin), "nor the rejoin tick")
}

// A failed connection to a member that is not an active neighbour (here
// one known from its record only, as a neighbour just dropped for room or
// a peer being asked would be) is evidence of failure: with probing off,
// the member is suspected at once and the suspicion broadcast. A failed
// connection to a member already suspected, or unknown, changes nothing.
// Before this rule a crashed node whose neighbours had all dropped it
// first stayed alive in every list (the simulator's members experiment at
// 1,000 nodes showed it).
func TestConnectionFailedToANonNeighbourSuspects(t *testing.T) {
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, Config{Members: &MembersConfig{ProbeInterval: -1}}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	do(t, e, func(out *Ready) {
		e.Receive(t0, 3, &Records{Records: []roster.Record{{ID: 5, Addr: "e", Incarnation: 2, State: roster.StateAlive}}}, out)
	})
	out := do(t, e, func(out *Ready) { e.ConnectionFailed(t0, 5, out) })
	require.Len(t, out.Events, 1)
	require.Equal(t, roster.EventSuspect, out.Events[0].Kind)
	m, _ := e.Member(5)
	require.Equal(t, roster.StateSuspect, m.State)
	require.Equal(t, uint64(1), e.Counters().Roster.SuspicionsRaised)

	require.Empty(t, do(t, e, func(out *Ready) { e.ConnectionFailed(t0, 5, out) }).Events, "already suspected")
	require.Empty(t, do(t, e, func(out *Ready) { e.ConnectionFailed(t0, 9, out) }).Events, "unknown")
	require.Equal(t, uint64(1), e.Counters().Roster.SuspicionsRaised)
}

// An isolated node's rejoin tick asks a member it lists alive for a link,
// besides joining through its contacts: on the side of a partition without
// the seeds, those members are what it can reach. Before, it only ever
// tried the contacts.
func TestIsolatedNodeAsksAMemberItKnowsAlive(t *testing.T) {
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, Config{Members: &MembersConfig{}}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	var rejoin Timer
	out := do(t, e, func(out *Ready) { e.Join(t0, []hyparview.Peer{{ID: 9, Addr: "seed"}}, out) })
	for _, ts := range out.Timers {
		if ts.Timer.Kind() == TimerRejoin {
			rejoin = ts.Timer
		}
	}
	do(t, e, func(out *Ready) {
		e.Receive(t0, 3, &Records{Records: []roster.Record{{ID: 5, Addr: "e", Incarnation: 2, State: roster.StateAlive}}}, out)
	})
	do(t, e, func(out *Ready) { e.ConnectionFailed(t0, 9, out) }) // the seed is out of reach
	out = do(t, e, func(out *Ready) { e.TimerFired(t0.Add(time.Minute), rejoin, out) })
	asked := map[peer.ID]string{}
	for _, s := range out.Sends {
		asked[s.To.ID] = fmt.Sprintf("%T", s.Msg)
	}
	require.Equal(t, "*hyparview.Neighbor", asked[5], "the member it knows alive is asked for a link: %v", asked)
	require.True(t, out.ResolveContacts)
}

// An application broadcast carries its origin's clock, which every
// receiver's delivery reports (for latency figures); member records do
// not carry one, so their content-derived IDs stay as before.
func TestDeliveriesReportTheOriginsSendTime(t *testing.T) {
	n := newJoinedNet(t, 3)
	sent := n.now.Add(1234 * time.Millisecond)
	n.now = sent
	n.step(1, func(e *Engine, out *Ready) {
		_, err := e.Broadcast(n.now, "news", []byte("hi"), out)
		require.NoError(t, err)
	})
	n.run(time.Second)
	for _, at := range []peer.ID{2, 3} {
		require.NotEmpty(t, n.deliv[at])
		d := n.deliv[at][len(n.deliv[at])-1]
		require.Equal(t, "news", d.Topic)
		require.True(t, d.SentAt.Equal(sent.Truncate(time.Millisecond)), "node %d: %v", at, d.SentAt)
	}
}

// Under the IDContentHash policy a message's ID hashes its envelope, so
// the envelope carries no send time: the same payload sent twice is still
// one message.
func TestContentHashedBroadcastsCarryNoSendTime(t *testing.T) {
	cfg := Config{Members: &MembersConfig{}}
	cfg.Plumtree.IDPolicy = plumtree.IDContentHash
	e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	do(t, e, func(out *Ready) { e.Join(t0, nil, out) })
	out := do(t, e, func(out *Ready) {
		_, err := e.Broadcast(t0, "news", []byte("hi"), out)
		require.NoError(t, err)
	})
	require.Len(t, out.Deliveries, 1)
	require.True(t, out.Deliveries[0].SentAt.IsZero())
	do(t, e, func(out *Ready) {
		_, err := e.Broadcast(t0.Add(5*time.Millisecond), "news", []byte("hi"), out)
		require.ErrorIs(t, err, plumtree.ErrDuplicatePayload, "the same envelope, the same ID")
	})
}

// A connected node whose member list holds nobody Suspect or Failed has
// nothing for its rejoin tick to look for, and the tick does not scan the
// list for it: with n nodes listing n members, a scan every tick cost the
// cluster n² record reads per RejoinInterval, the cubic term of the
// member-list simulation's joins (docs/benchmarks.md, "Member list
// memory, shared records"). The tick at 20,000 members costs about what
// it costs at six.
func TestRejoinTickDoesNotScanAListWithNothingLost(t *testing.T) {
	tick := func(members int) time.Duration {
		n := newNet(t, 1, 2, 3, 4, 5, 6)
		n.join(1)
		for id := peer.ID(2); id <= 6; id++ {
			n.join(id, 1)
		}
		n.run(time.Second)
		e := n.eng[1]
		require.Greater(t, e.hv.ActiveLen(), e.hv.Config().ActiveViewSize/2)
		recs := make([]roster.Record, 0, MaxRecordsPerMessage)
		for id := peer.ID(10); id < peer.ID(10+members); id++ {
			recs = append(recs, roster.Record{ID: id, Addr: "x", Incarnation: 1, State: roster.StateAlive})
			if len(recs) == cap(recs) || id == peer.ID(10+members-1) {
				n.step(1, func(e *Engine, out *Ready) { e.Receive(n.now, 2, &Records{Records: recs}, out) })
				recs = recs[:0]
			}
		}
		require.Equal(t, members+6, e.MemberCounts().Alive)
		best := time.Duration(math.MaxInt64)
		for range 200 {
			out := &Ready{}
			start := time.Now()
			e.TimerFired(n.now, Timer{kind: TimerRejoin}, out)
			best = min(best, time.Since(start))
			require.Empty(t, out.Sends, "nothing is lost")
		}
		return best
	}
	small, large := tick(0), tick(20_000)
	t.Logf("rejoin tick: %v with 6 members, %v with 20,006", small, large)
	require.Less(t, large, 20*small+20*time.Microsecond, "a scan of 20,000 records takes about 100 µs")
}

// The probes' round-robin list is rebuilt from the member list without a
// copy of it: a rebuild allocates nothing once the list has its capacity,
// where a copy of 20,000 records took 1.4 MB each round, per node.
func TestProbeOrderIsRebuiltWithoutCopyingTheList(t *testing.T) {
	n := newNet(t, 1, 2)
	n.join(1)
	n.join(2, 1)
	n.run(time.Second)
	e := n.eng[1]
	recs := make([]roster.Record, 0, MaxRecordsPerMessage)
	const members = 20_000
	for id := peer.ID(10); id < peer.ID(10+members); id++ {
		recs = append(recs, roster.Record{ID: id, Addr: "x", Incarnation: 1, State: roster.StateAlive})
		if len(recs) == cap(recs) || id == peer.ID(10+members-1) {
			n.step(1, func(e *Engine, out *Ready) { e.Receive(n.now, 2, &Records{Records: recs}, out) })
			recs = recs[:0]
		}
	}
	e.rebuildProbeOrder(n.now)
	require.Len(t, e.live.order, members+1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e.rebuildProbeOrder(n.now)
	runtime.ReadMemStats(&after)
	require.Len(t, e.live.order, members+1)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4096), "bytes allocated by a rebuild")
}
