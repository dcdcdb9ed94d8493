package membership

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/transport"
	"github.com/plumview/plumview/wire"
)

// askLink has from send to a HyParView NEIGHBOR request of low priority,
// outside its core's own repairs.
func askLink(from, to *Node, nonce uint64) {
	from.post(func() {
		from.send(hyparview.Peer{ID: to.self.ID, Addr: to.Addr()},
			&hyparview.Neighbor{Priority: hyparview.PriorityLow, Addr: from.Addr(), Nonce: nonce})
	})
}

// A low-priority NEIGHBOR request to a full node travels as a datagram
// and is refused by one: no connection is opened either way, where each
// such request used to cost a handshake (in an idle 64-node cluster, 257
// to 306 refusals in 20 s, three quarters of the connections opened).
func TestRefusedLinkRequestOpensNoConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemClusterWith(t, 2, func(cfg *Config) { cfg.Protocol.HyParView.ActiveViewSize = 1 })
		c.joinAll()
		full := c.nodes[0]
		waitFor(t, 10*time.Second, "the one slot filled", func() bool { a, _ := full.Views(); return len(a) == 1 })
		asker := listenMemNode(t, c.net, "asker", transport.MemConfig{})
		refused := full.Counters().HyParView.NeighborRequestsRefused
		fullAccepts, askerAccepts, askerReceived := full.tr.Stats().Accepts, asker.tr.Stats().Accepts, asker.tr.Stats().DatagramsReceived
		askLink(asker, full, 5)
		time.Sleep(time.Second) // past the fallback's wait
		synctest.Wait()
		assert.Equal(t, refused+1, full.Counters().HyParView.NeighborRequestsRefused, "the full node refused")
		assert.Equal(t, askerReceived+1, asker.tr.Stats().DatagramsReceived, "the refusal came as a datagram")
		assert.Equal(t, fullAccepts, full.tr.Stats().Accepts, "the request opened no connection")
		assert.Equal(t, askerAccepts, asker.tr.Stats().Accepts, "nor did the refusal")
	})
}

// A request that is accepted is answered over a connection the acceptor
// opens: the link lives on it, and the reply and what follows on the link
// arrive in order. The asker's core, which asked nothing (the request
// came from outside it), undoes the link with a DISCONNECT over the same
// connection, and the acceptor drops it. (Virtual time: the acceptor,
// alone again, asks the asker for a link of its own later, at its next
// repair.)
func TestAcceptedLinkRequestLivesOnTheAcceptorsConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		acceptor, asker := listenMemNode(t, net, "acceptor", transport.MemConfig{}), listenMemNode(t, net, "asker", transport.MemConfig{})
		require.NoError(t, acceptor.Join(context.Background()))
		askLink(asker, acceptor, 5)
		time.Sleep(100 * time.Millisecond) // less than the acceptor's next repair
		synctest.Wait()
		assert.Equal(t, uint64(1), acceptor.Counters().HyParView.NeighborRequestsGranted, "the acceptor granted the link")
		assert.Equal(t, int64(1), asker.tr.Stats().Accepts, "the acceptor dialled the asker to answer")
		assert.Zero(t, acceptor.tr.Stats().Accepts, "the asker dialled nothing")
		assert.Zero(t, asker.tr.Stats().DatagramsReceived, "the acceptance came over the connection")
		assert.Equal(t, uint64(1), asker.Counters().HyParView.StaleReplies, "the asker's core had asked nothing")
		active, _ := acceptor.Views()
		assert.Empty(t, active, "the DISCONNECT came over the acceptor's connection")
	})
}

// In a cluster of this version, whose nodes have three slots each, nodes
// short of neighbours are refused by full peers often: every refusal
// comes back as a datagram and ends the request, which is not sent again
// over a connection. (A request is sent again,
// rarely, when its answer is lost: an acceptance sent over a connection
// the asker had just closed, before the acceptor noticed. One in about ten
// runs has one such retry; without the refusals ending their requests,
// nearly every refused request was sent again.)
func TestRefusedLinkRequestsAreNotSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, sink := inmemMetrics(t)
		c := newMemClusterWith(t, 10, func(cfg *Config) {
			cfg.Protocol.HyParView.ActiveViewSize = 3
			cfg.Metrics = m
		})
		c.joinAll()
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		var refused uint64
		for _, nd := range c.nodes {
			refused += nd.Counters().HyParView.NeighborRequestsRejected
		}
		require.GreaterOrEqual(t, refused, uint64(30), "requests were refused")
		fallbacks := 0.0
		if cv, ok := lastInterval(t, sink).Counters["test."+mDatagramsFallbacks]; ok {
			fallbacks = cv.Sum
		}
		assert.LessOrEqual(t, fallbacks, float64(refused)/10, "requests sent again over a connection, of %d refused", refused)
	})
}

