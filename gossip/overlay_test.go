package gossip

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// One node asks every member for its views: each answers once, with the
// views it holds, and the asker never has more than ViewsFanout requests
// in flight; the connections the query opened to members that are not
// neighbours are closed once they answered.
func TestAskViewsGathersEveryMembersViews(t *testing.T) {
	const size = 24
	n := newJoinedNet(t, size)
	n.run(20 * time.Second) // two more shuffle periods: the last joiners' passive views fill
	own := map[peer.ID]OverlayViews{}
	for id := peer.ID(2); id <= size; id++ {
		own[id] = n.eng[id].OwnViews()
	}
	var asked int
	out := n.step(1, func(e *Engine, out *Ready) {
		var err error
		asked, err = e.AskViews(n.now, 42, 0, out)
		require.NoError(t, err)
	})
	require.Equal(t, size-1, asked, "every member but the asker")
	requests := 0
	for _, s := range out.Sends {
		if _, ok := s.Msg.(*ViewsRequest); ok {
			requests++
			require.NotEmpty(t, s.To.Addr, "a member not connected is dialled at its listed address")
		}
	}
	require.Equal(t, ViewsFanout, requests, "at most ViewsFanout in flight")
	n.run(0) // the messages only, no timer: the views stay as they were

	got := map[peer.ID]OverlayViews{}
	for _, a := range n.views[1] {
		require.Equal(t, uint64(42), a.Nonce)
		require.True(t, a.Answered, "member %d answered", a.From)
		_, dup := got[a.From]
		require.False(t, dup, "member %d reported once", a.From)
		got[a.From] = a.Views
	}
	require.Len(t, got, size-1)
	for id := peer.ID(2); id <= size; id++ {
		require.Equal(t, own[id], got[id], "member %d's views", id)
		require.NotEmpty(t, got[id].Active, "member %d has neighbours", id)
		require.NotEmpty(t, got[id].Passive, "member %d has a passive view", id)
		require.True(t, slices.IsSorted(got[id].Passive))
	}
	c := n.eng[1].Counters().Engine
	require.Equal(t, uint64(size-1), c.ViewsAsked)
	require.Zero(t, c.ViewsUnanswered)
	require.Nil(t, n.eng[1].views, "the query ended")
}

// A member that does not answer (its packets are dropped) is reported
// unanswered after the timeout; the others' answers are not held up.
func TestAskViewsReportsSilentMembers(t *testing.T) {
	n := newJoinedNet(t, 6)
	n.cut = func(from, to peer.ID) bool { return from == 6 || to == 6 }
	n.step(1, func(e *Engine, out *Ready) {
		_, err := e.AskViews(n.now, 7, time.Second, out)
		require.NoError(t, err)
	})
	n.run(500 * time.Millisecond)
	require.Len(t, n.views[1], 4, "four answered before the timeout")
	n.run(time.Second)
	require.Len(t, n.views[1], 5)
	last := n.views[1][4]
	require.Equal(t, ViewsAnswer{Nonce: 7, From: 6}, last, "member 6 did not answer")
	require.Equal(t, uint64(1), n.eng[1].Counters().Engine.ViewsUnanswered)
}

// EndViews reports every member not heard from yet as unanswered, and a
// new query supersedes the one in progress; a late reply is stale.
func TestEndViews(t *testing.T) {
	n := newJoinedNet(t, 4)
	n.step(1, func(e *Engine, out *Ready) {
		_, err := e.AskViews(n.now, 5, 0, out)
		require.NoError(t, err)
	})
	out := n.step(1, func(e *Engine, out *Ready) { e.EndViews(5, out) })
	require.Len(t, out.Views, 3)
	for _, a := range out.Views {
		require.False(t, a.Answered)
	}
	n.run(time.Second) // the replies arrive after the end
	require.Equal(t, uint64(3), n.eng[1].Counters().Engine.StaleViews)

	e := n.eng[1]
	_, err := e.AskViews(n.now, 0, 0, &Ready{})
	require.ErrorIs(t, err, ErrBadNonce)
	asked, err := e.AskViews(n.now, 6, 0, &Ready{})
	require.NoError(t, err, "a second after the last query began")
	require.Equal(t, 3, asked)
	_, err = e.AskViews(n.now.Add(MinViewsInterval-1), 8, 0, &Ready{})
	require.ErrorIs(t, err, ErrViewsTooSoon)
	lone, err := New(hyparview.Peer{ID: 9, Addr: "i"}, Config{}, rand.New(rand.NewPCG(1, 1)))
	require.NoError(t, err)
	_, err = lone.AskViews(n.now, 1, 0, &Ready{})
	require.ErrorIs(t, err, ErrNoMembers)
}

