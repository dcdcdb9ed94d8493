package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/cmd/gossipd/internal/server"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// /readyz is 503 until the node has joined, 200 after, and 503 again from
// the moment the agent drains to leave; /healthz (liveness) stays 200
// throughout.
func TestReadyzFollowsJoinAndDrain(t *testing.T) {
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	tr, err := transport.NewMemNetwork(1).Listen("a", id, transport.MemConfig{})
	require.NoError(t, err)
	node, err := membership.New(membership.Config{Transport: tr})
	require.NoError(t, err)
	defer node.Close()
	srv, err := server.New(server.Config{Node: node, Transport: tr})
	require.NoError(t, err)
	defer srv.Shutdown()
	_, gatherer, err := newMetrics()
	require.NoError(t, err)
	h := httpHandler(gatherer, node, srv)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	require.Equal(t, http.StatusServiceUnavailable, get("/readyz"), "not joined")
	require.Equal(t, http.StatusOK, get("/healthz"))
	require.NoError(t, node.Join(t.Context()))
	srv.MarkJoined()
	require.Equal(t, http.StatusOK, get("/readyz"), "joined")
	srv.Draining()
	require.Equal(t, http.StatusServiceUnavailable, get("/readyz"), "draining")
	require.Equal(t, http.StatusOK, get("/healthz"))
}
