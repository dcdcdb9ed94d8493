package membership

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/pion/transport/v2/vnet"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/transport"
)

// natCluster is a public node r and two nodes a and b behind NATs
// (Config.BehindNAT; MemConfig.BehindNAT on the overlay's network, where
// nobody can dial them), all with Config.ICE over iceWorld's virtual
// internet, a and b each behind a port-restricted NAT. frames counts the
// overlay network's frames by "from>to".
type natCluster struct {
	r, a, b *Node
	mu      sync.Mutex
	frames  map[string]int
}

func newNATCluster(t *testing.T, nat *vnet.NATType, configure func(i int, c *Config)) *natCluster {
	t.Helper()
	w := newICEWorld(t)
	if nat != nil {
		w = newICEWorldBehind(t, nat)
	}
	overlay := transport.NewMemNetwork(1)
	c := &natCluster{frames: map[string]int{}}
	overlay.SetHook(func(from, to string, frame []byte) bool {
		c.mu.Lock()
		c.frames[from+">"+to]++
		c.mu.Unlock()
		return true
	})
	var nodes []*Node
	for i, name := range []string{"r", "a", "b"} {
		id, err := transport.GenerateIdentity()
		require.NoError(t, err)
		tr, err := overlay.Listen(name, id, transport.MemConfig{BehindNAT: name != "r"})
		require.NoError(t, err)
		cfg := testConfig(tr, uint64(i+1))
		cfg.BehindNAT = name != "r"
		if testing.Verbose() {
			cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel)).Named(name)
		}
		site := max(i-1, 0) // r gathers on a's site: it never negotiates here
		cfg.ICE = &ICELinks{Config: func() ice.Config { return w.config(site, id, &ice.Metrics{}) }}
		if configure != nil {
			configure(i, &cfg)
		}
		nd, err := New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = nd.Close() })
		nodes = append(nodes, nd)
	}
	c.r, c.a, c.b = nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, c.r.Join(ctx))
	require.NoError(t, c.a.Join(ctx, c.r.Addr()))
	require.NoError(t, c.b.Join(ctx, c.r.Addr()))
	return c
}

// path returns how at reaches neighbour of ("" if of is not its active
// neighbour).
func path(at, of *Node) string {
	for _, p := range at.Paths() {
		if p.ID == of.ID() {
			return p.Kind
		}
	}
	return ""
}

// TestHyParViewOverICE: two nodes behind NATs, which no member can dial,
// become active neighbours of each other over an ICE link through both
// NATs (hole-punched: srflx at both ends), negotiated through the public
// node, their rendezvous; a broadcast from each reaches every node once;
// no frame crossed the overlay's network between the two.
func TestHyParViewOverICE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newNATCluster(t, nil, nil)
		nodes := []*Node{c.r, c.a, c.b}
		waitFor(t, time.Minute, "a and b neighbours over a punched ICE link", func() bool {
			return path(c.a, c.b) == "srflx" && path(c.b, c.a) == "srflx"
		})
		require.Equal(t, "direct", path(c.a, c.r))
		require.Equal(t, "direct", path(c.r, c.b))
		waitFor(t, 30*time.Second, "every node lists every other alive", func() bool { return allSee(nodes, nodes, StateAlive) })

		subs := make([]*Subscription, len(nodes))
		for i, nd := range nodes {
			subs[i] = nd.Subscribe("t")
			defer subs[i].Close()
		}
		ctx := context.Background()
		for i, nd := range nodes {
			_, err := nd.Broadcast(ctx, "t", fmt.Appendf(nil, "from %d", i))
			require.NoError(t, err)
		}
		for _, s := range subs {
			got := receiveN(t, s, len(nodes), 30*time.Second)
			require.Equal(t, map[string]int{"t/from 0": 1, "t/from 1": 1, "t/from 2": 1}, got)
		}
		time.Sleep(5 * time.Second) // nothing more comes: each exactly once
		for _, s := range subs {
			select {
			case m := <-s.C():
				t.Fatalf("delivered again: %q", m.Payload)
			default:
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		require.Zero(t, c.frames["a>b"]+c.frames["b>a"], "nothing between a and b on the overlay's network: %v", c.frames)
	})
}

// symmetricNAT maps each destination to a port of its own (RFC 4787:
// address-and-port-dependent mapping and filtering): no hole can be
// punched between two such NATs, only a relay crosses them.
var symmetricNAT = &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}

