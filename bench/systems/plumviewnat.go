package systems

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v2/vnet"

	"github.com/plumview/plumview/bench/harness"
	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// The cost of nodes behind NATs (docs/nat.md): the same library on a
// simulated network where half of the nodes sit behind NATs of their own,
// beside the same network with none. The overlay's dialled connections run
// on a transport.MemNetwork, which refuses every dial to a node behind a
// NAT (MemConfig.BehindNAT); ICE links run on pion's virtual internet
// (vnet), where every node behind a NAT has a router of its own and a
// STUN/TURN relay has a public address. One way, a frame on the
// MemNetwork and a datagram crossing the virtual internet both take
// natHop; a relayed datagram crosses it twice.
func init() {
	harness.Register("plumview-nat-none", func() harness.System { return &PlumviewNAT{name: "plumview-nat-none"} })
	harness.Register("plumview-nat-cone", func() harness.System {
		return &PlumviewNAT{name: "plumview-nat-cone", nat: &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}}
	})
	harness.Register("plumview-nat-symmetric", func() harness.System {
		return &PlumviewNAT{name: "plumview-nat-symmetric", nat: &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}}
	})
}

// natHop is the one-way delay of the simulated network.
const natHop = 2 * time.Millisecond

// relayIP is the relay's address on the virtual internet.
const relayIP = "1.0.0.1"

// PlumviewNAT is the adapter: membership.Node with Config.ICE on a
// simulated network; with nat set, every odd node sits behind a NAT of
// that type (Config.BehindNAT), node 0, the seed, on a public address.
type PlumviewNAT struct {
	name    string
	nat     *vnet.NATType
	cfg     harness.Config
	overlay *transport.MemNetwork
	wan     *vnet.Router
	relay   *ice.Relay
	relayNt *vnet.Net
	key     []byte
	ice     ice.Metrics
	nodes   []*natNode
	bytes   atomic.Uint64 // frames on the MemNetwork, datagrams on the WAN
	mu      sync.Mutex
	dead    map[string]bool // killed nodes' addresses on the virtual internet
	lagged  atomic.Uint64
}

type natNode struct {
	idx    int
	node   *membership.Node
	ip     string // its address on the virtual internet: its own, or its NAT's
	sub    *membership.Subscription
	done   chan struct{}
	killed atomic.Bool
}

// Name implements harness.System.
func (s *PlumviewNAT) Name() string { return s.name }

// Notes implements harness.Noter.
func (s *PlumviewNAT) Notes() []string {
	behind := "no node behind a NAT"
	if s.nat != nil {
		behind = fmt.Sprintf("every odd node behind a NAT of its own (%s)", natName(s.nat))
	}
	m := s.ice.Snapshot()
	n := []string{fmt.Sprintf("membership.Node with Config.ICE (docs/nat.md) on a simulated network, %s: %v one way per hop, "+
		"dialled links on a transport.MemNetwork (frames, no QUIC), ICE links on pion's vnet (QUIC over the selected pair); "+
		"bytes = MemNetwork frames plus every datagram crossing the virtual internet (relayed ones twice)", behind, natHop),
		fmt.Sprintf("ICE links made: host %d, srflx %d, relay %d; negotiations without a path %d; relayed bytes at the nodes %d; relay allocations %d",
			m.Links[ice.PathHost], m.Links[ice.PathSrflx], m.Links[ice.PathRelay], m.NoPath, m.RelayedBytes, s.relayAllocations())}
	if l := s.lagged.Load(); l > 0 {
		n = append(n, fmt.Sprintf("subscriptions dropped %d messages for slow reading (Lagged)", l))
	}
	return n
}

func (s *PlumviewNAT) relayAllocations() int64 {
	if s.relay == nil {
		return 0
	}
	return s.relay.Stats().AllocationsTotal
}

// quiet drops pion's logs.
func quiet() logging.LoggerFactory {
	return &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled, ScopeLevels: map[string]logging.LogLevel{}}
}