// linkPair is a node whose core asks one peer for a link with low
// priority: asker, with two slots and one neighbour (seed), learns of
// target, a lone node with free slots, from a shuffle's reply and asks it
// at its next shuffle tick. The network's hook sees every low-priority
// NEIGHBOR and NeighborReply between the two and may drop it.
type linkPair struct {
	seed, asker, target *Node
	sink                *metrics.InmemSink
	mu                  sync.Mutex
	requests, replies   int // seen from asker to target, target to asker
}

func newLinkPair(t *testing.T, targetSlots int, drop func(p *linkPair, msg gossip.Message) bool) *linkPair {
	t.Helper()
	lp := &linkPair{}
	net := transport.NewMemNetwork(1)
	codec, err := gossip.NewCodec(wire.Limits{})
	require.NoError(t, err)
	net.SetHook(func(from, to string, frame []byte) bool {
		m, err := codec.Decode(frame)
		if err != nil {
			return true
		}
		lp.mu.Lock()
		defer lp.mu.Unlock()
		switch msg := m.(type) {
		case *hyparview.Neighbor:
			if from != "asker" || to != "target" || msg.Priority != hyparview.PriorityLow {
				return true
			}
			lp.requests++
		case *hyparview.NeighborReply:
			if from != "target" || to != "asker" {
				return true
			}
			lp.replies++
		default:
			return true
		}
		return drop == nil || !drop(lp, m)
	})
	mets, sink := inmemMetrics(t)
	lp.sink = sink
	// Every node ticks at the full period (no early ticks, hyparview/doc.go,
	// deviation 14): otherwise the young seed's and target's shuffles,
	// repairs and refreshes may link them with the asker before its own
	// tick asks target, and an early tick of the asker asks target again
	// within the test's second.
	start := func(name string, configure func(*Config)) *Node {
		return listenMemNodeWith(t, net, name, transport.MemConfig{}, func(cfg *Config) {
			cfg.Protocol.HyParView.WithoutEarlyTicks = true
			if configure != nil {
				configure(cfg)
			}
		})
	}
	lp.seed = start("seed", nil)
	lp.asker = start("asker", func(cfg *Config) {
		cfg.Protocol.HyParView.ActiveViewSize = 2
		cfg.Protocol.HyParView.WithoutRefresh = true // its tick asks target, nothing else
		cfg.Metrics = mets
	})
	lp.target = start("target", func(cfg *Config) { cfg.Protocol.HyParView.ActiveViewSize = targetSlots })
	ctx := context.Background()
	require.NoError(t, lp.seed.Join(ctx))
	require.NoError(t, lp.asker.Join(ctx, lp.seed.Addr()))
	require.NoError(t, lp.target.Join(ctx))
	if targetSlots == 1 { // fill the target's one slot
		other := start("other", nil)
		require.NoError(t, other.Join(ctx, lp.target.Addr()))
		waitFor(t, 10*time.Second, "the target full", func() bool { a, _ := lp.target.Views(); return len(a) == 1 })
	}
	tp := hyparview.Peer{ID: lp.target.self.ID, Addr: lp.target.Addr()}
	lp.asker.post(func() {
		lp.asker.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) {
			e.Receive(now, lp.seed.self.ID, &hyparview.ShuffleReply{Peers: []hyparview.Peer{tp}}, rd)
		})
	})
	return lp
}

func (lp *linkPair) seen() (requests, replies int) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.requests, lp.replies
}

func (lp *linkPair) fallbacks(t *testing.T) float64 {
	if cv, ok := lastInterval(t, lp.sink).Counters["test."+mDatagramsFallbacks]; ok {
		return cv.Sum
	}
	return 0
}

// askerLinked reports whether the asker holds the target as a neighbour.
func (lp *linkPair) askerLinked() bool {
	a, _ := lp.asker.Views()
	for _, id := range a {
		if id == lp.target.ID() {
			return true
		}
	}
	return false
}

