package membership

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v2/vnet"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// iceWorld is pion's virtual internet for the ICE side of the test: a
// STUN/TURN relay on a public address and two nodes, each behind a
// port-restricted NAT of its own (RFC 4787: endpoint-independent mapping,
// address-and-port-dependent filtering), so that neither can be reached
// unasked and a direct path exists once both have punched.
type iceWorld struct {
	nets  []*vnet.Net
	relay string
	key   []byte
}

func quietLogs() logging.LoggerFactory {
	return &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled, ScopeLevels: map[string]logging.LogLevel{}}
}

func newICEWorld(t *testing.T) *iceWorld {
	t.Helper()
	return newICEWorldBehind(t, &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent})
}

// newICEWorldBehind is newICEWorld with both nodes behind NATs of type
// nat.
func newICEWorldBehind(t *testing.T, nat *vnet.NATType) *iceWorld {
	t.Helper()
	return newICEWorldOf(t, nat, nat)
}

// newICEWorldOf is a virtual internet with a site per NAT type given:
// site i's node behind a NAT of its own of type nats[i], or on a public
// address of the internet for nil.
func newICEWorldOf(t *testing.T, nats ...*vnet.NATType) *iceWorld {
	t.Helper()
	// Run last, after the nodes and the network have stopped: let a
	// minute of virtual time pass, so that a TURN transaction that pion's
	// client began as its agent was closing (a channel bind started by a
	// write) finishes its retransmissions. Time stands still in the
	// bubble once the test's function returns, and a goroutine still
	// waiting then would fail the test as a deadlock.
	t.Cleanup(func() { time.Sleep(time.Minute) })
	const relayIP = "1.2.3.4"
	w := &iceWorld{relay: relayIP + ":3478", nets: make([]*vnet.Net, len(nats))}
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", MinDelay: 20 * time.Millisecond, LoggerFactory: quietLogs()})
	require.NoError(t, err)
	relayNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{relayIP}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(relayNet))
	for i, nat := range nats {
		public := fmt.Sprintf("%d.1.1.1", 27+i)
		if nat == nil {
			w.nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{public}})
			require.NoError(t, err)
			require.NoError(t, wan.AddNet(w.nets[i]))
			continue
		}
		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs: []string{public}, CIDR: fmt.Sprintf("10.%d.0.0/24", i), LoggerFactory: quietLogs(),
			NATType: nat,
		})
		require.NoError(t, err)
		w.nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.%d.0.2", i)}})
		require.NoError(t, err)
		require.NoError(t, lan.AddNet(w.nets[i]))
		require.NoError(t, wan.AddRouter(lan))
	}
	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })
	ca, err := transport.ClusterCAFromSecret([]byte("a cluster secret of enough bytes"))
	require.NoError(t, err)
	w.key, err = ice.RelayKey(ca)
	require.NoError(t, err)
	sock, err := relayNet.ListenPacket("udp4", w.relay)
	require.NoError(t, err)
	relay, err := ice.StartRelay(ice.RelayConfig{PacketConn: sock, RelayIP: net.ParseIP(relayIP), RelayBind: relayIP, Net: relayNet, Key: w.key})
	require.NoError(t, err)
	t.Cleanup(func() { _ = relay.Close() })
	return w
}

// config returns the ICE configuration of site i's node with identity id.
func (w *iceWorld) config(i int, id transport.Identity, m *ice.Metrics) ice.Config {
	user, pass := ice.RelayCredentials(w.key, id.Public(), time.Now().Add(time.Hour))
	return ice.Config{
		Transport: transport.Config{Identity: id},
		STUN:      []string{w.relay},
		TURN:      []ice.TURNServer{{Addr: w.relay, Username: user, Password: pass}},
		Net:       w.nets[i],
		Metrics:   m,
	}
}