// TestRelayedLinks: behind symmetric NATs, a and b become neighbours over
// a relayed link; with a's relay budget at none (MaxRelayed negative) a
// gathers no relayed candidate and closes the link b's relay would give
// it, counting each, and a and b never become neighbours, while the
// cluster stays whole through r.
func TestRelayedLinks(t *testing.T) {
	t.Run("within the budget", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := newNATCluster(t, symmetricNAT, nil)
			waitFor(t, time.Minute, "a and b neighbours over a relayed link", func() bool {
				return path(c.a, c.b) == "relay" && path(c.b, c.a) == "relay"
			})
		})
	})
	t.Run("budget spent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, sink := inmemMetrics(t)
			c := newNATCluster(t, symmetricNAT, func(i int, cfg *Config) {
				if i == 1 {
					cfg.ICE.MaxRelayed = -1
					cfg.Metrics = m
				}
			})
			nodes := []*Node{c.r, c.a, c.b}
			refused := func() float64 {
				if cv, ok := lastInterval(t, sink).Counters["test."+mRelayBudget]; ok {
					return cv.Sum
				}
				return 0
			}
			waitFor(t, time.Minute, "a refused a relayed link", func() bool { return refused() > 0 })
			for range 60 {
				require.Empty(t, path(c.a, c.b), "a holds no link to b")
				require.Empty(t, path(c.b, c.a))
				time.Sleep(time.Second)
			}
			require.True(t, allSee(nodes, nodes, StateAlive), "the cluster stays whole")
			t.Logf("relayed links refused in a minute: %v", refused())
		})
	})
}

// TestICELinksMisuse: Config.ICE without its Config function, with
// TrustMembers, or under another identity is refused at New; with it,
// ConnectICE and AcceptICE are the node's own.
func TestICELinksMisuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		overlay := transport.NewMemNetwork(1)
		id, err := transport.GenerateIdentity()
		require.NoError(t, err)
		other, err := transport.GenerateIdentity()
		require.NoError(t, err)
		tr, err := overlay.Listen("n", id, transport.MemConfig{})
		require.NoError(t, err)
		own := func() ice.Config { return ice.Config{Transport: transport.Config{Identity: id}} }
		for _, tc := range []struct {
			name string
			set  func(*Config)
			want string
		}{
			{"no config function", func(c *Config) { c.ICE = &ICELinks{} }, "Config.ICE.Config is required"},
			{"negative timeout", func(c *Config) { c.ICE = &ICELinks{Config: own, Timeout: -1} }, "must not be negative"},
			{"without signatures", func(c *Config) { c.ICE = &ICELinks{Config: own}; c.TrustMembers = true }, "needs signatures"},
			{"another identity", func(c *Config) {
				c.ICE = &ICELinks{Config: func() ice.Config { return ice.Config{Transport: transport.Config{Identity: other}} }}
			}, ErrICEIdentity.Error()},
		} {
			cfg := testConfig(tr, 1)
			tc.set(&cfg)
			_, err := New(cfg)
			require.ErrorContains(t, err, tc.want, tc.name)
		}
		cfg := testConfig(tr, 1)
		cfg.ICE = &ICELinks{Config: own}
		nd, err := New(cfg)
		require.NoError(t, err)
		defer nd.Close()
		ctx := context.Background()
		_, err = nd.ConnectICE(ctx, 42, own())
		require.ErrorIs(t, err, ErrICELinks)
		_, err = nd.AcceptICE(ctx, own())
		require.ErrorIs(t, err, ErrICELinks)
	})
}

// TestRelayedLinkUpgraded: a and b first link through the relay (every
// negotiation relay-only, as if no hole could be punched yet); once a
// direct path can be had, the end that began the link tries again
// without relays within UpgradeInterval and the link becomes direct at
// both ends, counted, while broadcasts go on being delivered once.
func TestRelayedLinkUpgraded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var direct atomic.Bool
		ms, sinks := [3]*metrics.Metrics{}, [3]*metrics.InmemSink{}
		c := newNATCluster(t, nil, func(i int, cfg *Config) {
			ms[i], sinks[i] = inmemMetrics(t)
			cfg.Metrics = ms[i]
			cfg.ICE.UpgradeInterval = 5 * time.Second
			own := cfg.ICE.Config
			cfg.ICE.Config = func() ice.Config {
				ic := own()
				ic.RelayOnly = !direct.Load()
				return ic
			}
		})
		waitFor(t, time.Minute, "a and b neighbours through the relay", func() bool {
			return path(c.a, c.b) == "relay" && path(c.b, c.a) == "relay"
		})
		direct.Store(true)
		waitFor(t, time.Minute, "the link upgraded to a punched one at both ends", func() bool {
			return path(c.a, c.b) == "srflx" && path(c.b, c.a) == "srflx"
		})
		upgrades := 0.0
		for _, s := range sinks {
			if cv, ok := lastInterval(t, s).Counters["test."+mICEUpgrades+";outcome=direct"]; ok {
				upgrades += cv.Sum
			}
		}
		require.Equal(t, 1.0, upgrades, "one upgrade, by the end that began the link")

		nodes := []*Node{c.r, c.a, c.b}
		subs := make([]*Subscription, len(nodes))
		for i, nd := range nodes {
			subs[i] = nd.Subscribe("t")
			defer subs[i].Close()
		}
		_, err := c.a.Broadcast(context.Background(), "t", []byte("after the upgrade"))
		require.NoError(t, err)
		for _, s := range subs {
			require.Equal(t, map[string]int{"t/after the upgrade": 1}, receiveN(t, s, 1, 30*time.Second))
		}
	})
}

