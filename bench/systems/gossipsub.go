package systems

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/plumview/plumview/bench/harness"
)

func init() { harness.Register("gossipsub", func() harness.System { return &Gossipsub{} }) }

const (
	// gsTopic is the one topic every node joins.
	gsTopic = "bench"
	// gsDials is how many random others each host dials.
	gsDials = 3
	// gsSubBuffer is the subscription buffer; the default (32) would drop
	// deliveries whenever the harness's reader is descheduled under load.
	gsSubBuffer = 4096
)

// Gossipsub is the adapter for go-libp2p-pubsub's gossipsub: default
// parameters, TCP on 127.0.0.1, one topic, each host dialling a few random
// others (with extra dials only if that leaves the graph disconnected).
type Gossipsub struct {
	cfg     harness.Config
	ctx     context.Context
	cancel  context.CancelFunc
	nodes   []*gsNode
	index   map[peer.ID]int
	sent    atomic.Uint64
	dials   int
	readers sync.WaitGroup
	tr      gsTracer
}

// gsNode is one libp2p host with its pubsub, topic and subscription.
type gsNode struct {
	h     host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	mesh  *meshTracer
}

// Name implements harness.System.
func (s *Gossipsub) Name() string { return "gossipsub" }

// Notes implements harness.Noter.
func (s *Gossipsub) Notes() []string {
	notes := []string{
		fmt.Sprintf("go-libp2p-pubsub v0.19.0 on go-libp2p v0.51.0, DefaultGossipSubParams (D 6, heartbeat 1 s), "+
			"message signing on, TCP only with Noise/TLS and yamux defaults, relay and metrics off; %d dials in all", s.dials),
		fmt.Sprintf("subscription buffer %d (default 32) so the harness's reader does not lose deliveries; "+
			"%d RPCs dropped on full peer queues, %d messages undeliverable to slow subscribers",
			gsSubBuffer, s.tr.dropped.Load(), s.tr.undeliverable.Load()),
		"bytes = TCP bytes written and read on the dialling side of every connection, i.e. both directions, " +
			"after Noise encryption and yamux framing",
	}
	if logs := libp2pLogs.summary(3); len(logs) > 0 {
		notes = append(notes, "libp2p/pubsub warnings and errors: "+strings.Join(logs, ", "))
	}
	return notes
}

// Start implements harness.System.
func (s *Gossipsub) Start(ctx context.Context, cfg harness.Config) error {
	s.cfg = cfg
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.index = map[peer.ID]int{}
	installLogCounter()
	for i := range cfg.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := s.startNode(i)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		s.nodes = append(s.nodes, n)
		s.index[n.h.ID()] = i
	}
	return nil
}

func (s *Gossipsub) startNode(i int) (*gsNode, error) {
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport, tcp.WithDialerForAddr(s.dialer)),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, err
	}
	n := &gsNode{h: h, mesh: &meshTracer{gs: &s.tr, mesh: map[peer.ID]struct{}{}}}
	if n.ps, err = pubsub.NewGossipSub(s.ctx, h, pubsub.WithRawTracer(n.mesh),
		pubsub.WithLogger(slog.New(libp2pLogs))); err != nil {
		return nil, errors.Join(err, h.Close())
	}
	if n.topic, err = n.ps.Join(gsTopic); err != nil {
		return nil, errors.Join(err, h.Close())
	}
	if n.sub, err = n.topic.Subscribe(pubsub.WithBufferSize(gsSubBuffer)); err != nil {
		return nil, errors.Join(err, h.Close())
	}
	s.readers.Add(1)
	go s.read(i, n.sub)
	return n, nil
}

// read reports node i's deliveries until its subscription is cancelled.
func (s *Gossipsub) read(i int, sub *pubsub.Subscription) {
	defer s.readers.Done()
	for {
		msg, err := sub.Next(s.ctx)
		if err != nil {
			return
		}
		if len(msg.Data) >= 8 {
			s.cfg.Deliver(i, binary.BigEndian.Uint64(msg.Data), time.Now())
		}
	}
}

// dialer is the TCP transport's only dialer: it refuses anything but
// 127.0.0.1 and counts every connection's bytes.
func (s *Gossipsub) dialer(raddr ma.Multiaddr) (tcp.ContextDialer, error) {
	return countingDialer{sent: &s.sent}, nil
}

// Join implements harness.System: each host dials gsDials random others,
// concurrently, or paced (harness.Config.JoinRate): a dial waits for the
// turn of the later of its two hosts, so that no host is dialled before
// it has joined.
func (s *Gossipsub) Join(ctx context.Context) error {
	plan := dialPlan(len(s.nodes), gsDials, rand.New(rand.NewPCG(uint64(s.cfg.Seed), 7)))
	s.dials = len(plan)
	var wg sync.WaitGroup
	errs := make([]error, len(plan))
	start := time.Now()
	for k, d := range plan {
		from, to := s.nodes[d[0]], s.nodes[d[1]]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := harness.WaitJoinTurn(ctx, s.cfg, start, max(d[0], d[1])); err != nil {
				errs[k] = fmt.Errorf("dial %d→%d: %w", d[0], d[1], err)
				return
			}
			info := peer.AddrInfo{ID: to.h.ID(), Addrs: to.h.Addrs()}
			if err := from.h.Connect(ctx, info); err != nil {
				errs[k] = fmt.Errorf("dial %d→%d: %w", d[0], d[1], err)
			}
		}()
	}
	wg.Wait() // each Connect is bounded by ctx
	return errors.Join(errs...)
}

// Converged implements harness.System: every node has as many mesh peers
// as gossipsub aims for (Dlo) or as it has topic peers, and the mesh links
// connect all nodes.
func (s *Gossipsub) Converged() (bool, string) {
	dlo := pubsub.DefaultGossipSubParams().Dlo
	adj := make([][]int, len(s.nodes))
	for i, n := range s.nodes {
		mesh := n.mesh.peers()
		want := max(1, min(dlo, len(n.ps.ListPeers(gsTopic))))
		if len(mesh) < want {
			return false, fmt.Sprintf("node %d has %d mesh peers, wants %d", i, len(mesh), want)
		}
		for _, p := range mesh {
			if j, ok := s.index[p]; ok {
				adj[i] = append(adj[i], j)
				adj[j] = append(adj[j], i)
			}
		}
	}
	if reached := reachable(adj); reached < len(s.nodes) {
		return false, fmt.Sprintf("mesh reaches %d of %d nodes from node 0", reached, len(s.nodes))
	}
	return true, ""
}

// Broadcast implements harness.System: publish (8-byte ID, payload).
func (s *Gossipsub) Broadcast(from int, id uint64, payload []byte) error {
	msg := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(payload)), id)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	return s.nodes[from].topic.Publish(ctx, append(msg, payload...))
}

// BytesSent implements harness.System.
func (s *Gossipsub) BytesSent() uint64 { return s.sent.Load() }

// Stop implements harness.System.
func (s *Gossipsub) Stop() error {
	if s.cancel == nil {
		return nil
	}
	var errs []error
	for _, n := range s.nodes {
		n.sub.Cancel()
	}
	s.cancel()
	s.readers.Wait() // Next returns as soon as s.ctx is cancelled
	for _, n := range s.nodes {
		errs = append(errs, n.h.Close())
	}
	s.nodes, s.cancel = nil, nil
	return errors.Join(errs...)
}
