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
	"github.com/plumview/plumview/wire"
)

// neighborRequestTo returns the high-priority Neighbor request to id in
// out, if any.
func neighborRequestTo(out *Ready, id peer.ID) bool {
	for _, s := range out.Sends {
		if m, ok := s.Msg.(*hyparview.Neighbor); ok && s.To.ID == id && m.Priority == hyparview.PriorityHigh {
			return true
		}
	}
	return false
}

// strangerOf returns a member that node at lists alive but holds neither
// as a neighbour nor as a peer being asked.
func strangerOf(t *testing.T, n *net, at peer.ID) peer.ID {
	t.Helper()
	for id := range n.eng {
		if id != at && !n.eng[at].hv.IsActive(id) && !n.eng[at].hv.IsPending(id) {
			return id
		}
	}
	t.Fatal("every member is a neighbour")
	return 0
}

// A Ping whose mark names a broadcast this node should hold by now and
// does not makes it ask the pinger for a link with high priority, once per
// RejoinInterval; a mark it holds, one too young (still spreading) or too
// old (forgotten), or one about itself asks for nothing.
func TestPingMarkOfAMissedBroadcastAsksThePingerForALink(t *testing.T) {
	n := newJoinedNet(t, 10)
	const at = peer.ID(1)
	pinger := strangerOf(t, n, at)
	var delivered plumtree.MessageID
	n.step(pinger, func(e *Engine, out *Ready) {
		var err error
		delivered, err = e.Broadcast(n.now, "news", []byte("hi"), out)
		require.NoError(t, err)
	})
	n.run(time.Second)
	require.True(t, n.eng[at].pt.Seen(delivered))
	self := n.eng[at].roster.Self()
	held, ok := n.eng[at].Member(pinger)
	require.True(t, ok)
	unseen := plumtree.MessageID{0xee}
	for _, tc := range []struct {
		name string
		mark *Mark
		link bool
	}{
		{"no mark", nil, false},
		{"a broadcast missed", &Mark{Msg: &unseen, AgeMillis: 6000}, true},
		{"a broadcast delivered", &Mark{Msg: &delivered, AgeMillis: 6000}, false},
		{"a broadcast still spreading", &Mark{Msg: &unseen, AgeMillis: 4000}, false},
		{"a broadcast forgotten", &Mark{Msg: &unseen, AgeMillis: 50_000}, false},
		{"a newer incarnation missed", &Mark{Member: pinger, Incarnation: held.Incarnation + 1, AgeMillis: 6000}, true},
		{"a state missed", &Mark{Member: pinger, Incarnation: held.Incarnation, State: roster.StateSuspect, AgeMillis: 6000}, true},
		{"a record held", &Mark{Member: pinger, Incarnation: held.Incarnation, State: roster.StateAlive, AgeMillis: 6000}, false},
		{"an older record", &Mark{Member: pinger, Incarnation: held.Incarnation - 1, State: roster.StateLeft, AgeMillis: 6000}, false},
		{"an unknown member", &Mark{Member: 99, Incarnation: 1, AgeMillis: 6000}, true},
		{"a record of this node", &Mark{Member: self, Incarnation: 99, AgeMillis: 6000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := n.eng[at].Clone(rand.New(rand.NewPCG(1, 2)))
			require.NoError(t, err)
			now := n.now.Add(time.Minute)
			out := do(t, e, func(out *Ready) { e.Receive(now, pinger, &Ping{Nonce: 7, Mark: tc.mark}, out) })
			require.Equal(t, tc.link, neighborRequestTo(out, pinger))
			require.Equal(t, tc.link, e.Counters().Engine.IslandContacts == 1)
			if !tc.link {
				return
			}
			again := do(t, e, func(out *Ready) { e.Receive(now.Add(time.Second), pinger, &Ping{Nonce: 8, Mark: tc.mark}, out) })
			require.False(t, neighborRequestTo(again, pinger), "once per RejoinInterval")
			require.Equal(t, uint64(2), e.Counters().Engine.IslandMarksMissed)
		})
	}
}

