package membership

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"go.uber.org/zap"

	"github.com/plumview/plumview/fanout"
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
	"github.com/plumview/plumview/wire"
)

// Errors returned by the Node's methods.
var (
	// ErrClosed: the node was closed, or left; from Subscription.Next and
	// Watcher.Next, the subscription ended.
	ErrClosed = errors.New("membership: node closed")
)

// Node is one member of a cluster: it joins through seeds, keeps the full
// member list, and broadcasts messages that every live member delivers
// once. Its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	tr      transport.Transport
	codec   *wire.Codec
	log     *zap.Logger
	metrics *metrics.Metrics
	self    hyparview.Peer

	inbox  chan work       // work for the state goroutine
	urgent chan func()     // work that goes before the inbox's (postUrgent)
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node started
	once   sync.Once
	done   chan struct{} // closed when the state goroutine has exited

	// iceWake holds a token while negotiations wait for AcceptICE.
	iceWake chan struct{}

	messages *fanout.Fanout[Message] // to the Subscriptions
	events   *fanout.Fanout[Event]   // to the Watchers

	st *state // owned by the state goroutine
}

// state is everything the state goroutine owns.
type state struct {
	eng   *gossip.Engine
	rd    gossip.Ready // the engine's batch being carried out
	sched *scheduler
	conns map[peer.ID]*peerConn
	dials map[peer.ID]*dial
	hooks []*messageHook // registered with OnMessage
	seeds []string       // as given to Join
	// pinned are the seeds whose key is known: the contacts the engine
	// joins through.
	pinned    []hyparview.Peer
	resolving int             // seeds being dialled to learn their keys afresh
	joined    []chan struct{} // Join calls waiting for a first neighbour
	// frames and received are the buffers of a batch of frames
	// (frames.go).
	frames   []frame
	received []gossip.Received
	// failed are peers whose connection failed while a batch was being
	// carried out; step reports them to the engine next.
	failed []peer.ID
	// frozen stops the hand-out of deliveries and gap notices
	// (FreezeDeliveries).
	frozen bool
	// leaveFlush, once Leave began, bounds the flush of each connection
	// closed from then on, instead of the transport's CloseTimeout: the
	// time left before the deadline of Leave's context (0: none).
	leaveFlush time.Duration
	// views are the OverlayViews queries waiting for answers, by nonce.
	views map[uint64]*viewsWaiter
	// engineSeen are the engine's counters as last exported
	// (sampleMetrics), in engineCounters' order.
	engineSeen []uint64
	// frameAt is when the frame being stepped came off its connection;
	// zero while stepping anything else.
	frameAt time.Time
	// dgram is what the node knows of datagrams (datagrams.go).
	dgram datagramState
	// signals are the ICE negotiations in progress, by peer and session,
	// and incoming those no AcceptICE took yet (ice.go).
	signals  map[signalKey]*overlaySignaller
	incoming []*overlaySignaller
	// answering counts the negotiations of other members being answered
	// (Config.ICE, icelinks.go).
	answering int
	// upgrading holds the peers whose relayed link is being tried again
	// for a direct path (icelinks.go).
	upgrading map[peer.ID]bool
	// dialBacks counts the dials back in progress; reachAsked is the
	// neighbour last asked to dial this node back, at reachAskedAt
	// (reach.go).
	dialBacks    int
	dialedBack   []dialBackDone // answered while a batch was carried out; step reports them next
	reachAsked   peer.ID
	reachAskedAt time.Time
}

// New starts a node on cfg.Transport. It does not contact anyone until
// Join. A bad Config is an error.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.ICE != nil && !cfg.ICE.Config().Transport.Identity.Public().Equal(cfg.Transport.PublicKey()) {
		return nil, fmt.Errorf("%w (Config.ICE.Config)", ErrICEIdentity)
	}
	cd, err := gossip.NewCodec(wire.Limits{})
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	self := peerOf(cfg.Transport.PublicKey(), cfg.Transport.Addr())
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	eng, err := gossip.New(self, cfg.Protocol, rng)
	if err == nil {
		eng.RestoreDeliveryMarks(time.Now(), cfg.DeliveryMarks)
	}
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	n := &Node{
		cfg: cfg, tr: cfg.Transport, codec: cd, log: cfg.Logger.With(zap.String("node", hexID(uint64(self.ID)))),
		metrics: cfg.Metrics, self: self, inbox: make(chan work, 256), urgent: make(chan func(), urgentQueue), done: make(chan struct{}), iceWake: make(chan struct{}, 1),
		messages: fanout.New(cfg.SubscriberBuffer, func(m Message) string { return m.Topic }),
		events:   fanout.New[Event](cfg.SubscriberBuffer, nil),
		st:       &state{eng: eng, sched: newScheduler(), conns: map[peer.ID]*peerConn{}, dials: map[peer.ID]*dial{}},
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.announceCounters()
	n.startDatagrams()
	n.wg.Add(2)
	go n.run()
	go n.acceptLoop()
	return n, nil
}

