package systems

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/plumview/plumview/bench/harness"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

func init() {
	harness.Register("plumview", func() harness.System { return &Plumview{} })
	harness.Register("plumview-trusted", func() harness.System { return &Plumview{trustMembers: true} })
	harness.Register("plumview-fast", func() harness.System { return &Plumview{fast: true} })
	harness.Register("plumview-calm", func() harness.System { return &Plumview{calm: true} })
	harness.Register("plumview-sparse", func() harness.System { return &Plumview{sparse: true} })
	harness.Register("plumview-quick", func() harness.System { return &Plumview{quick: true} })
}

// benchTopic is the one topic the comparison broadcasts on.
const benchTopic = "bench"

// Plumview is the adapter for this project's library: membership.Node over
// QUIC on 127.0.0.1 with default settings (origin signatures on), every
// node joining through node 0, one subscription per node. As
// "plumview-trusted" it turns origin signatures off
// (membership.Config.TrustMembers), to show what they cost.
type Plumview struct {
	trustMembers bool
	// fast is the failure detector of a LAN (gossipd's -idle-timeout
	// 500ms -probe-interval 500ms -probe-timeout 200ms -suspicion-timeout
	// 2s -suspicion-min-timeout 500ms; docs/reliability.md, "Toward
	// 2 s"), as "plumview-fast", to show what detection within 2 s costs.
	fast bool
	// calm is a slower failure detector for many nodes in one process
	// (gossipd's -idle-timeout 5s -probe-interval 2s: keep-alives every
	// second), as "plumview-calm": a fifth of the keep-alives and half the
	// probes of the defaults, so that 1,000 nodes on two cores are not
	// busy merely being members.
	calm bool
	// sparse is a failure detector for a thousand nodes in one process
	// on two cores, as "plumview-sparse": idle timeout 15 s, keep-alives
	// every 5 s, probes every 5 s with a 2 s timeout, suspicion 15 s
	// (gossipd's -idle-timeout 15s -probe-interval 5s -probe-timeout 2s
	// -suspicion-timeout 15s, but for the keep-alives, which gossipd sets
	// to a fifth of the idle timeout, 3 s): about a third of the default's
	// idle CPU, for detection in about 15 s.
	sparse bool
	// quick is the default failure detector with a suspicion that
	// independent confirmations bring down to 500 ms instead of 3 s
	// (gossipd's -suspicion-min-timeout 500ms), as "plumview-quick": the
	// keep-alives, idle timeout and probes of the defaults, so it costs
	// nothing more while idle.
	quick  bool
	cfg    harness.Config
	nodes  []*pvNode
	lagged atomic.Uint64
	// idleFrom is sentCounts as the idle phase began (IdleBegins).
	idleFrom [4]uint64
	// sustainedFrom is batchCounts as the sustained phase began
	// (SustainedBegins).
	sustainedFrom [4]uint64
}

// pvNode is one node, its counted socket and its subscription reader.
type pvNode struct {
	idx    int
	node   *membership.Node
	tr     *transport.QUIC
	socket *countedPacketConn
	sub    *membership.Subscription
	done   chan struct{}
	killed atomic.Bool
}

// countedPacketConn counts the UDP payload bytes a node writes, and its
// packets: all of them, and the datagrams among them (transport's, whose
// first byte has its two top bits clear, where every QUIC packet's has
// one set). It is a *net.UDPConn to quic-go (quic.OOBCapablePacketConn:
// the socket's own SyscallConn, ReadMsgUDP, buffer sizes), so that the
// transport keeps every optimisation it has on a bare socket, as a
// production node does: batched reads, ECN, and segmentation offload, one
// write carrying several packets of a connection.
type countedPacketConn struct {
	*net.UDPConn
	written                atomic.Uint64
	packets                atomic.Uint64
	datagrams, dgramsBytes atomic.Uint64
	crashed                atomic.Bool
	dropped                atomic.Uint64 // writes dropped since the crash
}

// crash makes the socket drop everything written from now on, as the
// socket of a killed process does: a node closed afterwards says goodbye
// to nobody (no QUIC CONNECTION_CLOSE reaches its peers).
func (c *countedPacketConn) crash() { c.crashed.Store(true) }