// Start implements harness.System.
func (s *PlumviewNAT) Start(ctx context.Context, cfg harness.Config) error {
	s.cfg = cfg
	s.dead = map[string]bool{}
	s.overlay = transport.NewMemNetwork(uint64(cfg.Seed))
	s.overlay.SetDelay(natHop, natHop)
	s.overlay.SetHook(func(_, _ string, frame []byte) bool {
		s.bytes.Add(uint64(len(frame)))
		return true
	})
	var err error
	if s.wan, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", MinDelay: natHop, LoggerFactory: quiet()}); err != nil {
		return err
	}
	s.wan.AddChunkFilter(func(c vnet.Chunk) bool {
		dst := c.DestinationAddr().(*net.UDPAddr).IP
		if dst.IsPrivate() {
			return false // the internet does not route private addresses
		}
		s.mu.Lock()
		dead := s.dead[c.SourceAddr().(*net.UDPAddr).IP.String()] || s.dead[dst.String()]
		s.mu.Unlock()
		if !dead {
			s.bytes.Add(uint64(len(c.UserData())))
		}
		return !dead
	})
	if s.relayNt, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{relayIP}}); err != nil {
		return err
	}
	if err := s.wan.AddNet(s.relayNt); err != nil {
		return err
	}
	nets := make([]*vnet.Net, cfg.Nodes)
	ips := make([]string, cfg.Nodes)
	for i := range cfg.Nodes {
		ips[i] = fmt.Sprintf("2.%d.%d.1", i/250, i%250+1)
		if s.nat == nil || i%2 == 0 {
			if nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ips[i]}}); err != nil {
				return err
			}
			if err := s.wan.AddNet(nets[i]); err != nil {
				return err
			}
			continue
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{StaticIPs: []string{ips[i]}, CIDR: fmt.Sprintf("10.%d.%d.0/24", i/250, i%250), NATType: s.nat, LoggerFactory: quiet()})
		if err != nil {
			return err
		}
		if nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.%d.%d.2", i/250, i%250)}}); err != nil {
			return err
		}
		if err := lan.AddNet(nets[i]); err != nil {
			return err
		}
		if err := s.wan.AddRouter(lan); err != nil {
			return err
		}
	}
	if err := s.wan.Start(); err != nil {
		return err
	}
	ca, err := transport.ClusterCAFromSecret([]byte("the bench's cluster secret, long enough"))
	if err != nil {
		return err
	}
	if s.key, err = ice.RelayKey(ca); err != nil {
		return err
	}
	sock, err := s.relayNt.ListenPacket("udp4", relayIP+":3478")
	if err != nil {
		return err
	}
	if s.relay, err = ice.StartRelay(ice.RelayConfig{PacketConn: sock, RelayIP: net.ParseIP(relayIP), RelayBind: relayIP, Net: s.relayNt, Key: s.key}); err != nil {
		return err
	}
	for i := range cfg.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := s.startNode(i, nets[i], ips[i])
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		s.nodes = append(s.nodes, n)
	}
	return nil
}

func (s *PlumviewNAT) startNode(i int, nt *vnet.Net, ip string) (*natNode, error) {
	id, err := transport.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	behind := s.nat != nil && i%2 == 1
	tr, err := s.overlay.Listen(fmt.Sprintf("node%d", i), id, transport.MemConfig{BehindNAT: behind,
		MaxFrameBytes: max(transport.DefaultMaxFrameBytes, 2*s.cfg.MaxPayload)})
	if err != nil {
		return nil, err
	}
	relay := relayIP + ":3478"
	links := &membership.ICELinks{Config: func() ice.Config {
		user, pass := ice.RelayCredentials(s.key, id.Public(), time.Now().Add(time.Hour))
		return ice.Config{Transport: transport.Config{Identity: id, MaxFrameBytes: max(transport.DefaultMaxFrameBytes, 2*s.cfg.MaxPayload)},
			STUN: []string{relay}, TURN: []ice.TURNServer{{Addr: relay, Username: user, Password: pass}},
			Net: nt, Metrics: &s.ice, Logger: quiet()}
	}}
	node, err := membership.New(membership.Config{Transport: tr, Seed: uint64(s.cfg.Seed)*1000 + uint64(i) + 1, BehindNAT: behind, ICE: links})
	if err != nil {
		tr.Close()
		return nil, err
	}
	n := &natNode{idx: i, node: node, ip: ip, sub: node.Subscribe(benchTopic), done: make(chan struct{})}
	go s.read(n)
	return n, nil
}