// TestICEThroughTheOverlay: two nodes behind NATs (Config.BehindNAT; on
// the overlay's network too, where nobody can dial them) join a public
// one, which both name as their rendezvous in their signed records; one
// connects to the other with ConnectICE, the other answers with
// AcceptICE, and they get a direct ICE link through their NATs. Every
// signal of the negotiation crossed the overlay through the rendezvous:
// none went from one node behind a NAT to the other. The cluster stays
// whole meanwhile: every node lists every other alive.
func TestICEThroughTheOverlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		overlay := transport.NewMemNetwork(1)
		var mu sync.Mutex
		signals := map[string]int{} // "from>to" → Signal frames
		overlay.SetHook(func(from, to string, frame []byte) bool {
			if len(frame) > 1 && frame[1] == gossip.TagSignal {
				mu.Lock()
				signals[from+">"+to]++
				mu.Unlock()
			}
			return true
		})
		var nodes []*Node
		var ids []transport.Identity
		for i, name := range []string{"r", "a", "b"} {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			tr, err := overlay.Listen(name, id, transport.MemConfig{BehindNAT: name != "r"})
			require.NoError(t, err)
			cfg := testConfig(tr, uint64(i+1))
			cfg.BehindNAT = name != "r"
			nd, err := New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = nd.Close() })
			nodes, ids = append(nodes, nd), append(ids, id)
		}
		r, a, b := nodes[0], nodes[1], nodes[2]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, r.Join(ctx))
		require.NoError(t, a.Join(ctx, r.Addr()))
		require.NoError(t, b.Join(ctx, r.Addr()))
		named := func(at, of *Node) bool {
			for _, m := range at.Members() {
				if m.ID == of.ID() {
					return m.Rendezvous == r.ID() && m.Unreachable
				}
			}
			return false
		}
		waitFor(t, 30*time.Second, "each node behind a NAT is known everywhere with r as its rendezvous", func() bool {
			return named(a, b) && named(b, a) && named(r, a) && named(r, b)
		})
		for _, m := range a.Members() {
			if m.ID == r.ID() {
				require.Zero(t, m.Rendezvous, "the public node names none")
				require.False(t, m.Unreachable)
			}
		}

		w := newICEWorld(t)
		ma, mb := &ice.Metrics{}, &ice.Metrics{}
		accepted := make(chan result, 1)
		go func() {
			l, err := b.AcceptICE(ctx, w.config(1, ids[2], mb))
			accepted <- result{l, err}
		}()
		la, err := a.ConnectICE(ctx, b.ID(), w.config(0, ids[1], ma))
		require.NoError(t, err)
		rb := <-accepted
		require.NoError(t, rb.err)
		lb := rb.l
		t.Cleanup(func() {
			_ = la.Close("test over")
			<-la.Released()
			<-lb.Released()
		})
		require.Equal(t, ice.PathSrflx, la.Path().Kind(), "a direct path through both NATs: %v", la.Path())
		require.Equal(t, ice.PathSrflx, lb.Path().Kind(), "%v", lb.Path())
		require.Equal(t, int64(1), ma.HolePunchSuccesses.Load())
		t.Logf("a: %v in %v; b: %v in %v", la.Path(), la.Elapsed(), lb.Path(), lb.Elapsed())

		require.NoError(t, la.Send([]byte("through the NATs")))
		f, err := lb.Receive(ctx)
		require.NoError(t, err)
		require.Equal(t, "through the NATs", string(f))
		require.NoError(t, lb.Send([]byte("and back")))
		f, err = la.Receive(ctx)
		require.NoError(t, err)
		require.Equal(t, "and back", string(f))

		require.True(t, allSee(nodes, nodes, StateAlive), "every node lists every other alive")
		time.Sleep(time.Second) // a signal sent as the link came up is delivered
		mu.Lock()
		defer mu.Unlock()
		t.Logf("signal frames: %v", signals)
		require.Zero(t, signals["a>b"]+signals["b>a"], "no signal between the two nodes behind NATs")
		require.Positive(t, signals["a>r"])
		require.Positive(t, signals["b>r"])
		require.Equal(t, signals["a>r"], signals["r>b"], "r relayed every signal of a to b")
		require.Equal(t, signals["b>r"], signals["r>a"], "and every signal of b to a")
		var relayed uint64
		require.NoError(t, r.call(ctx, func() { relayed = r.st.eng.Counters().Engine.SignalsRelayed }))
		require.Equal(t, uint64(signals["a>r"]+signals["b>r"]), relayed)
	})
}

