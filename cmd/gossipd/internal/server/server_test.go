package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/fanout"
	"github.com/plumview/plumview/transport"
)

func TestBroadcastSubscribeRoundTrip(t *testing.T) {
	as := cluster(t, 3, Config{})
	require.Eventually(t, func() bool { return alive(t, as[2]) == 3 }, 10*time.Second, 20*time.Millisecond)
	stream, err := as[2].client.Subscribe(ctxT(t), &gossipdv1.SubscribeRequest{Topics: []string{"t"}})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // let the subscription register
	_, err = as[0].client.Broadcast(ctxT(t), &gossipdv1.BroadcastRequest{Topic: "other", Payload: []byte("no")})
	require.NoError(t, err)
	resp, err := as[0].client.Broadcast(ctxT(t), &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("hello")})
	require.NoError(t, err)
	require.NotEmpty(t, resp.GetMessageId())
	got, err := stream.Recv()
	require.NoError(t, err)
	m := got.GetMessage()
	require.NotNil(t, m)
	require.Equal(t, resp.GetMessageId(), m.GetMessageId())
	require.Equal(t, "t", m.GetTopic())
	require.Equal(t, []byte("hello"), m.GetPayload())
	require.Equal(t, uint64(2), m.GetSequence(), "the message on another topic took sequence 1")
}

func TestResumeFromMissesNothingRetained(t *testing.T) {
	as := cluster(t, 2, Config{Retain: 8})
	require.Eventually(t, func() bool { return alive(t, as[1]) == 2 }, 10*time.Second, 20*time.Millisecond)
	for i := range 5 {
		_, err := as[0].client.Broadcast(ctxT(t), &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte{byte(i)}})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { last, _, _, _, _ := as[1].srv.hub.stats(); return last == 5 }, 10*time.Second, 10*time.Millisecond)
	stream, err := as[1].client.Subscribe(ctxT(t), &gossipdv1.SubscribeRequest{ResumeFrom: 2})
	require.NoError(t, err)
	for want := uint64(3); want <= 5; want++ {
		got, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, want, got.GetMessage().GetSequence())
		require.Equal(t, []byte{byte(want - 1)}, got.GetMessage().GetPayload())
	}
	// Past the ring: a lag notice counts what is gone, then the rest.
	for i := 5; i < 12; i++ {
		_, err := as[0].client.Broadcast(ctxT(t), &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte{byte(i)}})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { last, _, _, _, _ := as[1].srv.hub.stats(); return last == 12 }, 10*time.Second, 10*time.Millisecond)
	stream, err = as[1].client.Subscribe(ctxT(t), &gossipdv1.SubscribeRequest{ResumeFrom: 1})
	require.NoError(t, err)
	got, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, uint64(3), got.GetLagged().GetMissed(), "sequences 2, 3 and 4 left the ring of 8")
	for want := uint64(5); want <= 12; want++ {
		got, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, want, got.GetMessage().GetSequence())
	}
}

// A stream's buffer that overflows yields what fitted, then the exact
// count of what it missed, though nothing more is delivered; the counters
// add up what the stream was told.
func TestLagNotice(t *testing.T) {
	h := newHub(1, 16, DefaultRetainBytes, 2)
	s, _, _, _ := h.subscribe(nil, 0, 0)
	for range 5 {
		h.publish(msg("t"))
	}
	recv := func() fanout.Item[*delivery] {
		it, err := s.Recv(ctxT(t))
		require.NoError(t, err)
		return it
	}
	require.Equal(t, uint64(1), recv().Value.seq)
	require.Equal(t, uint64(2), recv().Value.seq)
	require.Equal(t, uint64(3), recv().Missed, "the end of the burst is reported")
	h.publish(msg("t"))
	require.Equal(t, uint64(6), recv().Value.seq)
	last, oldest, subs, delivered, lagged := h.stats()
	require.Equal(t, []uint64{6, 1, 1, 3, 3}, []uint64{last, oldest, uint64(subs), delivered, lagged})
	h.close()
	_, err := s.Recv(ctxT(t))
	require.ErrorIs(t, err, fanout.ErrClosed)
}

func TestErrorCodes(t *testing.T) {
	a := newAgent(t, transport.NewMemNetwork(1), "solo", Config{MaxPayloadBytes: 10})
	ctx := ctxT(t)
	_, err := a.client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("x")})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "not joined: %v", err)
	_, err = a.client.Join(ctx, &gossipdv1.JoinRequest{})
	require.NoError(t, err)
	_, err = a.client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: bytes.Repeat([]byte("x"), 11)})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "too large: %v", err)
	require.Contains(t, err.Error(), "exceeds the limit of 10 bytes of this agent (-max-payload)")
	_, err = a.client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Payload: []byte("x")})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "no topic: %v", err)
	_, err = a.client.Join(ctx, &gossipdv1.JoinRequest{Seeds: []string{"!!!@x:1"}})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "bad seed: %v", err)
	_, err = a.client.Leave(ctx, &gossipdv1.LeaveRequest{})
	require.NoError(t, err)
	_, err = a.client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "t", Payload: []byte("x")})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "left: %v", err)
}

// With Config.Topics set, a broadcast on another topic is refused with a
// clear error; a listed topic goes through.
func TestUnknownTopicRefused(t *testing.T) {
	a := newAgent(t, transport.NewMemNetwork(1), "solo", Config{Topics: []string{"orders", "prices"}})
	ctx := ctxT(t)
	_, err := a.client.Join(ctx, &gossipdv1.JoinRequest{})
	require.NoError(t, err)
	_, err = a.client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "order", Payload: []byte("x")})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "unknown topic: %v", err)
	require.Contains(t, err.Error(), `unknown topic "order"`)
	_, err = a.client.Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "prices", Payload: []byte("x")})
	require.NoError(t, err)
}

