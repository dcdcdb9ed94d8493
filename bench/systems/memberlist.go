// Package systems holds the adapters of the gossip systems the comparison
// measures; each registers itself with the harness from init. Adding a
// system is one file here.
package systems

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/plumview/plumview/bench/harness"
)

func init() { harness.Register("memberlist", func() harness.System { return &Memberlist{} }) }

// defaultUDPBuffer is memberlist's default UDPBufferSize in its LAN config.
const defaultUDPBuffer = 1400

// Memberlist is the adapter for hashicorp/memberlist: default LAN config on
// 127.0.0.1, user broadcasts spread through a TransmitLimitedQueue per node
// (returned from Delegate.GetBroadcasts) and re-queued on first receipt,
// deduplicated by message ID in the delegate.
type Memberlist struct {
	cfg    harness.Config
	nodes  []*mlNode
	sent   atomic.Uint64
	udpBuf int
}

// mlNode is one memberlist node and its delegate.
type mlNode struct {
	idx     int
	name    string
	addr    string
	ml      *memberlist.Memberlist
	queue   *memberlist.TransmitLimitedQueue
	deliver harness.DeliverFunc
	killed  atomic.Bool

	mu   sync.Mutex
	seen map[uint64]struct{}
}

// Name implements harness.System.
func (s *Memberlist) Name() string { return "memberlist" }

// Notes implements harness.Noter.
func (s *Memberlist) Notes() []string {
	n := []string{"v0.7.0, DefaultLANConfig (gossip every 200 ms to 3 nodes, probe every 1 s, " +
		"compression on, retransmit mult 4), logs discarded; bytes = UDP payloads passed to WriteTo " +
		"plus TCP bytes (join, push-pull) written and read on the dialling side, i.e. both directions"}
	if s.udpBuf != defaultUDPBuffer {
		n = append(n, fmt.Sprintf("UDPBufferSize raised from %d to %d so the largest broadcast fits in a gossip "+
			"packet (with the default, the TransmitLimitedQueue never sends it)", defaultUDPBuffer, s.udpBuf))
	}
	return n
}

// Start implements harness.System.
func (s *Memberlist) Start(ctx context.Context, cfg harness.Config) error {
	s.cfg = cfg
	s.udpBuf = max(defaultUDPBuffer, cfg.MaxPayload+8+64)
	for i := range cfg.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := s.startNode(i)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		s.nodes = append(s.nodes, n)
	}
	return nil
}

func (s *Memberlist) startNode(i int) (*mlNode, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"}, BindPort: 0, Logger: nil,
	})
	if err != nil {
		return nil, err
	}
	port := nt.GetAutoBindPort()
	n := &mlNode{idx: i, name: fmt.Sprintf("node-%03d", i), addr: fmt.Sprintf("127.0.0.1:%d", port),
		deliver: s.cfg.Deliver, seen: map[uint64]struct{}{}}
	c := memberlist.DefaultLANConfig()
	c.Name = n.name
	c.BindAddr, c.BindPort = "127.0.0.1", port
	c.AdvertiseAddr, c.AdvertisePort = "127.0.0.1", port
	c.Transport = &countingTransport{NetTransport: nt, sent: &s.sent}
	c.Delegate = n
	c.LogOutput = io.Discard
	c.UDPBufferSize = s.udpBuf
	ml, err := memberlist.Create(c)
	if err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	n.ml = ml
	n.queue = &memberlist.TransmitLimitedQueue{NumNodes: ml.NumMembers, RetransmitMult: c.RetransmitMult}
	return n, nil
}

// Join implements harness.System: every node joins node 0, concurrently
// or paced (harness.Config.JoinRate).
func (s *Memberlist) Join(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.nodes))
	start := time.Now()
	for i, n := range s.nodes[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := harness.WaitJoinTurn(ctx, s.cfg, start, i+1); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", n.idx, err)
				return
			}
			if _, err := n.ml.Join([]string{s.nodes[0].addr}); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", n.idx, err)
			}
		}()
	}
	wg.Wait() // each Join is bounded by the config's TCPTimeout
	return errors.Join(errs...)
}

