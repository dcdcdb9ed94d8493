package server

import (
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/fanout"
	"github.com/plumview/plumview/membership"
)

// Subscribe streams the deliveries on the chosen topics: first, after a
// reconnect, the retained ones after resume_from (preceded by a lag notice
// if some are no longer retained, or by a restart notice and all of this
// epoch's retained ones if resume_from is of an earlier epoch), then the
// new ones, with a lag notice in place of those this stream's buffer could
// not hold, and a gap notice for broadcasts the node missed for good
// (membership.Gap; on every stream, whatever its topics). The stream ends
// when the client goes away or the server shuts down.
func (s *Server) Subscribe(req *gossipdv1.SubscribeRequest, stream grpc.ServerStreamingServer[gossipdv1.SubscribeResponse]) error {
	sub, replay, gone, restarted := s.hub.subscribe(req.GetTopics(), req.GetResumeFrom(), req.GetResumeEpoch())
	defer sub.Close()
	if restarted {
		var oldest uint64
		if len(replay) > 0 {
			oldest = replay[0].seq
		}
		notice := &gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Restarted{Restarted: &gossipdv1.Restarted{
			PreviousEpoch: req.GetResumeEpoch(), Epoch: s.hub.epoch, OldestRetainedSequence: oldest,
		}}}
		if err := stream.Send(notice); err != nil {
			return err
		}
		s.hub.resumeRestarted.Add(1)
	}
	if gone > 0 {
		if err := stream.Send(lagPB(gone)); err != nil {
			return err
		}
		s.hub.resumeLagged.Add(gone)
	}
	for _, d := range replay {
		if err := stream.Send(messagePB(d, s.hub.epoch)); err != nil {
			return err
		}
	}
	ctx := stream.Context()
	for {
		it, err := sub.Recv(ctx)
		switch {
		case errors.Is(err, fanout.ErrClosed):
			return status.Error(codes.Unavailable, "gossipd: the agent is shutting down")
		case err != nil:
			return nil // the client went away
		}
		select {
		case <-s.done: // do not drain the buffer into a stream that is ending
			return status.Error(codes.Unavailable, "gossipd: the agent is shutting down")
		default:
		}
		resp := lagPB(it.Missed)
		if it.Missed == 0 {
			resp = messagePB(it.Value, s.hub.epoch)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// WatchMembers streams membership events from now on.
func (s *Server) WatchMembers(_ *gossipdv1.WatchMembersRequest, stream grpc.ServerStreamingServer[gossipdv1.WatchMembersResponse]) error {
	w := s.node.Events()
	defer w.Close()
	ctx := stream.Context()
	for {
		select {
		case e, ok := <-w.C():
			if !ok {
				return status.Error(codes.Unavailable, "gossipd: the node has stopped")
			}
			if err := stream.Send(s.eventPB(e)); err != nil {
				return err
			}
		case <-s.done:
			return status.Error(codes.Unavailable, "gossipd: the agent is shutting down")
		case <-ctx.Done():
			return nil
		}
	}
}

func lagPB(n uint64) *gossipdv1.SubscribeResponse {
	return &gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Lagged{Lagged: &gossipdv1.Lagged{Missed: n}}}
}

func messagePB(d *delivery, epoch uint64) *gossipdv1.SubscribeResponse {
	m := d.msg
	if g := m.Gap; g.Count > 0 {
		return &gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Gap{Gap: &gossipdv1.GapNotice{
			Sequence: d.seq, Origin: idString(g.Origin), First: g.First, Last: g.Last, Count: g.Count,
		}}}
	}
	return &gossipdv1.SubscribeResponse{Event: &gossipdv1.SubscribeResponse_Message{Message: &gossipdv1.Message{
		Sequence: d.seq, MessageId: m.ID.String(), Origin: idString(m.Origin),
		Topic: m.Topic, Payload: m.Payload, Hops: m.Hops, Epoch: epoch,
	}}}
}

func (s *Server) eventPB(e membership.Event) *gossipdv1.WatchMembersResponse {
	if e.Lagged > 0 {
		return &gossipdv1.WatchMembersResponse{Event: &gossipdv1.WatchMembersResponse_Lagged{Lagged: &gossipdv1.Lagged{Missed: e.Lagged}}}
	}
	return &gossipdv1.WatchMembersResponse{Event: &gossipdv1.WatchMembersResponse_MemberEvent{MemberEvent: &gossipdv1.MemberEvent{
		Kind: gossipdv1.MemberEventKind(e.Kind), Member: s.memberPB(e.Member),
	}}}
}