// TestMixedClusterBehindNATs: a public node and five nodes behind NATs
// of every kind (full cone, address-restricted, port-restricted, two
// symmetric), every one of the five undiallable: they all join, every
// link between two nodes behind NATs is direct (punched) where the two
// NATs allow it and relayed where they do not (a symmetric NAT against a
// port-restricted or symmetric one), never missing for want of a path,
// and a broadcast from each node is delivered exactly once by every node.
func TestMixedClusterBehindNATs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nats := []*vnet.NATType{
			nil,
			{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent},
			{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrDependent},
			{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent},
			symmetricNAT,
			symmetricNAT,
		}
		names := []string{"public", "full-cone", "addr-restricted", "port-restricted", "symmetric-1", "symmetric-2"}
		w := newICEWorldOf(t, nats...)
		overlay := transport.NewMemNetwork(1)
		var nodes []*Node
		for i := range nats {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			behind := nats[i] != nil
			tr, err := overlay.Listen(names[i], id, transport.MemConfig{BehindNAT: behind})
			require.NoError(t, err)
			cfg := testConfig(tr, uint64(i+1))
			cfg.BehindNAT = behind
			cfg.ICE = &ICELinks{Config: func() ice.Config { return w.config(i, id, &ice.Metrics{}) }}
			nd, err := New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = nd.Close() })
			nodes = append(nodes, nd)
		}
		ctx := context.Background()
		require.NoError(t, nodes[0].Join(ctx))
		for _, nd := range nodes[1:] {
			require.NoError(t, nd.Join(ctx, nodes[0].Addr()))
		}
		symmetric := func(i int) bool { return i >= 4 }
		filtersByPort := func(i int) bool { return i >= 3 }
		want := func(i, j int) string {
			if symmetric(i) && filtersByPort(j) || symmetric(j) && filtersByPort(i) {
				return "relay"
			}
			return "srflx"
		}
		links := func() (srflx, relay int, wrong string) {
			for i := 1; i < len(nodes); i++ {
				for j := 1; j < len(nodes); j++ {
					got := path(nodes[i], nodes[j])
					switch {
					case i == j || got == "" || got == "none":
					case got != want(i, j):
						wrong = fmt.Sprintf("%s reaches %s by %s, want %s", names[i], names[j], got, want(i, j))
					case got == "relay":
						relay++
					default:
						srflx++
					}
				}
			}
			return srflx, relay, wrong
		}
		waitFor(t, 2*time.Minute, "every node lists every other alive, over punched and relayed links", func() bool {
			srflx, relay, wrong := links()
			require.Empty(t, wrong)
			return srflx > 0 && relay > 0 && allSee(nodes, nodes, StateAlive)
		})
		subs := make([]*Subscription, len(nodes))
		for i, nd := range nodes {
			subs[i] = nd.Subscribe("t")
			defer subs[i].Close()
		}
		wantAll := map[string]int{}
		for i, nd := range nodes {
			_, err := nd.Broadcast(ctx, "t", []byte(names[i]))
			require.NoError(t, err)
			wantAll["t/"+names[i]] = 1
		}
		for i, s := range subs {
			require.Equal(t, wantAll, receiveN(t, s, len(nodes), time.Minute), names[i])
		}
		time.Sleep(10 * time.Second)
		for i, s := range subs {
			select {
			case m := <-s.C():
				t.Fatalf("%s delivered %q again", names[i], m.Payload)
			default:
			}
		}
		srflx, relay, wrong := links()
		require.Empty(t, wrong)
		t.Logf("links between nodes behind NATs, counted at each end: %d punched, %d relayed", srflx, relay)
	})
}