// Only a member the list holds as present is answered; an engine without
// the member list (as a node that does not know the messages) counts the
// request and does not answer.
func TestViewsRequestIsAnsweredToMembersOnly(t *testing.T) {
	e := lonelyEngine(t, MembersConfig{})
	out := do(t, e, func(out *Ready) { e.Receive(t0, 99, &ViewsRequest{Nonce: 3}, out) })
	require.Empty(t, out.Sends, "a stranger is not answered")
	require.Equal(t, uint64(1), e.Counters().Engine.ViewsRefused)

	out = do(t, e, func(out *Ready) { e.Receive(t0, 5, &ViewsRequest{Nonce: 3}, out) })
	require.Len(t, out.Sends, 1)
	require.Equal(t, peer.ID(5), out.Sends[0].To.ID)
	require.IsType(t, &ViewsReply{}, out.Sends[0].Msg)
	require.Equal(t, uint64(3), out.Sends[0].Msg.(*ViewsReply).Nonce)

	e.Receive(t0, 3, &Records{Records: []roster.Record{{ID: 5, Addr: "e", Incarnation: 3, State: roster.StateLeft}}}, &Ready{})
	out = do(t, e, func(out *Ready) { e.Receive(t0, 5, &ViewsRequest{Nonce: 4}, out) })
	require.Empty(t, out.Sends, "a member that left is not answered")

	old := newEngine(t, 1)
	out = do(t, old, func(out *Ready) { old.Receive(t0, 5, &ViewsRequest{Nonce: 3}, out) })
	require.Empty(t, out.Sends)
	require.Equal(t, uint64(1), old.Counters().Engine.UnknownMessages)
}

// The messages through the wire codec: they come back equal; the largest
// reply is under 10 KiB; a reply with a list over MaxViewsPeers, or
// either message without a nonce, is refused.
func TestViewsCodec(t *testing.T) {
	codec, err := NewCodec(wire.Limits{})
	require.NoError(t, err)
	for _, m := range []Message{&ViewsRequest{Nonce: 1}, &ViewsReply{Nonce: 2, Active: []peer.ID{3, 4}, Passive: []peer.ID{5}, Eager: []peer.ID{3}, Lazy: []peer.ID{4}}} {
		b, err := codec.Encode(m)
		require.NoError(t, err)
		back, err := codec.Decode(b)
		require.NoError(t, err)
		require.Equal(t, m, back)
	}
	full := make([]peer.ID, MaxViewsPeers)
	for i := range full {
		full[i] = ^peer.ID(i) // the longest encoding
	}
	b, err := codec.Encode(&ViewsReply{Nonce: ^uint64(0), Active: full, Passive: full, Eager: full, Lazy: full})
	require.NoError(t, err)
	require.Less(t, len(b), 10<<10, "the largest reply stays under 10 KiB")
	big := make([]peer.ID, MaxViewsPeers+1)
	for name, bad := range map[string]interface{ Validate() error }{
		"request without a nonce": &ViewsRequest{},
		"reply without a nonce":   &ViewsReply{},
		"active too long":         &ViewsReply{Nonce: 1, Active: big},
		"passive too long":        &ViewsReply{Nonce: 1, Passive: big},
		"eager too long":          &ViewsReply{Nonce: 1, Eager: big},
		"lazy too long":           &ViewsReply{Nonce: 1, Lazy: big},
	} {
		require.Error(t, bad.Validate(), name)
		b, err := codec.Encode(bad.(Message))
		require.NoError(t, err)
		_, err = codec.Decode(b)
		require.Error(t, err, name)
	}
}