// A request the core makes goes as a datagram; when its answer is lost
// (a datagram dropped, or an agent of the version before, which drops the
// request unread), it goes again over a connection at its timeout and is
// answered there; a peer whose refusal came only that way is asked over
// connections for a while (an acceptance comes over a connection anyway);
// the core sees no timeout either way.
func TestLinkRequestsFromTheCore(t *testing.T) {
	firstOnly := func(kind string) func(p *linkPair, m gossip.Message) bool {
		return func(p *linkPair, m gossip.Message) bool {
			switch m.(type) {
			case *hyparview.Neighbor:
				return kind == "request" && p.requests == 1
			case *hyparview.NeighborReply:
				return kind == "reply" && p.replies == 1
			}
			return false
		}
	}
	for _, tc := range []struct {
		name                   string
		targetSlots            int
		drop                   func(p *linkPair, m gossip.Message) bool
		wantRequests           int
		wantFallbacks          float64
		wantLinked, overConnes bool
	}{
		{"accepted: the datagram alone", 5, nil, 1, 0, true, false},
		{"refused: the datagram alone", 1, nil, 1, 0, false, false},
		{"the request dropped: again over a connection", 5, firstOnly("request"), 2, 1, true, false},
		{"the refusal dropped: again over a connection", 1, firstOnly("reply"), 2, 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lp := newLinkPair(t, tc.targetSlots, tc.drop)
				waitFor(t, 30*time.Second, "the request answered", func() bool {
					hv := lp.asker.Counters().HyParView
					return hv.NeighborRequestsAccepted+hv.NeighborRequestsRejected+hv.NeighborRequestsTimedOut > 0
				})
				time.Sleep(time.Second)
				synctest.Wait()
				hv := lp.asker.Counters().HyParView
				assert.Zero(t, hv.NeighborRequestsTimedOut, "no timeout")
				requests, _ := lp.seen()
				assert.Equal(t, tc.wantRequests, requests, "requests from the asker to the target")
				assert.Equal(t, tc.wantFallbacks, lp.fallbacks(t), "sent again over a connection")
				assert.Equal(t, tc.wantLinked, lp.askerLinked(), "linked")
				over := make(chan bool)
				lp.asker.post(func() { over <- lp.asker.askOverConnection(lp.target.self.ID) })
				assert.Equal(t, tc.overConnes, <-over, "asked over connections from now on")
			})
		})
	}
}

// A request the core has given up on before its timeout (here: the
// connection to the peer failed) is not sent again when the timeout
// falls due.
func TestLinkRequestGivenUpIsNotSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lp := newLinkPair(t, 5, func(p *linkPair, m gossip.Message) bool {
			_, req := m.(*hyparview.Neighbor)
			return req // never answered
		})
		waitFor(t, 30*time.Second, "the request sent", func() bool { r, _ := lp.seen(); return r == 1 })
		target := lp.target.self.ID
		lp.asker.post(func() {
			lp.asker.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.ConnectionFailed(now, target, rd) })
		})
		time.Sleep(5 * time.Second) // past the request's timeout
		synctest.Wait()
		requests, _ := lp.seen()
		assert.Equal(t, 1, requests, "not sent again")
		assert.Zero(t, lp.fallbacks(t))
	})
}

// A NEIGHBOR datagram that names another address than the one it came
// from is dropped and counted: the acceptor would dial that address.
func TestLinkDatagramNamingAnotherAddressIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		m, sink := inmemMetrics(t)
		acceptor := listenMemNodeWith(t, net, "acceptor", transport.MemConfig{}, func(cfg *Config) { cfg.Metrics = m })
		require.NoError(t, acceptor.Join(context.Background()))
		asker := listenMemNode(t, net, "asker", transport.MemConfig{})
		key, _, err := parseAddr(asker.Addr())
		require.NoError(t, err)
		elsewhere := formatAddr(key, "victim")
		asker.post(func() {
			asker.send(hyparview.Peer{ID: acceptor.self.ID, Addr: acceptor.Addr()},
				&hyparview.Neighbor{Priority: hyparview.PriorityLow, Addr: elsewhere, Nonce: 5})
		})
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Zero(t, acceptor.Counters().HyParView.NeighborRequestsGranted, "not handled")
		assert.Zero(t, acceptor.tr.Stats().Dials, "nothing dialled")
		refused := 0.0
		if cv, ok := lastInterval(t, sink).Counters["test."+mDatagramsRefused]; ok {
			refused = cv.Sum
		}
		assert.Equal(t, 1.0, refused, "counted")
	})
}