// read reports every delivery of node n to the harness.
func (s *PlumviewNAT) read(n *natNode) {
	defer close(n.done)
	pvRead(n.sub, n.idx, s.cfg.Deliver, &s.lagged)
}

// Join implements harness.System: every node joins through node 0, at
// once or paced (harness.Config.JoinRate).
func (s *PlumviewNAT) Join(ctx context.Context) error {
	nodes := make([]*membership.Node, len(s.nodes))
	for i, n := range s.nodes {
		nodes[i] = n.node
	}
	return pvJoin(ctx, s.cfg, nodes)
}

// Converged implements harness.System: every live node's member list
// holds every live node as alive, and every node behind a NAT is known
// with its rendezvous.
func (s *PlumviewNAT) Converged() (bool, string) {
	return pvConverged(len(s.nodes), func(i int) *membership.Node { return s.nodes[i].node },
		func(i int) bool { return s.nodes[i].killed.Load() },
		func(obs, target int, m membership.Member) string {
			if s.nat != nil && target%2 == 1 && m.Rendezvous == 0 {
				return fmt.Sprintf("node %d knows no rendezvous of node %d", obs, target)
			}
			return ""
		})
}

// Broadcast implements harness.System: the id travels as the payload's
// first 8 bytes.
func (s *PlumviewNAT) Broadcast(from int, id uint64, payload []byte) error {
	return pvBroadcast(s.nodes[from].node, id, payload)
}

// BytesSent implements harness.System.
func (s *PlumviewNAT) BytesSent() uint64 { return s.bytes.Load() }

// Kill implements harness.Membership: the node's frames and datagrams
// are dropped from then on (a crash: no close reaches anyone), then the
// node is closed.
func (s *PlumviewNAT) Kill(node int) error {
	n := s.nodes[node]
	if n.killed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	s.dead[n.ip] = true
	s.mu.Unlock()
	s.overlay.Crash(fmt.Sprintf("node%d", node))
	err := n.node.Close()
	<-n.done
	return err
}

// Sees implements harness.Membership: each target is in observer's member
// list as alive or suspect.
func (s *PlumviewNAT) Sees(observer int, targets []int) []bool {
	return pvSees(s.nodes[observer].node, len(targets), func(i int) *membership.Node { return s.nodes[targets[i]].node })
}

// Stop implements harness.System.
func (s *PlumviewNAT) Stop() error {
	errs := pvStopAll(len(s.nodes), s.Kill)
	s.nodes = nil
	if s.relay != nil {
		errs = append(errs, s.relay.Close())
	}
	if s.wan != nil {
		errs = append(errs, s.wan.Stop())
	}
	return errors.Join(errs...)
}

// natName names a NAT type as RFC 4787 does.
func natName(t *vnet.NATType) string {
	switch {
	case t.MappingBehavior == vnet.EndpointIndependent && t.FilteringBehavior == vnet.EndpointAddrPortDependent:
		return "port-restricted cone: endpoint-independent mapping, address-and-port-dependent filtering"
	case t.MappingBehavior == vnet.EndpointAddrPortDependent && t.FilteringBehavior == vnet.EndpointAddrPortDependent:
		return "symmetric: address-and-port-dependent mapping and filtering"
	}
	return fmt.Sprintf("mapping %v, filtering %v", t.MappingBehavior, t.FilteringBehavior)
}