type result struct {
	l   *ice.Link
	err error
}

// TestICEMisuse: an ICE configuration under another identity is refused,
// so is a member the node does not know, and AcceptICE with nobody
// calling ends with its context.
func TestICEMisuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		overlay := transport.NewMemNetwork(1)
		id, err := transport.GenerateIdentity()
		require.NoError(t, err)
		tr, err := overlay.Listen("n", id, transport.MemConfig{})
		require.NoError(t, err)
		nd, err := New(testConfig(tr, 1))
		require.NoError(t, err)
		defer nd.Close()
		other, err := transport.GenerateIdentity()
		require.NoError(t, err)
		ctx := context.Background()
		_, err = nd.ConnectICE(ctx, 42, ice.Config{Transport: transport.Config{Identity: other}})
		require.ErrorIs(t, err, ErrICEIdentity)
		_, err = nd.AcceptICE(ctx, ice.Config{Transport: transport.Config{Identity: other}})
		require.ErrorIs(t, err, ErrICEIdentity)
		_, err = nd.ConnectICE(ctx, 42, ice.Config{Transport: transport.Config{Identity: id}})
		require.ErrorIs(t, err, ErrUnknownPeer)
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err = nd.AcceptICE(short, ice.Config{Transport: transport.Config{Identity: id}})
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

// TestOnlyCredentialsStartAnAttempt: a signal of another member that is
// not the credentials every attempt begins with (a late signal of an
// attempt that ended) starts no attempt for AcceptICE; credentials do.
func TestOnlyCredentialsStartAnAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		overlay := transport.NewMemNetwork(1)
		var nodes []*Node
		for i := range 2 {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			tr, err := overlay.Listen(fmt.Sprint("n", i), id, transport.MemConfig{})
			require.NoError(t, err)
			nd, err := New(testConfig(tr, uint64(i+1)))
			require.NoError(t, err)
			t.Cleanup(func() { _ = nd.Close() })
			nodes = append(nodes, nd)
		}
		ctx := context.Background()
		require.NoError(t, nodes[0].Join(ctx))
		require.NoError(t, nodes[1].Join(ctx, nodes[0].Addr()))
		waitFor(t, 30*time.Second, "both listed", func() bool { return allSee(nodes, nodes, StateAlive) })
		send := func(s ice.Signal, session uint64) {
			b, err := s.MarshalBinary()
			require.NoError(t, err)
			require.NoError(t, nodes[1].call(ctx, func() {
				nodes[1].step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) {
					require.NoError(t, e.SendSignal(now, peer.ID(nodes[0].ID()), session, b, rd))
				})
			}))
		}
		incoming := func() int {
			n := 0
			require.NoError(t, nodes[0].call(ctx, func() { n = len(nodes[0].st.incoming) }))
			return n
		}
		send(ice.Signal{Kind: ice.SignalReady}, 5)
		send(ice.Signal{Kind: ice.SignalEndOfCandidates}, 5)
		waitFor(t, 10*time.Second, "the late signals arrive", func() bool {
			var got uint64
			require.NoError(t, nodes[0].call(ctx, func() { got = nodes[0].st.eng.Counters().Engine.SignalsReceived }))
			return got == 2
		})
		require.Zero(t, incoming(), "late signals start nothing")
		send(ice.Signal{Kind: ice.SignalCredentials, Ufrag: "abcd", Pwd: "abcdefghijklmnopqrstuvwxyz"}, 6)
		send(ice.Signal{Kind: ice.SignalReady}, 6)
		waitFor(t, 10*time.Second, "an attempt waits with its two signals", func() bool {
			got := 0
			require.NoError(t, nodes[0].call(ctx, func() {
				if o := nodes[0].st.signals[signalKey{peer.ID(nodes[1].ID()), 6}]; o != nil {
					got = len(o.in)
				}
			}))
			return got == 2
		})
		require.Equal(t, 1, incoming())
	})
}