// FuzzReceiveViews hands arbitrary bytes, decoded as a message, to an
// engine with budgets on and a query in progress to members 2 and 3:
// nothing panics, the invariants hold, an answer is reported only for a
// member asked and only once, and every reply the engine sends is within
// the codec's bounds.
func FuzzReceiveViews(f *testing.F) {
	codec, err := NewCodec(wire.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []Message{&ViewsRequest{Nonce: 1}, &ViewsReply{Nonce: 9, Active: []peer.ID{2}}, &ViewsReply{Nonce: 8}} {
		b, err := codec.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(2))
	}
	f.Fuzz(func(t *testing.T, b []byte, from uint8) {
		msg, err := codec.Decode(b)
		if err != nil {
			return
		}
		budgets := DefaultBudgets()
		cfg := Config{Members: &MembersConfig{}, Budgets: &budgets}
		e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		e.Join(t0, nil, &Ready{})
		e.Receive(t0, 2, &Records{Records: []roster.Record{{ID: 2, Addr: "b", Incarnation: 1, State: roster.StateAlive},
			{ID: 3, Addr: "c", Incarnation: 1, State: roster.StateAlive}}}, &Ready{})
		if n, err := e.AskViews(t0, 9, 0, &Ready{}); err != nil || n != 2 {
			t.Fatalf("asked %d: %v", n, err)
		}
		seen := map[peer.ID]bool{}
		for range 2 {
			out := &Ready{}
			e.Receive(t0, peer.ID(from), msg, out)
			if err := e.Invariants(); err != nil {
				t.Fatal(err)
			}
			for _, a := range out.Views {
				if a.Nonce != 9 || (a.From != 2 && a.From != 3) || seen[a.From] {
					t.Fatalf("answer %+v", a)
				}
				seen[a.From] = true
			}
			for _, s := range out.Sends {
				if _, err := codec.Encode(s.Msg); err != nil {
					t.Fatal(err)
				}
				if r, ok := s.Msg.(*ViewsReply); ok && r.Validate() != nil {
					t.Fatalf("sent an invalid reply: %v", r.Validate())
				}
			}
		}
	})
}

// A connection opened for one exchange is not closed while another still
// awaits an answer over it: a member's views arrive while this node's
// probe of it is in flight, and the probe's Ack must still come back;
// the exchange that ends last closes the connection.
func TestConnectionKeptWhileAnAnswerIsAwaited(t *testing.T) {
	e := lonelyEngine(t, MembersConfig{})
	asked := do(t, e, func(out *Ready) {
		_, err := e.AskViews(t0, 7, time.Second, out)
		require.NoError(t, err)
	})
	var req *ViewsRequest
	for _, s := range asked.Sends {
		if m, ok := s.Msg.(*ViewsRequest); ok && s.To.ID == 5 {
			req = m
		}
	}
	require.NotNil(t, req, "member 5 asked for its views")
	tick := probeOnce(t, e, t0)
	var ping *Ping
	for _, s := range tick.Sends {
		if m, ok := s.Msg.(*Ping); ok && s.To.ID == 5 {
			ping = m
		}
	}
	require.NotNil(t, ping, "member 5 probed")
	closes := func(r *Ready) bool { return slices.Contains(r.Closes, peer.ID(5)) }
	got := do(t, e, func(out *Ready) { e.Receive(t0, 5, &ViewsReply{Nonce: req.Nonce}, out) })
	require.False(t, closes(got), "the probe still awaits its Ack over the connection")
	got = do(t, e, func(out *Ready) { e.Receive(t0, 5, &Ack{Nonce: ping.Nonce}, out) })
	require.True(t, closes(got), "the last exchange closes it")
	require.Equal(t, uint64(1), e.Counters().Engine.ProbesAnswered)
}
