package server

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/membership"
)

// Join joins the cluster through the seeds; health turns SERVING once the
// node has a first neighbour (at once without seeds).
func (s *Server) Join(ctx context.Context, req *gossipdv1.JoinRequest) (*gossipdv1.JoinResponse, error) {
	for _, seed := range req.GetSeeds() {
		if strings.TrimSpace(seed) == "" {
			return nil, status.Error(codes.InvalidArgument, "gossipd: empty seed")
		}
	}
	if err := s.node.Join(ctx, req.GetSeeds()...); err != nil {
		return nil, statusOf("join", err)
	}
	s.MarkJoined()
	return &gossipdv1.JoinResponse{}, nil
}

// Leave leaves the cluster gracefully and then calls Config.OnLeave.
func (s *Server) Leave(ctx context.Context, _ *gossipdv1.LeaveRequest) (*gossipdv1.LeaveResponse, error) {
	s.markLeft()
	err := s.node.Leave(ctx)
	if s.cfg.OnLeave != nil {
		go s.cfg.OnLeave()
	}
	if err != nil && !errors.Is(err, membership.ErrClosed) {
		return nil, statusOf("leave", err)
	}
	return &gossipdv1.LeaveResponse{}, nil
}

// Broadcast sends one message and returns its ID.
func (s *Server) Broadcast(ctx context.Context, req *gossipdv1.BroadcastRequest) (*gossipdv1.BroadcastResponse, error) {
	if n := len(req.GetPayload()); n > s.cfg.MaxPayloadBytes {
		return nil, status.Errorf(codes.InvalidArgument, "gossipd: payload of %d bytes exceeds the limit of %s of this agent (-max-payload)", n, byteSize(s.cfg.MaxPayloadBytes))
	}
	if req.GetTopic() == "" {
		return nil, status.Error(codes.InvalidArgument, "gossipd: topic is required")
	}
	if !utf8.ValidString(req.GetTopic()) { // a client whose encoder does not check
		return nil, status.Error(codes.InvalidArgument, "gossipd: topic is not valid UTF-8")
	}
	if n := len(req.GetTopic()); n > gossip.MaxTopicBytes {
		return nil, status.Errorf(codes.InvalidArgument, "gossipd: topic of %d bytes exceeds the limit of %d bytes", n, gossip.MaxTopicBytes)
	}
	if len(s.cfg.Topics) > 0 && !slices.Contains(s.cfg.Topics, req.GetTopic()) {
		return nil, status.Errorf(codes.InvalidArgument, "gossipd: unknown topic %q: this agent accepts broadcasts on %s only (-topics)",
			req.GetTopic(), strings.Join(s.cfg.Topics, ", "))
	}
	s.accepting.RLock()
	defer s.accepting.RUnlock()
	if !s.Joined() {
		return nil, status.Error(codes.FailedPrecondition, "gossipd: the node has not joined a cluster (or has left)")
	}
	if s.cfg.BeforeBroadcast != nil {
		if err := s.cfg.BeforeBroadcast(); err != nil {
			return nil, status.Errorf(codes.Unavailable, "gossipd: broadcast: %v", err)
		}
	}
	id, err := s.node.Broadcast(ctx, req.GetTopic(), req.GetPayload())
	if err != nil {
		return nil, statusOf("broadcast", err)
	}
	if s.cfg.AfterBroadcast != nil {
		s.cfg.AfterBroadcast(id)
	}
	return &gossipdv1.BroadcastResponse{MessageId: id.String()}, nil
}