func (c *countedPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.crashed.Load() {
		c.dropped.Add(1)
		return len(p), nil
	}
	n, err := c.UDPConn.WriteTo(p, addr)
	c.count(p, n, 1)
	return n, err
}

// WriteMsgUDP writes one datagram, or several of one size with a
// segmentation offload control message in oob.
func (c *countedPacketConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	if c.crashed.Load() {
		c.dropped.Add(1)
		return len(b), len(oob), nil
	}
	n, oobn, err := c.UDPConn.WriteMsgUDP(b, oob, addr)
	c.count(b, n, packetsIn(n, oob))
	return n, oobn, err
}

// packetsIn is how many packets a write of n bytes with the control
// messages oob carried: one, or one per segment with segmentation offload.
func packetsIn(n int, oob []byte) uint64 {
	if seg := segmentSize(oob); seg > 0 && n > 0 {
		return uint64((n + seg - 1) / seg)
	}
	return 1
}

func (c *countedPacketConn) count(p []byte, n int, packets uint64) {
	c.written.Add(uint64(n))
	c.packets.Add(packets)
	if len(p) > 0 && p[0]&0xc0 == 0 {
		c.datagrams.Add(packets)
		c.dgramsBytes.Add(uint64(n))
	}
}

// sentCounts sums the nodes' packet counters: packets, bytes, datagrams
// and their bytes.
func (s *Plumview) sentCounts() [4]uint64 {
	var c [4]uint64
	for _, n := range s.nodes {
		c[0] += n.socket.packets.Load()
		c[1] += n.socket.written.Load()
		c[2] += n.socket.datagrams.Load()
		c[3] += n.socket.dgramsBytes.Load()
	}
	return c
}

// Name implements harness.System.
func (s *Plumview) Name() string {
	if s.trustMembers {
		return "plumview-trusted"
	}
	if s.fast {
		return "plumview-fast"
	}
	if s.calm {
		return "plumview-calm"
	}
	if s.sparse {
		return "plumview-sparse"
	}
	if s.quick {
		return "plumview-quick"
	}
	return "plumview"
}

// Notes implements harness.Noter.
func (s *Plumview) Notes() []string {
	signing := "origin signatures on (ed25519: every broadcast signed, every first receipt verified)"
	if s.trustMembers {
		signing = "origin signatures off (membership.Config.TrustMembers)"
	}
	settings := "default settings"
	if s.fast || s.calm || s.sparse || s.quick {
		settings = "default settings but the failure detector (below)"
	}
	n := []string{"membership.Node over QUIC with " + settings + " (HyParView active 5 / passive 30, Plumtree with timeout1 following the measured lags within 20–80 ms and payloads held 10 s while nothing fails (30 s after a failure), " +
		"keep-alive 200 ms from the dialler and 250 ms from the acceptor, idle timeout 1 s, suspicion 5 s, probes of non-neighbours as datagrams tagged under pairwise keys), " + signing + ", origin signatures of frames queued together checked in batches, no metrics sink (the library's default; memberlist's global go-metrics sink is a blackhole unless set); bytes = UDP payloads written " +
		"(QUIC, TLS and keep-alives included), the socket a bare *net.UDPConn to quic-go (batched reads, segmentation offload; no path MTU probes); built against quic-go v0.64.1 here (bench/go.mod), " +
		"the version go-libp2p compiles with"}
	if s.fast {
		n = append(n, "the fast failure detector (idle timeout 500 ms, keep-alive 100 ms, probes every 500 ms with a 200 ms timeout, "+
			"suspicion 2 s alone, 500 ms confirmed; gossipd's flags of the fault lab's kill-fast scenario)")
	}
	if s.calm {
		n = append(n, "the calm failure detector (idle timeout 5 s, keep-alive 1 s, probes every 2 s; suspicion as the defaults; gossipd's -idle-timeout 5s -probe-interval 2s)")
	}
	if s.sparse {
		n = append(n, "the sparse failure detector (idle timeout 15 s, keep-alive 5 s, probes every 5 s with a 2 s timeout, "+
			"suspicion 15 s alone, 3 s confirmed; gossipd's -idle-timeout 15s -probe-interval 5s -probe-timeout 2s -suspicion-timeout 15s "+
			"but for the keep-alive, 3 s there)")
	}
	if s.quick {
		n = append(n, "the quick suspicion (the default detector, but a suspicion confirmed by 3 other nodes lasts 500 ms, not 3 s; gossipd's -suspicion-min-timeout 500ms)")
	}
	if l := s.lagged.Load(); l > 0 {
		n = append(n, fmt.Sprintf("subscriptions dropped %d messages for slow reading (Lagged)", l))
	}
	return n
}

