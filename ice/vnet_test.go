package ice

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v2/vnet"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// nat is the behaviour of the router in front of a node (RFC 4787 terms).
type nat int

const (
	natNone      nat = iota // the node holds a public address
	natFullCone             // endpoint-independent mapping and filtering
	natAddrRestr            // endpoint-independent mapping, address-dependent filtering
	natPortRestr            // endpoint-independent mapping, address-and-port-dependent filtering
	natSymmetric            // address-and-port-dependent mapping and filtering
)

var nats = []nat{natNone, natFullCone, natAddrRestr, natPortRestr, natSymmetric}

func (n nat) String() string {
	return [...]string{"none", "full-cone", "addr-restricted", "port-restricted", "symmetric"}[n]
}

func (n nat) vnetType() *vnet.NATType {
	switch n {
	case natFullCone:
		return &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
	case natAddrRestr:
		return &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrDependent}
	case natPortRestr:
		return &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	case natSymmetric:
		return &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	}
	return nil
}

// The virtual internet: the relay (STUN and TURN) on a public address,
// each node either on a public address or behind its own NAT router.
const (
	relayIP   = "1.2.3.4"
	relayPort = 3478
)

var sites = [2]struct{ public, private, cidr string }{
	{"27.1.1.1", "192.168.0.2", "192.168.0.0/24"},
	{"28.1.1.1", "10.2.0.2", "10.2.0.0/24"},
}

type world struct {
	wan   *vnet.Router
	nets  [2]*vnet.Net
	relay *Relay
	key   []byte // the relay credential key
	ca    ed25519.PrivateKey
}

// newWorld builds the virtual internet with nodes 0 and 1 behind a and b.
func newWorld(t *testing.T, a, b nat) *world { return newWorldDelay(t, a, b, 0) }

// newWorldDelay is newWorld with every datagram crossing the internet
// delayed by delay (one way).
func newWorldDelay(t *testing.T, a, b nat, delay time.Duration) *world {
	t.Helper()
	w := &world{}
	var err error
	w.wan, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", MinDelay: delay, LoggerFactory: silentLogger()})
	require.NoError(t, err)
	relayNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{relayIP}})
	require.NoError(t, err)
	require.NoError(t, w.wan.AddNet(relayNet))
	for i, n := range [2]nat{a, b} {
		if n == natNone {
			w.nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{sites[i].public}})
			require.NoError(t, err)
			require.NoError(t, w.wan.AddNet(w.nets[i]))
			continue
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs: []string{sites[i].public}, CIDR: sites[i].cidr,
			NATType: n.vnetType(), LoggerFactory: silentLogger(),
		})
		require.NoError(t, err)
		w.nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{sites[i].private}})
		require.NoError(t, err)
		require.NoError(t, lan.AddNet(w.nets[i]))
		require.NoError(t, w.wan.AddRouter(lan))
	}
	require.NoError(t, w.wan.Start())
	t.Cleanup(func() { _ = w.wan.Stop() })

	w.ca, err = transport.ClusterCAFromSecret([]byte("a cluster secret of enough bytes"))
	require.NoError(t, err)
	w.key, err = RelayKey(w.ca)
	require.NoError(t, err)
	sock, err := relayNet.ListenPacket("udp4", fmt.Sprintf("%s:%d", relayIP, relayPort))
	require.NoError(t, err)
	w.relay, err = StartRelay(RelayConfig{PacketConn: sock, RelayIP: net.ParseIP(relayIP), RelayBind: relayIP, Net: relayNet, Key: w.key})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.relay.Close() })
	return w
}

// node returns the configuration of node i with identity id, certified
// by the cluster CA and admitting only its members.
func (w *world) node(t *testing.T, i int, id transport.Identity, m *Metrics) Config {
	t.Helper()
	cert, err := transport.IssueCertificate(w.ca, id.Public(), time.Hour)
	require.NoError(t, err)
	id.CACert = cert
	user, pass := RelayCredentials(w.key, id.Public(), time.Now().Add(time.Hour))
	return Config{
		Transport: transport.Config{Identity: id, Admission: transport.Admission{CAKey: w.ca.Public().(ed25519.PublicKey)}},
		STUN:      []string{fmt.Sprintf("%s:%d", relayIP, relayPort)},
		TURN:      []TURNServer{{Addr: fmt.Sprintf("%s:%d", relayIP, relayPort), Username: user, Password: pass}},
		Net:       w.nets[i],
		Metrics:   m,
	}
}

// orderedIdentities returns two identities, the first the controlling one.
func orderedIdentities(t *testing.T) (transport.Identity, transport.Identity) {
	t.Helper()
	a, err := transport.GenerateIdentity()
	require.NoError(t, err)
	b, err := transport.GenerateIdentity()
	require.NoError(t, err)
	if !Controlling(a.Public(), b.Public()) {
		a, b = b, a
	}
	return a, b
}

type result struct {
	link *Link
	err  error
}

// connectPair runs Connect on both sides at once and returns both results.
func connectPair(ctx context.Context, ca, cb Config, keyA, keyB ed25519.PublicKey) (result, result) {
	return connectPairDelay(ctx, ca, cb, keyA, keyB, 0)
}

// connectPairDelay is connectPair with signalling latency delay (one way).
func connectPairDelay(ctx context.Context, ca, cb Config, keyA, keyB ed25519.PublicKey, delay time.Duration) (result, result) {
	sa, sb := NewMemSignallers()
	sa.Delay, sb.Delay = delay, delay
	ra, rb := make(chan result, 1), make(chan result, 1)
	go func() { l, err := Connect(ctx, ca, keyB, sa); ra <- result{l, err} }()
	go func() { l, err := Connect(ctx, cb, keyA, sb); rb <- result{l, err} }()
	return <-ra, <-rb
}

// closeLink closes l and waits until everything under it is released.
func closeLink(t *testing.T, l *Link) {
	t.Helper()
	if l == nil {
		return
	}
	_ = l.Close("test over")
	select {
	case <-l.Released():
	case <-time.After(10 * time.Second):
		t.Fatal("link not released 10s after Close")
	}
}