// Converged implements harness.System: every live node counts every live
// node as a member.
func (s *Memberlist) Converged() (bool, string) {
	live := 0
	for _, n := range s.nodes {
		if !n.killed.Load() {
			live++
		}
	}
	for _, n := range s.nodes {
		if n.killed.Load() {
			continue
		}
		if got := n.ml.NumMembers(); got != live {
			return false, fmt.Sprintf("node %d has %d of %d members", n.idx, got, live)
		}
	}
	return true, ""
}

// Broadcast implements harness.System: the message (8-byte ID, payload)
// goes into the origin's queue.
func (s *Memberlist) Broadcast(from int, id uint64, payload []byte) error {
	n := s.nodes[from]
	if n.killed.Load() {
		return errors.New("node is killed")
	}
	msg := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(payload)), id)
	msg = append(msg, payload...)
	n.mu.Lock()
	n.seen[id] = struct{}{}
	n.mu.Unlock()
	n.queue.QueueBroadcast(mlBroadcast(msg))
	return nil
}

// BytesSent implements harness.System.
func (s *Memberlist) BytesSent() uint64 { return s.sent.Load() }

// Kill implements harness.Membership: Shutdown without Leave stops the
// node's transport and timers and tells nobody.
func (s *Memberlist) Kill(node int) error {
	n := s.nodes[node]
	if n.killed.Swap(true) {
		return nil
	}
	return n.ml.Shutdown()
}

// Sees implements harness.Membership: each target is among observer's
// Members, which lists alive and suspect nodes, not dead or left ones.
func (s *Memberlist) Sees(observer int, targets []int) []bool {
	listed := map[string]bool{}
	for _, m := range s.nodes[observer].ml.Members() {
		listed[m.Name] = true
	}
	seen := make([]bool, len(targets))
	for i, t := range targets {
		seen[i] = listed[s.nodes[t].name]
	}
	return seen
}

// Stop implements harness.System.
func (s *Memberlist) Stop() error {
	var errs []error
	for _, n := range s.nodes {
		if !n.killed.Swap(true) {
			errs = append(errs, n.ml.Shutdown())
		}
	}
	s.nodes = nil
	return errors.Join(errs...)
}

// NotifyMsg implements memberlist.Delegate: deliver and re-queue on first
// receipt.
func (n *mlNode) NotifyMsg(b []byte) {
	at := time.Now()
	if len(b) < 8 {
		return
	}
	id := binary.BigEndian.Uint64(b)
	n.mu.Lock()
	_, dup := n.seen[id]
	n.seen[id] = struct{}{}
	n.mu.Unlock()
	if dup {
		return
	}
	n.deliver(n.idx, id, at)
	n.queue.QueueBroadcast(mlBroadcast(append([]byte(nil), b...)))
}

// GetBroadcasts implements memberlist.Delegate.
func (n *mlNode) GetBroadcasts(overhead, limit int) [][]byte {
	return n.queue.GetBroadcasts(overhead, limit)
}

// NodeMeta implements memberlist.Delegate.
func (n *mlNode) NodeMeta(int) []byte { return nil }

// LocalState implements memberlist.Delegate.
func (n *mlNode) LocalState(bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (n *mlNode) MergeRemoteState([]byte, bool) {}

// mlBroadcast is a user message in a TransmitLimitedQueue; every message is
// unique, so none invalidates another.
type mlBroadcast []byte

// Invalidates implements memberlist.Broadcast: no message replaces another.
func (b mlBroadcast) Invalidates(memberlist.Broadcast) bool { return false }

// Message implements memberlist.Broadcast.
func (b mlBroadcast) Message() []byte { return b }

// Finished implements memberlist.Broadcast.
func (b mlBroadcast) Finished() {}

// UniqueBroadcast implements memberlist.UniqueBroadcast.
func (b mlBroadcast) UniqueBroadcast() {}
