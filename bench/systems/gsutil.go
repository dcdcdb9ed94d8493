package systems

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/plumview/plumview/bench/harness"
)

// countingDialer dials TCP to 127.0.0.1 only and counts the connection's
// bytes in both directions.
type countingDialer struct{ sent *atomic.Uint64 }

// DialContext implements tcp.ContextDialer.
func (d countingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := loopbackOnly(address); err != nil {
		return nil, err
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return harness.CountConn(c, d.sent, true), nil
}

// dialPlan picks, for each of n nodes, k distinct random others to dial,
// then adds one dial per extra connected component so that the graph is
// connected. Each entry is (from, to).
func dialPlan(n, k int, rng *rand.Rand) [][2]int {
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	var plan [][2]int
	for i := range n {
		others := rng.Perm(n)
		picked := 0
		for _, j := range others {
			if picked == k {
				break
			}
			if j == i {
				continue
			}
			plan = append(plan, [2]int{i, j})
			parent[find(i)] = find(j)
			picked++
		}
	}
	for i := 1; i < n; i++ {
		if find(i) != find(0) {
			plan = append(plan, [2]int{i, 0})
			parent[find(i)] = find(0)
		}
	}
	return plan
}

// reachable counts the nodes reachable from node 0 over adj.
func reachable(adj [][]int) int {
	if len(adj) == 0 {
		return 0
	}
	seen := make([]bool, len(adj))
	seen[0] = true
	queue, count := []int{0}, 1
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, j := range adj[i] {
			if !seen[j] {
				seen[j] = true
				count++
				queue = append(queue, j)
			}
		}
	}
	return count
}

// gsTracer holds counters shared by all nodes' tracers.
type gsTracer struct {
	dropped, undeliverable atomic.Uint64
}

// meshTracer follows one node's mesh for the one topic from pubsub's trace
// events, since the router does not expose it, and counts drops.
type meshTracer struct {
	gs   *gsTracer
	mu   sync.Mutex
	mesh map[peer.ID]struct{}
}

var _ pubsub.RawTracer = (*meshTracer)(nil)

// peers returns the node's current mesh peers.
func (t *meshTracer) peers() []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := make([]peer.ID, 0, len(t.mesh))
	for p := range t.mesh {
		ps = append(ps, p)
	}
	return ps
}

func (t *meshTracer) set(p peer.ID, in bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if in {
		t.mesh[p] = struct{}{}
	} else {
		delete(t.mesh, p)
	}
}

// Graft implements pubsub.RawTracer.
func (t *meshTracer) Graft(p peer.ID, _ string) { t.set(p, true) }

// Prune implements pubsub.RawTracer.
func (t *meshTracer) Prune(p peer.ID, _ string) { t.set(p, false) }

// OnClosedOutboundStream implements pubsub.RawTracer: the router drops the
// peer from its mesh without a Prune event.
func (t *meshTracer) OnClosedOutboundStream(p peer.ID) { t.set(p, false) }

// DropRPC implements pubsub.RawTracer.
func (t *meshTracer) DropRPC(*pubsub.RPC, peer.ID) { t.gs.dropped.Add(1) }

// UndeliverableMessage implements pubsub.RawTracer.
func (t *meshTracer) UndeliverableMessage(*pubsub.Message) { t.gs.undeliverable.Add(1) }

// OnNewOutboundStream implements pubsub.RawTracer; not needed.
func (t *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}

// Join implements pubsub.RawTracer; not needed.
func (t *meshTracer) Join(string) {}

// Leave implements pubsub.RawTracer; not needed.
func (t *meshTracer) Leave(string) {}

// ValidateMessage implements pubsub.RawTracer; not needed.
func (t *meshTracer) ValidateMessage(*pubsub.Message) {}

// DeliverMessage implements pubsub.RawTracer; not needed.
func (t *meshTracer) DeliverMessage(*pubsub.Message) {}

// RejectMessage implements pubsub.RawTracer; not needed.
func (t *meshTracer) RejectMessage(*pubsub.Message, string) {}

// DuplicateMessage implements pubsub.RawTracer; not needed.
func (t *meshTracer) DuplicateMessage(*pubsub.Message) {}

// ThrottlePeer implements pubsub.RawTracer; not needed.
func (t *meshTracer) ThrottlePeer(peer.ID) {}

// RecvRPC implements pubsub.RawTracer; not needed.
func (t *meshTracer) RecvRPC(*pubsub.RPC) {}

// SendRPC implements pubsub.RawTracer; not needed.
func (t *meshTracer) SendRPC(*pubsub.RPC, peer.ID) {}

// SendRPCCompleted implements pubsub.RawTracer; not needed.
func (t *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