// Start implements harness.System.
func (s *Plumview) Start(ctx context.Context, cfg harness.Config) error {
	s.cfg = cfg
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

func (s *Plumview) startNode(i int) (*pvNode, error) {
	id, err := transport.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	socket := &countedPacketConn{UDPConn: udp}
	tc := transport.Config{Identity: id, PacketConn: socket, MaxFrameBytes: max(transport.DefaultMaxFrameBytes, 2*s.cfg.MaxPayload)}
	if s.fast {
		tc.IdleTimeout, tc.KeepAlivePeriod = 500*time.Millisecond, 100*time.Millisecond
	}
	if s.calm {
		tc.IdleTimeout, tc.KeepAlivePeriod = 5*time.Second, time.Second
	}
	if s.sparse {
		SparseTransport(&tc)
	}
	tr, err := transport.ListenQUIC(tc)
	if err != nil {
		udp.Close()
		return nil, err
	}
	mc := membership.Config{Transport: tr, Seed: uint64(s.cfg.Seed)*1000 + uint64(i) + 1, TrustMembers: s.trustMembers}
	if s.fast {
		mc.ProbeInterval, mc.ProbeTimeout = 500*time.Millisecond, 200*time.Millisecond
		mc.Roster.SuspicionTimeout, mc.Roster.SuspicionMinTimeout = 2*time.Second, 500*time.Millisecond
	}
	if s.calm {
		mc.ProbeInterval = 2 * time.Second
	}

	if s.sparse {
		SparseMembers(&mc)
	}
	if s.quick {
		mc.Roster.SuspicionMinTimeout = 500 * time.Millisecond
	}
	node, err := membership.New(mc)
	if err != nil {
		tr.Close()
		return nil, err
	}
	n := &pvNode{idx: i, node: node, tr: tr, socket: socket, sub: node.Subscribe(benchTopic), done: make(chan struct{})}
	go s.read(n)
	return n, nil
}

// read reports every delivery of node n to the harness.
func (s *Plumview) read(n *pvNode) {
	defer close(n.done)
	pvRead(n.sub, n.idx, s.cfg.Deliver, &s.lagged)
}

// Join implements harness.System: every node joins through node 0, at
// once or paced (harness.Config.JoinRate).
func (s *Plumview) Join(ctx context.Context) error {
	nodes := make([]*membership.Node, len(s.nodes))
	for i, n := range s.nodes {
		nodes[i] = n.node
	}
	return pvJoin(ctx, s.cfg, nodes)
}

// Converged implements harness.System: every live node's member list holds
// every live node as alive.
func (s *Plumview) Converged() (bool, string) {
	return pvConverged(len(s.nodes), func(i int) *membership.Node { return s.nodes[i].node },
		func(i int) bool { return s.nodes[i].killed.Load() }, nil)
}

// Broadcast implements harness.System: the id travels as the payload's
// first 8 bytes.
func (s *Plumview) Broadcast(from int, id uint64, payload []byte) error {
	return pvBroadcast(s.nodes[from].node, id, payload)
}

// BytesSent implements harness.System.
func (s *Plumview) BytesSent() uint64 {
	var total uint64
	for _, n := range s.nodes {
		total += n.socket.written.Load()
	}
	return total
}

// Kill implements harness.Membership as a crash: the node's socket drops
// everything from then on, and Close stops the node without a leave, so
// no CONNECTION_CLOSE reaches its peers (before, they learned of the
// close at once and only the probes found the node gone); the others
// notice through the QUIC idle timeout, as they would a killed process.
func (s *Plumview) Kill(node int) error {
	n := s.nodes[node]
	if n.killed.Swap(true) {
		return nil
	}
	n.socket.crash()
	err := n.node.Close()
	<-n.done
	return err
}

// Sees implements harness.Membership: each target is in observer's member
// list as alive or suspect.
func (s *Plumview) Sees(observer int, targets []int) []bool {
	return pvSees(s.nodes[observer].node, len(targets), func(i int) *membership.Node { return s.nodes[targets[i]].node })
}

// Stop implements harness.System.
func (s *Plumview) Stop() error {
	errs := pvStopAll(len(s.nodes), s.Kill)
	s.nodes = nil
	return errors.Join(errs...)
}

// SparseTransport sets the transport's half of the sparse failure
// detector ("plumview-sparse"): idle timeout 15 s, keep-alives every 5 s.
func SparseTransport(tc *transport.Config) {
	tc.IdleTimeout, tc.KeepAlivePeriod = 15*time.Second, 5*time.Second
}

// SparseMembers sets the member list's half of the sparse failure
// detector: probes every 5 s with a 2 s timeout, suspicion 15 s.
func SparseMembers(mc *membership.Config) {
	mc.ProbeInterval, mc.ProbeTimeout = 5*time.Second, 2*time.Second
	mc.Roster.SuspicionTimeout = 15 * time.Second
}

// SustainedBegins implements harness.SustainedNoter.
func (s *Plumview) SustainedBegins() { s.sustainedFrom = s.batchCounts() }

// SustainedNotes implements harness.SustainedNoter: how many signatures
// (origins' and member records') the nodes checked in batches (frames
// that waited in a node's inbox behind one another; gossip's
// PrepareBatch), against the deliveries of other nodes' broadcasts.
func (s *Plumview) SustainedNotes() []string {
	now := s.batchCounts()
	batches, failed, batched, received := now[0]-s.sustainedFrom[0], now[1]-s.sustainedFrom[1], now[2]-s.sustainedFrom[2], now[3]-s.sustainedFrom[3]
	if batches == 0 {
		return []string{"sustained: no origin signatures checked in batches"}
	}
	return []string{fmt.Sprintf("sustained: %.0f signatures checked in batches per 100 deliveries of other nodes' broadcasts (%d batches of %.1f on average, %d failed)",
		100*float64(batched)/float64(max(received, 1)), batches, float64(batched)/float64(batches), failed)}
}

// batchCounts sums the live nodes' signature batches, failed batches,
// signatures checked in a batch that passed, and deliveries of other
// nodes' broadcasts (member records included).
func (s *Plumview) batchCounts() [4]uint64 {
	var c [4]uint64
	for _, n := range s.nodes {
		if n.killed.Load() {
			continue
		}
		cnt := n.node.Counters()
		c[0] += cnt.Engine.SignatureBatches
		c[1] += cnt.Engine.SignatureBatchesFailed
		c[2] += cnt.Engine.SignaturesBatched
		c[3] += cnt.Plumtree.Delivered - cnt.Plumtree.Broadcasts
	}
	return c
}

// IdleBegins implements harness.IdleNoter.
func (s *Plumview) IdleBegins() { s.idleFrom = s.sentCounts() }

// IdleNotes implements harness.IdleNoter: the packets the nodes sent in
// the idle phase, QUIC's (keep-alives and their acknowledgements, mostly)
// and the datagrams (probes and their answers, shuffle replies, link
// requests), and the connections they hold open at its end, each kept
// alive by QUIC's PINGs, against the links of their active views.
func (s *Plumview) IdleNotes(seconds float64) []string {
	now := s.sentCounts()
	var d [4]float64
	for i := range d {
		d[i] = float64(now[i]-s.idleFrom[i]) / seconds / float64(len(s.nodes))
	}
	sent := fmt.Sprintf("idle: per node and second, %.1f QUIC packets sent (%.0f B, %.1f B each) and %.1f datagrams (%.0f B)",
		d[0]-d[2], d[1]-d[3], (d[1]-d[3])/max(d[0]-d[2], 1e-9), d[2], d[3])
	conns, links, live := 0, 0, 0
	maxConns := 0
	for _, n := range s.nodes {
		if n.killed.Load() {
			continue
		}
		live++
		c := int(n.tr.Stats().ConnsOpen)
		conns += c
		maxConns = max(maxConns, c)
		active, _ := n.node.Views()
		links += len(active)
	}
	if live == 0 {
		return nil
	}
	return []string{sent, fmt.Sprintf("idle: %.2f QUIC connections open per node at the end of the idle phase (at most %d), %.2f active-view links per node",
		float64(conns)/float64(live), maxConns, float64(links)/float64(live))}
}