// A node behind a NAT asks for links over connections it dials: an
// acceptor could not dial it to answer. So does a node that checks its
// reachability and has not yet found it can be dialled.
func TestLinkRequestFromBehindANATGoesOverAConnection(t *testing.T) {
	for _, tc := range []string{"told", "not yet checked", "found"} {
		t.Run(tc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				net := transport.NewMemNetwork(1)
				start := func(name string, natted bool) *Node {
					return listenMemNodeWith(t, net, name, transport.MemConfig{BehindNAT: natted}, func(cfg *Config) {
						cfg.BehindNAT = natted && tc == "told"
						cfg.CheckReachability = natted && tc != "told"
					})
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				natted := start("natted", true)
				if tc == "found" {
					seed, other := start("seed", false), start("other", false)
					require.NoError(t, seed.Join(ctx))
					require.NoError(t, natted.Join(ctx, seed.Addr()))
					require.NoError(t, other.Join(ctx, seed.Addr()))
					waitFor(t, 30*time.Second, "the natted node knows it cannot be dialled", func() bool {
						_, unreachable := natted.OwnRendezvous()
						return unreachable
					})
				} else {
					require.NoError(t, natted.Join(ctx)) // alone: no neighbour to check with
				}
				late := start("late", false) // no connection to it yet
				askLink(natted, late, 5)
				synctest.Wait() // the request handled, before the new member's first probes
				assert.Zero(t, late.tr.Stats().DatagramsReceived, "no datagram")
				assert.Equal(t, int64(1), late.tr.Stats().Accepts, "the request came over the natted node's connection")
				assert.Equal(t, uint64(1), late.Counters().HyParView.NeighborRequestsGranted)
			})
		})
	}
}

// A peer asked over connections after its refusal came only over one is
// asked by datagram again once it sends a link datagram itself, or after
// linksOverConnsFor.
func TestAskedOverConnectionsForAWhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		a := listenMemNode(t, net, "a", transport.MemConfig{})
		b := listenMemNode(t, net, "b", transport.MemConfig{})
		ask := func() bool {
			r := make(chan bool)
			a.post(func() { r <- a.askOverConnection(b.self.ID) })
			return <-r
		}
		mark := func() { a.post(func() { a.st.dgram.linksOverConns[b.self.ID] = time.Now() }) }
		mark()
		require.True(t, ask())
		time.Sleep(linksOverConnsFor)
		assert.False(t, ask(), "expired")
		mark()
		askLink(b, a, 9) // b sends a link request datagram
		synctest.Wait()
		assert.False(t, ask(), "cleared by b's own link datagram")
	})
}

// A request whose retry's dial fails (the peer is gone) leaves nothing
// behind: the failure ends the request.
func TestLinkRequestForgottenWhenItsDialFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lp := newLinkPair(t, 5, func(p *linkPair, m gossip.Message) bool {
			_, req := m.(*hyparview.Neighbor)
			return req // never answered
		})
		waitFor(t, 30*time.Second, "the request sent", func() bool { r, _ := lp.seen(); return r == 1 })
		require.NoError(t, lp.target.Close())
		time.Sleep(10 * time.Second) // the timeout, the retry, its failed dial
		synctest.Wait()
		left := make(chan int)
		lp.asker.post(func() { left <- len(lp.asker.st.dgram.asked) })
		assert.Zero(t, <-left)
	})
}

// Which addresses a request datagram may name, and which source
// addresses match them.
func TestLinkDatagramAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr string
		byIP bool
	}{
		{"127.0.0.1:7946", true},
		{"[::1]:7946", true},
		{"[fe80::1%eth0]:7946", true},
		{"node3", true}, // the in-memory network's names carry no port
		{"localhost:7946", false},
		{"gossip-0.gossip.svc:7946", false},
	} {
		assert.Equal(t, tc.byIP, addressedByIP(tc.addr), tc.addr)
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"127.0.0.1:7946", "127.0.0.1:7946", true},
		{"127.0.0.1:7946", "[::ffff:127.0.0.1]:7946", true},
		{"[fe80::1]:7946", "[fe80::1%eth0]:7946", true},
		{"127.0.0.1:7946", "127.0.0.1:7947", false},
		{"127.0.0.1:7946", "127.0.0.2:7946", false},
		{"localhost:7946", "127.0.0.1:7946", false},
		{"node3", "node3", true},
	} {
		assert.Equal(t, tc.same, sameAddr(tc.a, tc.b), "%s %s", tc.a, tc.b)
	}
}