func TestMembersFilterAndStatus(t *testing.T) {
	as := cluster(t, 3, Config{})
	require.Eventually(t, func() bool { return alive(t, as[0]) == 3 }, 10*time.Second, 20*time.Millisecond)
	_, err := as[2].client.Leave(ctxT(t), &gossipdv1.LeaveRequest{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, err := as[0].client.Members(ctxT(t), &gossipdv1.MembersRequest{States: []gossipdv1.MemberState{gossipdv1.MemberState_MEMBER_STATE_LEFT}})
		require.NoError(t, err)
		return len(resp.GetMembers()) == 1 && resp.GetMembers()[0].GetAddr() == as[2].node.Addr()
	}, 10*time.Second, 20*time.Millisecond)
	all, err := as[0].client.Members(ctxT(t), &gossipdv1.MembersRequest{})
	require.NoError(t, err)
	require.Len(t, all.GetMembers(), 3)
	st, err := as[0].client.Status(ctxT(t), &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	require.Equal(t, as[0].node.Addr(), st.GetAddr())
	require.Equal(t, idString(as[0].node.ID()), st.GetId())
	require.True(t, st.GetJoined())
	for _, k := range []string{"protocol_forged_origins", "protocol_malformed_payloads", "protocol_members_refused_full", "protocol_joins_refused",
		"transport_datagrams_refused", "transport_datagrams_dropped"} {
		v, ok := st.GetCounters()[k]
		require.True(t, ok, "status reports %s", k)
		require.Zero(t, v, "%s in an honest cluster", k)
	}
	for _, k := range []string{"transport_silence_timeouts", "transport_silence_forgiven"} {
		_, ok := st.GetCounters()[k]
		require.True(t, ok, "status reports %s", k) // not zero on a loaded host
	}
	require.Equal(t, "node0", st.GetBindAddr())
	require.NotZero(t, st.GetCounters()["transport_frames_sent"])
	require.Positive(t, st.GetCounters()["runtime_goroutines"], "status reports the agent's goroutines")
	require.Equal(t, int64(1), st.GetCounters()["members_left"])
	require.Eventually(t, func() bool {
		st, err := as[0].client.Status(ctxT(t), &gossipdv1.StatusRequest{})
		require.NoError(t, err)
		return len(st.GetActiveView()) == 1 && len(st.GetEagerPeers())+len(st.GetLazyPeers()) == 1
	}, 10*time.Second, 20*time.Millisecond, "node1 is node0's neighbour")
}

func TestHealthTransitions(t *testing.T) {
	a := newAgent(t, transport.NewMemNetwork(1), "solo", Config{})
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := a.health.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: ServiceName})
		require.NoError(t, err)
		return resp.GetStatus()
	}
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, check())
	_, err := a.client.Join(ctxT(t), &gossipdv1.JoinRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, check())
	a.srv.Draining()
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, check())
}

func TestWatchMembers(t *testing.T) {
	as := cluster(t, 2, Config{})
	stream, err := as[0].client.WatchMembers(ctxT(t), &gossipdv1.WatchMembersRequest{})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	_, err = as[1].client.UpdateMetadata(ctxT(t), &gossipdv1.UpdateMetadataRequest{Metadata: []byte("role=db")})
	require.NoError(t, err)
	for {
		ev, err := stream.Recv()
		require.NoError(t, err)
		if e := ev.GetMemberEvent(); e.GetKind() == gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_UPDATE {
			require.Equal(t, []byte("role=db"), e.GetMember().GetMetadata())
			return
		}
	}
}

// The member list comes in pages of at most page_size (MembersPageSize by
// default and at most): following next_after_id yields every member once,
// in ID order, and the last page says there is no more.
func TestMembersPages(t *testing.T) {
	as := cluster(t, 4, Config{})
	require.Eventually(t, func() bool { return alive(t, as[0]) == 4 }, 10*time.Second, 20*time.Millisecond)
	all, err := as[0].client.Members(ctxT(t), &gossipdv1.MembersRequest{})
	require.NoError(t, err)
	require.Len(t, all.GetMembers(), 4)
	require.Zero(t, all.GetNextAfterId(), "one page holds them all")

	var got []string
	req := &gossipdv1.MembersRequest{PageSize: 3}
	for pages := 1; ; pages++ {
		resp, err := as[0].client.Members(ctxT(t), req)
		require.NoError(t, err)
		require.LessOrEqual(t, len(resp.GetMembers()), 3)
		for _, m := range resp.GetMembers() {
			got = append(got, m.GetId())
		}
		if resp.GetNextAfterId() == 0 {
			require.Equal(t, 2, pages)
			break
		}
		require.Greater(t, resp.GetNextAfterId(), req.GetAfterId())
		req.AfterId = resp.GetNextAfterId()
	}
	var want []string
	for _, m := range all.GetMembers() {
		want = append(want, m.GetId())
	}
	require.Equal(t, want, got, "every member once, in order")

	huge, err := as[0].client.Members(ctxT(t), &gossipdv1.MembersRequest{PageSize: 1 << 30})
	require.NoError(t, err)
	require.Len(t, huge.GetMembers(), 4, "a page size over the limit is served as the limit")
}
