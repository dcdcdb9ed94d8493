// Package server implements the gossipd gRPC API (plumview.gossipd.v1)
// over a membership.Node, with the standard health service and server
// reflection.
package server

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// Config configures a Server. Node is required.
type Config struct {
	// Node is the node the API serves. The server does not own it, except
	// that a Leave call leaves (and so closes) it.
	Node *membership.Node
	// Transport is the node's transport, for its counters in Status.
	// Optional.
	Transport transport.Transport
	// BindAddr is the QUIC address bound, reported by Status.
	BindAddr string
	// MaxPayloadBytes caps a broadcast's payload. Default
	// DefaultMaxPayloadBytes.
	MaxPayloadBytes int
	// Retain is how many recent deliveries are kept for resume_from.
	// Default DefaultRetain.
	Retain int
	// RetainBytes bounds the size of the deliveries kept for resume_from
	// (payload, topic and about 128 bytes each); the oldest go first.
	// Default DefaultRetainBytes.
	RetainBytes int
	// Epoch scopes the sequence numbers of this run of the agent: a client
	// resuming with another epoch is told that the agent restarted.
	// Default: a random non-zero value.
	Epoch uint64
	// StreamBuffer bounds each stream's buffer. Default DefaultStreamBuffer.
	StreamBuffer int
	// RecentEvents is how many membership events are kept for the debug
	// page. Default DefaultRecentEvents.
	RecentEvents int
	// Logger receives the server's logs. Default zap.NewNop().
	Logger *zap.Logger
	// OnLeave is called (in its own goroutine) after a Leave call left the
	// cluster: the agent stops then.
	OnLeave func()
	// BeforeBroadcast, when set, is called before each broadcast; an error
	// refuses it (UNAVAILABLE). The agent's data directory reserves the
	// message's sequence number with it.
	BeforeBroadcast func() error
	// AfterBroadcast, when set, is called with the ID of each broadcast
	// sent.
	AfterBroadcast func(membership.MessageID)
	// Topics, when not empty, are the only topics Broadcast accepts: a
	// cluster's operators can name the topics in use so that a typo is an
	// error rather than a message nobody reads.
	Topics []string
}

// Defaults of Config.
const (
	// DefaultMaxPayloadBytes leaves room under the transport's 1 MiB frame
	// for the envelope and the Plumtree header.
	DefaultMaxPayloadBytes = 512 << 10
	DefaultRetain          = 4096
	// DefaultRetainBytes bounds the resume ring to 64 MiB, where 4,096
	// deliveries of the largest payload would take 2 GiB.
	DefaultRetainBytes  = 64 << 20
	DefaultStreamBuffer = 1024
	DefaultRecentEvents = 100
)

// ServiceName is the name the health service reports the API under (the
// empty name reports the same status).
const ServiceName = "plumview.gossipd.v1.GossipService"

// Server implements gossipdv1.GossipServiceServer.
type Server struct {
	gossipdv1.UnimplementedGossipServiceServer
	cfg     Config
	node    *membership.Node
	hub     *hub
	health  *health.Server
	started time.Time
	log     *zap.Logger

	// accepting is held for reading by every Broadcast from its check
	// that the node has joined until the node took the message, and for
	// writing by Draining: once Draining returns, no broadcast is being
	// accepted, so the agent can freeze its deliveries and leave without
	// one slipping in between (it would reach neither this agent's own
	// subscribers nor, with the connections closing, anyone else).
	accepting sync.RWMutex

	mu     sync.Mutex
	joined bool
	left   bool
	events []membership.Event // recent membership events, oldest first

	stopNumbering func()        // unregisters the hub from the node
	done          chan struct{} // closed by Shutdown: streams end
	stopOnce      sync.Once
	wg            sync.WaitGroup
}

// New returns a server for cfg.Node and starts numbering its deliveries.
// Its health is NOT_SERVING until the node has joined (MarkJoined or a
// Join call).
func New(cfg Config) (*Server, error) {
	if cfg.Node == nil {
		return nil, errors.New("gossipd: server: Config.Node is required")
	}
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if cfg.Retain <= 0 {
		cfg.Retain = DefaultRetain
	}
	if cfg.RetainBytes <= 0 {
		cfg.RetainBytes = DefaultRetainBytes
	}
	for cfg.Epoch == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.Epoch = binary.LittleEndian.Uint64(b[:])
	}
	if cfg.StreamBuffer <= 0 {
		cfg.StreamBuffer = DefaultStreamBuffer
	}
	if cfg.RecentEvents <= 0 {
		cfg.RecentEvents = DefaultRecentEvents
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Server{
		cfg: cfg, node: cfg.Node, hub: newHub(cfg.Epoch, cfg.Retain, cfg.RetainBytes, cfg.StreamBuffer),
		health: health.NewServer(), started: time.Now(), log: cfg.Logger,
		done: make(chan struct{}),
	}
	s.setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
	s.stopNumbering = s.node.OnMessage(s.hub.publish)
	w := s.node.Events()
	s.wg.Add(1)
	go s.record(w)
	return s, nil
}

// Register registers the API, the health service and reflection on g.
func (s *Server) Register(g *grpc.Server) {
	gossipdv1.RegisterGossipServiceServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	reflection.Register(g)
}

// RegisterHealth registers only the health service on g: for a listener
// that probes (Kubernetes gRPC probes) may reach from outside the host,
// while the API itself stays on the local socket.
func (s *Server) RegisterHealth(g *grpc.Server) {
	healthpb.RegisterHealthServer(g, s.health)
}

// record keeps the recent membership events for the debug page.
func (s *Server) record(w *membership.Watcher) {
	defer s.wg.Done()
	defer w.Close()
	for {
		select {
		case e, ok := <-w.C():
			if !ok {
				return
			}
			s.mu.Lock()
			s.events = append(s.events, e)
			if len(s.events) > s.cfg.RecentEvents {
				s.events = s.events[len(s.events)-s.cfg.RecentEvents:]
			}
			s.mu.Unlock()
		case <-s.done:
			return
		}
	}
}

func (s *Server) setHealth(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ServiceName, st)
}

// MarkJoined records that the node has joined: health turns SERVING.
func (s *Server) MarkJoined() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left {
		return
	}
	s.joined = true
	s.setHealth(healthpb.HealthCheckResponse_SERVING)
}

// Joined reports whether the node has joined and not left.
func (s *Server) Joined() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joined && !s.left
}

// markLeft records that the node left: health turns NOT_SERVING.
func (s *Server) markLeft() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left = true
	s.setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
}

// Draining marks the server NOT_SERVING, before a shutdown, and returns
// once every broadcast it accepted was handed to the node: later ones are
// refused.
func (s *Server) Draining() {
	s.accepting.Lock()
	defer s.accepting.Unlock()
	s.markLeft()
}

// Epoch returns the epoch that scopes this server's sequence numbers.
func (s *Server) Epoch() uint64 { return s.hub.epoch }

// RecentEvents returns the recent membership events, oldest first.
func (s *Server) RecentEvents() []membership.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]membership.Event(nil), s.events...)
}

// Shutdown marks the server NOT_SERVING, ends every stream and stops the
// server's goroutines. It does not close the node. It is idempotent.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() {
		s.markLeft()
		s.health.Shutdown()
		close(s.done)
		s.stopNumbering()
		s.hub.close()
	})
	s.wg.Wait()
}