// byteSize renders n bytes for an error: "512 KiB (524288 bytes)", or
// "10 bytes" below a KiB or when not a whole number of KiB.
func byteSize(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// MembersPageSize is the default and the largest page of Members: 1000
// members of at most 512 B of metadata and 1 KiB of address stay well
// under gRPC's 4 MiB message limit, whatever the size of the cluster.
const MembersPageSize = 1000

// Members returns one page of the member list, filtered by state if states
// are given: the members after req.AfterId, and the AfterId of the next
// page (0 after the last).
func (s *Server) Members(_ context.Context, req *gossipdv1.MembersRequest) (*gossipdv1.MembersResponse, error) {
	want := map[gossipdv1.MemberState]bool{}
	for _, st := range req.GetStates() {
		if st != gossipdv1.MemberState_MEMBER_STATE_UNSPECIFIED {
			want[st] = true
		}
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > MembersPageSize {
		size = MembersPageSize
	}
	out := &gossipdv1.MembersResponse{}
	var last uint64
	// Read the list a page at a time, so that no size of cluster is held
	// whole; a state filter may need several pages to fill one answer,
	// and one member past a full answer says whether another follows.
	for after := req.GetAfterId(); ; {
		page := s.node.MembersAfter(after, size+1)
		for _, m := range page {
			after = m.ID
			if len(want) > 0 && !want[gossipdv1.MemberState(m.State)] {
				continue
			}
			if len(out.Members) == size {
				out.NextAfterId = last
				return out, nil
			}
			out.Members = append(out.Members, s.memberPB(m))
			last = m.ID
		}
		if len(page) <= size {
			return out, nil
		}
	}
}

// UpdateMetadata replaces this node's metadata.
func (s *Server) UpdateMetadata(ctx context.Context, req *gossipdv1.UpdateMetadataRequest) (*gossipdv1.UpdateMetadataResponse, error) {
	if err := s.node.UpdateMetadata(ctx, req.GetMetadata()); err != nil {
		if errors.Is(err, membership.ErrClosed) || ctx.Err() != nil {
			return nil, statusOf("update metadata", err)
		}
		return nil, status.Errorf(codes.InvalidArgument, "gossipd: update metadata: %v", err)
	}
	return &gossipdv1.UpdateMetadataResponse{}, nil
}

// Status reports the node's identity, addresses, views, trees and counters.
func (s *Server) Status(context.Context, *gossipdv1.StatusRequest) (*gossipdv1.StatusResponse, error) {
	active, passive := s.node.Views()
	eager, lazy := s.node.Trees()
	last, oldest, subs, delivered, lagged := s.hub.stats()
	key, _, _ := strings.Cut(s.node.Addr(), "@")
	out := &gossipdv1.StatusResponse{
		Id: idString(s.node.ID()), PublicKey: key, Addr: s.node.Addr(), BindAddr: s.cfg.BindAddr,
		Joined: s.Joined(), ActiveView: ids(active), PassiveView: ids(passive),
		EagerPeers: ids(eager), LazyPeers: ids(lazy),
		LastSequence: last, OldestRetainedSequence: oldest,
		UptimeSeconds: int64(time.Since(s.started) / time.Second), Epoch: s.hub.epoch,
		Counters: map[string]int64{
			"subscribers": int64(subs), "subscriber_delivered": int64(delivered), "subscriber_lagged": int64(lagged),
			// The agent's goroutines, so that a test or an operator sees a leak.
			"runtime_goroutines":                int64(runtime.NumGoroutine()),
			"subscriber_resumed_across_restart": int64(s.hub.resumeRestarted.Load()),
		},
	}
	for st, n := range s.node.MemberCounts() {
		out.Counters["members_"+st.String()] = int64(n)
	}
	// What peers sent that the protocol refused (docs/security.md).
	pc := s.node.Counters()
	for k, v := range map[string]uint64{
		"forged_origins": pc.Engine.ForgedOrigins, "malformed_payloads": pc.Engine.MalformedPayloads,
		"unknown_messages": pc.Engine.UnknownMessages, "malformed_records": pc.Roster.Malformed,
		"members_refused_full": pc.Roster.RefusedFull, "joins_refused": pc.HyParView.JoinsRefused,
		"forged_records": pc.Engine.ForgedRecords, "signatures_remembered": pc.Engine.SignaturesRemembered, "members_silenced": pc.Roster.Silenced,
		"peers_evicted": pc.Engine.Evictions, "banned_drops": pc.Engine.BannedDrops,
	} {
		out.Counters["protocol_"+k] = int64(v)
	}
	// Liveness: probes of members and declarations withheld on evidence
	// of life (docs/reliability.md).
	for k, v := range map[string]uint64{
		"probes": pc.Engine.Probes, "probes_answered": pc.Engine.ProbesAnswered,
		"probes_failed": pc.Engine.ProbesFailed, "indirect_probes": pc.Engine.IndirectProbes,
		"events_withheld": pc.Engine.EventsWithheld, "withheld_refuted": pc.Engine.WithheldRefuted,
		"withheld_shown": pc.Engine.WithheldShown, "suspicions_raised": pc.Roster.SuspicionsRaised,
		"refutations": pc.Roster.Refutations, "confirmations": pc.Roster.Confirmations,
		"doubtful_observations": pc.Roster.DoubtfulObservations, "health_raised": pc.Engine.HealthRaised,
		"island_marks_missed": pc.Engine.IslandMarksMissed, "island_contacts": pc.Engine.IslandContacts,
	} {
		out.Counters["liveness_"+k] = int64(v)
	}
	// Broadcasts this node missed for good (gossip.GapsConfig): the gap
	// notices sent to every stream, and the broadcasts they cover.
	out.Counters["gaps_reported"] = int64(pc.Engine.GapsReported)
	out.Counters["messages_reported_missed"] = int64(pc.Engine.MessagesReportedMissed)
	// Holes shown by an origin's signed head rather than a later broadcast
	// (the tail of an origin that stopped), and heads that did not verify.
	out.Counters["gaps_from_heads"] = int64(pc.Engine.HeadHoles)
	out.Counters["forged_heads"] = int64(pc.Engine.ForgedHeads)
	// The overlay queries (status -cluster): members asked, answers,
	// members that did not answer in time, requests this node refused
	// (not from a member), and replies of a query already over.
	for k, v := range map[string]uint64{
		"asked": pc.Engine.ViewsAsked, "answered": pc.Engine.ViewsAnswered, "unanswered": pc.Engine.ViewsUnanswered,
		"refused": pc.Engine.ViewsRefused, "stale": pc.Engine.StaleViews,
	} {
		out.Counters["overlay_views_"+k] = int64(v)
	}
	for b, v := range pc.Engine.OverBudget {
		out.Counters["protocol_over_budget_"+strings.ReplaceAll(gossip.Budget(b).String(), "-", "_")] = int64(v)
	}
	if s.cfg.Transport != nil {
		st := s.cfg.Transport.Stats()
		for k, v := range map[string]int64{
			"dials": st.Dials, "dial_failures": st.DialFailures, "accepts": st.Accepts,
			"rejected": st.Rejected, "frames_sent": st.FramesSent, "frames_received": st.FramesReceived,
			"bytes_sent": st.BytesSent, "bytes_received": st.BytesReceived,
			"oversized_frames": st.OversizedFrames, "send_queue_full": st.SendQueueFull,
			"conns_open": st.ConnsOpen,
			// Datagrams the host refused to send for a transient reason,
			// dropped as lost (transport/doc.go, "Send errors").
			"send_errors_dropped": st.SendErrorsDropped, "send_errors_eperm": st.SendErrors.EPERM,
			"send_errors_enobufs": st.SendErrors.ENOBUFS, "send_errors_eagain": st.SendErrors.EAGAIN,
			"receive_errors_ignored": st.ReceiveErrorsIgnored,
			// Authenticated datagrams (transport/doc.go, "Datagrams"): refused
			// (malformed, stale, replayed, forged, not admitted) and
			// dropped unchecked (over the budget, queue full).
			"datagrams_sent": st.DatagramsSent, "datagrams_received": st.DatagramsReceived,
			"datagrams_refused": st.DatagramsRefused, "datagrams_dropped": st.DatagramsDropped,
			// Connections failed as silent by the transport's watch, and
			// the watch's late ticks, on which this host was presumed
			// starved and nobody's silence counted (transport/silence.go).
			"silence_timeouts": st.SilenceTimeouts, "silence_forgiven": st.SilenceForgiven,
		} {
			out.Counters["transport_"+k] = v
		}
	}
	return out, nil
}

// statusOf maps a node error to a gRPC status.
func statusOf(op string, err error) error {
	code := codes.Unavailable
	switch {
	case errors.Is(err, membership.ErrClosed):
		code = codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case strings.Contains(err.Error(), "membership: address"), strings.Contains(err.Error(), "empty address"):
		code = codes.InvalidArgument
	}
	return status.Error(code, fmt.Sprintf("gossipd: %s: %v", op, err))
}

func idString(id uint64) string { return fmt.Sprintf("%016x", id) }

func ids(in []uint64) []string {
	out := make([]string, 0, len(in))
	for _, id := range in {
		out = append(out, idString(id))
	}
	return out
}

// memberPB converts a member.
func (s *Server) memberPB(m membership.Member) *gossipdv1.Member {
	return &gossipdv1.Member{
		Id: idString(m.ID), Addr: m.Addr, Metadata: m.Meta, Incarnation: m.Incarnation,
		State: gossipdv1.MemberState(m.State), Self: m.ID == s.node.ID(),
	}
}
