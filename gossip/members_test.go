package gossip

import (
	"math/rand/v2"
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
	deliv  map[peer.ID][]Output
	events map[peer.ID][]Output
}

type msg struct {
	from, to peer.ID
	m        Message
}

type timer struct {
	at time.Time
	to peer.ID
	tm Timer
}

func newNet(t *testing.T, ids ...peer.ID) *net {
	n := &net{t: t, now: t0, eng: map[peer.ID]*Engine{}, down: map[peer.ID]bool{},
		deliv: map[peer.ID][]Output{}, events: map[peer.ID][]Output{}}
	for _, id := range ids {
		cfg := EngineConfig{Members: &MembersConfig{Roster: roster.Config{Incarnation: 1}, Meta: []byte{byte(id)}}}
		e, err := NewEngine(hyparview.Peer{ID: id, Addr: string(rune('a' + id))}, cfg, rand.New(rand.NewPCG(uint64(id), 2)))
		require.NoError(t, err)
		n.eng[id] = e
	}
	return n
}

func (n *net) step(id peer.ID, in Input) {
	out, err := n.eng[id].Step(n.now, in, nil)
	require.NoError(n.t, err)
	require.NoError(n.t, n.eng[id].Invariants())
	for _, o := range out {
		switch o.Kind {
		case OutputSend:
			n.queue = append(n.queue, msg{id, o.Peer.ID, o.Msg})
		case OutputSetTimer:
			n.timers = append(n.timers, timer{n.now.Add(o.After), id, o.Timer})
		case OutputDeliver:
			n.deliv[id] = append(n.deliv[id], o)
		case OutputEvent:
			n.events[id] = append(n.events[id], o)
		}
	}
}

// run delivers messages and fires timers until d of virtual time passed.
func (n *net) run(d time.Duration) {
	end := n.now.Add(d)
	for {
		if len(n.queue) > 0 {
			m := n.queue[0]
			n.queue = n.queue[1:]
			if n.down[m.to] || n.down[m.from] {
				if !n.down[m.from] {
					n.step(m.from, Input{Kind: InputConnectionFailed, From: m.to})
				}
				continue
			}
			n.step(m.to, Input{Kind: InputReceive, From: m.from, Msg: m.m})
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
			n.step(tm.to, Input{Kind: InputTimer, Timer: tm.tm})
		}
	}
}

func (n *net) state(at, of peer.ID) roster.State {
	r, _ := n.eng[at].Roster().Get(of)
	return r.State
}

// With the member list on, nodes that join learn every member's record
// with its metadata; an application message arrives with its topic; a
// crashed node is suspected by its neighbours and declared failed
// everywhere; a malformed envelope is counted and dropped.
func TestMembersComposition(t *testing.T) {
	n := newNet(t, 1, 2, 3, 4)
	n.step(1, Input{Kind: InputJoin})
	for id := peer.ID(2); id <= 4; id++ {
		n.step(id, Input{Kind: InputJoin, Contacts: []hyparview.Peer{{ID: 1, Addr: "b"}}})
		n.run(time.Second)
	}
	for at := peer.ID(1); at <= 4; at++ {
		for of := peer.ID(1); of <= 4; of++ {
			r, ok := n.eng[at].Roster().Get(of)
			require.True(t, ok, "%d knows %d", at, of)
			require.Equal(t, roster.StateAlive, r.State)
			require.Equal(t, []byte{byte(of)}, r.Meta, "%d has %d's metadata", at, of)
		}
	}

	n.step(2, Input{Kind: InputBroadcast, Topic: "news", Payload: []byte("hi")})
	n.run(time.Second)
	for id := peer.ID(1); id <= 4; id++ {
		require.Len(t, n.deliv[id], 1, "node %d", id)
		require.Equal(t, "news", n.deliv[id][0].Topic)
		require.Equal(t, []byte("hi"), n.deliv[id][0].Delivery.Payload)
	}

	n.down[4] = true
	for id := peer.ID(1); id <= 3; id++ {
		if n.eng[id].HyParView().IsActive(4) {
			n.step(id, Input{Kind: InputConnectionFailed, From: 4})
		}
	}
	n.run(30 * time.Second)
	for id := peer.ID(1); id <= 3; id++ {
		require.Equal(t, roster.StateFailed, n.state(id, 4), "node %d", id)
		require.Equal(t, roster.StateAlive, n.state(id, 1))
	}

	before := n.eng[1].Counters().MalformedPayloads
	_, err := n.eng[1].Step(n.now, Input{Kind: InputReceive, From: 2, Msg: &plumtree.Gossip{ID: plumtree.ContentHashID([]byte("x")), Payload: []byte("x")}}, nil)
	require.NoError(t, err)
	require.Equal(t, before+1, n.eng[1].Counters().MalformedPayloads)
}

