package server

import (
	"context"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// Bounds of ClusterViews' query.
const (
	// DefaultClusterViewsTimeout bounds a ClusterViews query that names
	// no timeout.
	DefaultClusterViewsTimeout = 10 * time.Second
	// MaxClusterViewsTimeout bounds any ClusterViews query.
	MaxClusterViewsTimeout = time.Minute
)

// ClusterViews gathers every alive member's overlay views through the
// cluster (membership.Node.OverlayViews).
func (s *Server) ClusterViews(ctx context.Context, req *gossipdv1.ClusterViewsRequest) (*gossipdv1.ClusterViewsResponse, error) {
	if !s.Joined() {
		return nil, status.Error(codes.FailedPrecondition, "gossipd: the node has not joined a cluster (or has left)")
	}
	timeout := DefaultClusterViewsTimeout
	if ms := req.GetTimeoutMs(); ms > 0 {
		timeout = min(time.Duration(ms)*time.Millisecond, MaxClusterViewsTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cv, err := s.node.OverlayViews(ctx)
	if err != nil {
		return nil, statusOf("cluster views", err)
	}
	out := &gossipdv1.ClusterViewsResponse{Id: idString(s.node.ID()), Unanswered: ids(cv.Unanswered)}
	for _, id := range slices.Sorted(maps.Keys(cv.Views)) {
		v := cv.Views[id]
		out.Nodes = append(out.Nodes, &gossipdv1.NodeViews{Id: idString(id), ActiveView: ids(v.Active),
			PassiveView: ids(v.Passive), EagerPeers: ids(v.Eager), LazyPeers: ids(v.Lazy)})
	}
	return out, nil
}