// A node's Pings carry, as their mark, the newest broadcast it delivered
// at least IslandCheckAge before, with its age: an older one (here, a
// member record of the joins) while the newest is younger, none once every
// delivery is older than half the SeenRetention, and none with the check
// turned off.
func TestPingsCarryAMarkOfAnOldEnoughBroadcast(t *testing.T) {
	const (
		none = iota
		older
		newest
	)
	for _, tc := range []struct {
		name  string
		after time.Duration
		off   bool
		want  int
	}{
		{"too young", 3 * time.Second, false, older},
		{"old enough", 6 * time.Second, false, newest},
		{"forgotten", time.Minute, false, none},
		{"check off", 6 * time.Second, true, none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newJoinedNet(t, 10)
			if tc.off {
				for _, e := range n.eng {
					e.live.islands.age = -1
				}
			}
			var id plumtree.MessageID
			n.step(2, func(e *Engine, out *Ready) {
				var err error
				id, err = e.Broadcast(n.now, "news", []byte("hi"), out)
				require.NoError(t, err)
			})
			n.run(tc.after)
			e := n.eng[1]
			e.live.stage = probeIdle
			out := do(t, e, func(out *Ready) { e.probeTick(n.now, out) })
			var ping *Ping
			for _, s := range out.Sends {
				if p, ok := s.Msg.(*Ping); ok {
					ping = p
				}
			}
			require.NotNil(t, ping, "a probe went out")
			switch tc.want {
			case none:
				require.Nil(t, ping.Mark)
			case older:
				require.NotNil(t, ping.Mark)
				require.Nil(t, ping.Mark.Msg, "a record of the joins, not the broadcast")
				require.NotZero(t, ping.Mark.Member)
				require.GreaterOrEqual(t, time.Duration(ping.Mark.AgeMillis)*time.Millisecond, DefaultIslandCheckAge)
			case newest:
				require.NotNil(t, ping.Mark)
				require.NotNil(t, ping.Mark.Msg)
				require.Equal(t, id, *ping.Mark.Msg)
				require.GreaterOrEqual(t, time.Duration(ping.Mark.AgeMillis)*time.Millisecond, DefaultIslandCheckAge)
			}
		})
	}
}

// A Ping with a mark decodes at a node of the version before it (whose
// Ping had no mark), and a Ping of that version decodes here without one.
func TestPingMarkIsIgnoredByEarlierVersions(t *testing.T) {
	type pingV1 struct {
		peer.Sealed
		Nonce uint64
	}
	codec, err := NewCodec(wire.Limits{})
	require.NoError(t, err)
	old, err := wire.New(wire.Type{Tag: TagPing, New: func() peer.Message { return new(pingV1) }})
	require.NoError(t, err)
	id := plumtree.MessageID{1, 2, 3}
	b, err := codec.Encode(&Ping{Nonce: 9, Mark: &Mark{Msg: &id, AgeMillis: 6000}})
	require.NoError(t, err)
	m, err := old.Decode(b)
	require.NoError(t, err)
	require.Equal(t, uint64(9), m.(*pingV1).Nonce)

	b, err = old.Encode(&pingV1{Nonce: 10})
	require.NoError(t, err)
	m, err = codec.Decode(b)
	require.NoError(t, err)
	require.Equal(t, &Ping{Nonce: 10}, m)
}

// The ring of candidate marks never skips the last delivery, and the
// entries before its newest lie a quarter of the check age apart at
// least, so an old enough mark is found after a steady stream too.
func TestMarkRingKeepsTheLastDelivery(t *testing.T) {
	is := islands{age: 4 * time.Second}
	deliver := func(ms int64) {
		// Times from 1 s: 0 means no delivery yet.
		is.latest = markAt{isMsg: true, msg: plumtree.MessageID{byte(ms / 100)}, at: (1000 + ms) * int64(time.Millisecond)}
		is.keepMark(t0)
	}
	for _, ms := range []int64{0, 500, 700, 1200, 1500} {
		deliver(ms)
	}
	var kept []int64
	for i := 0; i < is.n; i++ {
		kept = append(kept, is.ring[(is.pos+islandMarks-is.n+i)%islandMarks].at/int64(time.Millisecond)-1000)
	}
	require.Equal(t, []int64{0, 1200, 1500}, kept, "0.5 s and 0.7 s were followed by 1.2 s; 1.5 s starts a new entry")
	m := is.markToSend(time.Unix(7, 0), 45*time.Second)
	require.NotNil(t, m)
	require.Equal(t, plumtree.MessageID{15}, *m.Msg, "the last delivery, 4.5 s old")

	// A steady stream, one delivery per 100 ms for 20 s: an entry at
	// least the check age old is always there.
	is = islands{age: 4 * time.Second}
	for ms := int64(0); ms <= 20_000; ms += 100 {
		deliver(ms)
		if ms >= 5_000 {
			now := time.Unix(0, (1000+ms)*int64(time.Millisecond))
			m := is.markToSend(now, 45*time.Second)
			require.NotNil(t, m, "at %d ms", ms)
			require.GreaterOrEqual(t, time.Duration(m.AgeMillis)*time.Millisecond, is.age)
		}
	}
}