// ID returns the node's identity: transport.KeyID of its public key.
func (n *Node) ID() uint64 { return uint64(n.self.ID) }

// Addr returns the address other nodes pass to Join:
// "<base64url key>@<transport address>".
func (n *Node) Addr() string { return n.self.Addr }

// Close stops the node abruptly, as a crash would (other members detect a
// failure): it closes the transport, every subscription and watcher, and
// waits for the node's goroutines. It is idempotent.
func (n *Node) Close() error {
	n.once.Do(func() {
		n.cancel()
		_ = n.tr.Close()
		n.wg.Wait()
	})
	return nil
}

// post hands f to the state goroutine; it is dropped if the node stopped.
func (n *Node) post(f func()) bool {
	select {
	case n.inbox <- work{f: f}:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// urgentQueue bounds the urgent lane; beyond it, postUrgent waits in the
// inbox like any other work.
const urgentQueue = 64

// postUrgent hands f to the state goroutine ahead of the work queued in
// the inbox: what arrives as datagrams (the liveness probes and their
// answers, shuffle replies). Under load the inbox holds hundreds of frames of broadcast
// traffic; a probe answered only after them times out at the prober, which
// then suspects a member that is merely busy. It reports false once the
// node is closed.
func (n *Node) postUrgent(f func()) bool {
	select {
	case n.urgent <- f:
		return true
	default:
		return n.post(f)
	}
}

// call runs f on the state goroutine and waits for it, or for ctx.
func (n *Node) call(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case n.inbox <- work{f: func() { f(); close(ran) }}:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrClosed
	}
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrClosed
	}
}

// hostLagger is a transport that measures how late its process's
// goroutines run (transport.QUIC.HostLag); the in-memory network, whose
// tests run in virtual time, does not.
type hostLagger interface{ HostLag() time.Duration }

// run is the state goroutine: it serialises API calls, frames, connection
// events and timers into the engine.
func (n *Node) run() {
	defer n.wg.Done()
	defer close(n.done)
	defer n.shutdown()
	s := n.st
	var due []scheduled
	n.sampleMetrics()
	sample := time.NewTicker(n.cfg.MetricsInterval)
	defer sample.Stop()
	for {
		select { // the urgent lane first (postUrgent)
		case f := <-n.urgent:
			f()
			continue
		default:
		}
		select {
		case f := <-n.urgent:
			f()
		case w := <-n.inbox:
			if w.f != nil {
				w.f()
			} else {
				n.takeFrames(w.frame) // frames.go
			}
		case <-sample.C:
			n.sampleMetrics()
			// The process's scheduling lag, for local health (gossip's
			// health.go), where the transport measures it: a real one.
			if hl, ok := n.tr.(hostLagger); ok {
				lag := hl.HostLag()
				n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.NoteHostLag(now, lag) })
			}
			n.upgradeRelayed(time.Now())
		case <-s.sched.timer.C:
			now := time.Now()
			due = s.sched.due(now, due[:0])
			for _, t := range due {
				if n.retryLinkRequest(t) || n.holdForConnection(t) {
					continue
				}
				n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.TimerFired(now, t.timer, rd) })
			}
		case <-n.ctx.Done():
			return
		}
	}
}

// shutdown releases what the state goroutine owns once it stops.
func (n *Node) shutdown() {
	s := n.st
	s.sched.stop()
	for _, pc := range s.conns {
		_ = pc.conn.Close("node closed")
	}
	n.messages.Close()
	n.events.Close()
	s.hooks = nil
	for _, ch := range s.joined {
		close(ch)
	}
	s.joined = nil
}

// connectionFailed notes that the connection to id failed while a batch
// was being carried out (a dial that failed at once, a connection
// dropped); step reports it to the engine next.
func (n *Node) connectionFailed(id peer.ID) {
	n.st.failed = append(n.st.failed, id)
	n.forgetLinkRequest(id) // what was sent may be lost: the core's request to id ends with the report
}

// step runs one input through the engine, carries out its batch, then
// reports the connection failures that carrying it out raised, each with
// its own batch.
func (n *Node) step(input func(e *gossip.Engine, now time.Time, rd *gossip.Ready)) {
	s := n.st
	input(s.eng, time.Now(), &s.rd)
	n.carryOut()
	for len(s.failed) > 0 || len(s.dialedBack) > 0 {
		if len(s.failed) > 0 {
			id := s.failed[0]
			s.failed = s.failed[1:]
			s.eng.ConnectionFailed(time.Now(), id, &s.rd)
		} else {
			d := s.dialedBack[0]
			s.dialedBack = s.dialedBack[1:]
			s.eng.DialedBack(time.Now(), d.d, d.res, &s.rd)
		}
		n.carryOut()
	}
}