// Anti-entropy: a node that missed a record (here: a metadata update
// broadcast while it was not a neighbour of anyone) gets it from the
// digest exchange when a neighbour comes up.
func TestDigestExchangeRepairsRecords(t *testing.T) {
	n := newNet(t, 1, 2)
	n.step(1, Input{Kind: InputJoin})
	n.step(1, Input{Kind: InputUpdateMeta, Meta: []byte("new")})
	n.run(time.Second)
	n.step(2, Input{Kind: InputJoin, Contacts: []hyparview.Peer{{ID: 1, Addr: "b"}}})
	n.run(time.Second)
	r, ok := n.eng[2].Roster().Get(1)
	require.True(t, ok)
	require.Equal(t, []byte("new"), r.Meta)
	require.Positive(t, n.eng[2].Roster().Counters().Merged, "it came by anti-entropy")
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
	_, err = NewEngine(hyparview.Peer{ID: 1}, EngineConfig{}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
}

func mustEncode(t *testing.T, e *Envelope) []byte {
	b, err := EncodeEnvelope(e)
	require.NoError(t, err)
	return b
}

// Without the member list, the commands that need it are errors.
func TestMembersOff(t *testing.T) {
	e := newEngine(t, 1)
	_, err := e.Step(t0, Input{Kind: InputUpdateMeta}, nil)
	require.Error(t, err)
	_, err = e.Step(t0, Input{Kind: InputRejoin}, nil)
	require.Error(t, err)
	require.Nil(t, e.Roster())
}

// The partition-healing tick: an isolated node joins through the contacts;
// a connected node whose member list holds a failed member asks it (or a
// contact) to become a neighbour; with nothing lost it does nothing.
func TestRejoin(t *testing.T) {
	n := newNet(t, 1, 2)
	n.step(2, Input{Kind: InputJoin, Contacts: []hyparview.Peer{{ID: 1, Addr: "b"}}})
	n.queue = nil // node 1 never answers: 2 stays isolated
	out, err := n.eng[2].Step(n.now, Input{Kind: InputRejoin, Contacts: []hyparview.Peer{{ID: 1, Addr: "b"}}}, nil)
	require.NoError(t, err)
	require.Empty(t, out, "a join to the contact is already pending")

	n = newNet(t, 1, 2, 3)
	n.step(1, Input{Kind: InputJoin})
	n.step(2, Input{Kind: InputJoin, Contacts: []hyparview.Peer{{ID: 1, Addr: "b"}}})
	n.run(time.Second)
	out, err = n.eng[1].Step(n.now, Input{Kind: InputRejoin}, nil)
	require.NoError(t, err)
	require.Empty(t, out, "nothing is lost")

	failed := roster.Record{ID: 3, Addr: "d", Incarnation: 5, State: roster.StateFailed}
	n.step(1, Input{Kind: InputReceive, From: 2, Msg: &Records{Records: []roster.Record{failed}}})
	out, err = n.eng[1].Step(n.now, Input{Kind: InputRejoin}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, out)
	require.Equal(t, OutputSend, out[0].Kind)
	require.Equal(t, hyparview.Peer{ID: 3, Addr: "d"}, out[0].Peer)
	nb, ok := out[0].Msg.(*hyparview.Neighbor)
	require.True(t, ok)
	require.Equal(t, hyparview.PriorityHigh, nb.Priority)
}

// The periodic exchange spreads what anti-entropy taught one node to its
// neighbours, which no new link would do: here a record node 1 merged from
// a Records message, never broadcast. Each interval is drawn between half
// and one and a half SyncInterval; a node that left stops exchanging.
func TestPeriodicSyncSpreadsMergedRecords(t *testing.T) {
	n := newNet(t, 1, 2)
	n.step(1, Input{Kind: InputJoin})
	n.step(2, Input{Kind: InputJoin, Contacts: []hyparview.Peer{{ID: 1, Addr: "b"}}})
	n.run(time.Second)
	for _, tm := range n.timers {
		if tm.tm.Layer == LayerMemberSync {
			after := tm.at.Sub(t0)
			require.True(t, after >= DefaultSyncInterval/2 && after < DefaultSyncInterval*3/2+time.Second, "sync in %v", after)
		}
	}
	nine := roster.Record{ID: 9, Addr: "z", Incarnation: 1, State: roster.StateAlive}
	n.step(1, Input{Kind: InputReceive, From: 2, Msg: &Records{Records: []roster.Record{nine}}})
	n.run(time.Second)
	_, ok := n.eng[2].Roster().Get(9)
	require.False(t, ok, "a merged record is not broadcast")

	n.run(DefaultSyncInterval * 3 / 2)
	got, ok := n.eng[2].Roster().Get(9)
	require.True(t, ok, "the periodic exchange brought node 9's record to node 2")
	require.Equal(t, nine.Addr, got.Addr)
	require.NotZero(t, n.eng[1].Counters().MemberSyncs+n.eng[2].Counters().MemberSyncs)

	n.step(1, Input{Kind: InputLeave})
	n.run(time.Second)
	syncs := n.eng[1].Counters().MemberSyncs
	out, err := n.eng[1].Step(n.now, Input{Kind: InputTimer, Timer: Timer{Layer: LayerMemberSync}}, nil)
	require.NoError(t, err)
	require.Empty(t, out, "a node that left neither exchanges nor re-arms")
	require.Equal(t, syncs, n.eng[1].Counters().MemberSyncs)
}

// Without the member list a sync timer is unknown; a negative interval is
// refused.
func TestSyncTimerNeedsTheMemberList(t *testing.T) {
	e := newEngine(t, 1)
	out, err := e.Step(t0, Input{Kind: InputTimer, Timer: Timer{Layer: LayerMemberSync}}, nil)
	require.NoError(t, err)
	require.Empty(t, out)
	require.Equal(t, uint64(1), e.Counters().UnknownTimers)

	_, err = NewEngine(hyparview.Peer{ID: 1}, EngineConfig{Members: &MembersConfig{SyncInterval: -time.Second}}, rand.New(rand.NewPCG(1, 1)))
	require.ErrorContains(t, err, "SyncInterval")
}
