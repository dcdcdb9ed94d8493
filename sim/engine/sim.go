package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

// Config configures a simulation.
type Config struct {
	// Seed makes the run reproducible: the same seed, configuration and
	// sequence of calls give the same events in the same order.
	Seed uint64
	// Engine configures every node's cores.
	Engine gossip.Config
	// Network models latency, loss and failure detection.
	Network NetworkConfig
	// ManualShuffle holds every node's periodic HyParView timer instead of
	// scheduling it: the papers' cycle model, where Sim.Cycle runs one
	// membership round on every node. Each cycle is one shuffle period, so
	// New turns HyParView's early ticks off
	// (hyparview.Config.WithoutEarlyTicks): they exist to come sooner in
	// time than the period, which a cycle cannot, and counted as cycles
	// they would only delay every node's first period by five.
	ManualShuffle bool
	// CheckInvariants checks every node's invariants after each of its
	// steps; Run returns the first violation.
	CheckInvariants bool
	// Hook, if set, sees every message before it enters the network.
	Hook MessageHook
	// OnDeliver, if set, sees every delivery to an application.
	OnDeliver func(node int, d gossip.Delivery, at time.Duration)
	// Addresses gives every node an address, a short placeholder ("n"
	// and its index) that the simulator never reads: messages are routed
	// by ID. The papers' experiments run without, as the papers' nodes
	// carry none; the production-like experiments need it, because the
	// engine probes and asks for links only members it could dial
	// (gossip.MembersConfig.ProbeInterval). A deployment's address, a key
	// and a host:port, is longer: bytes stay an underestimate.
	Addresses bool
	// Workers, above 1, steps the engines of an instant with many events
	// (the membership cycles of a large run) on that many goroutines,
	// carrying out their outputs in the sequential order: the run is the
	// same event for event, meant to be faster on idle cores (parallel.go;
	// docs/benchmarks.md: not shown so on a shared 2-core machine). Not
	// with CheckInvariants, which checks each node after its own step.
	Workers int
	// EventMeter, if set, receives the run's event count as it grows (in
	// batches, and whenever Run returns), so that another goroutine can
	// report the progress of runs going on in parallel. Clones share it.
	EventMeter *atomic.Uint64
}

// node is what every event reads of one simulated process, 16 bytes so
// that the nodes of a large run stay in cache; the rest is in nodeSpare.
type node struct {
	eng   *gossip.Engine
	group int32 // partition group; messages cross groups only when equal
	alive bool
	held  bool // nodeSpare.shuffle holds a live timer
}

// nodeSpare is what one simulated process needs beside its node, seldom.
type nodeSpare struct {
	src     *rand.PCG    // eng's random source, kept so Clone can copy its state
	shuffle gossip.Timer // the held periodic timer, with ManualShuffle
}

// Sim is a deterministic discrete-event simulation of a cluster of Engines.
// It is not safe for concurrent use.
type Sim struct {
	cfg     Config
	epoch   time.Time
	now     time.Duration
	clock   time.Time     // epoch + clockAt, kept since most events share their time with the last one
	clockAt time.Duration // the virtual time clock stands for
	live    int           // the number of running nodes
	// linkLoss is the loss probability of the links given one (SetLinkLoss).
	linkLoss map[link]float64
	// lastArrival holds, per directed link (from<<32 | to), the arrival
	// time of the last message sent on it (Latency.PerMessage only).
	lastArrival   map[uint64]time.Duration
	arrivalsPrune int // the size of lastArrival that prunes it next
	seq           uint64
	queue         queue
	nodes         []node
	spare         []nodeSpare // spare[i] belongs to nodes[i]
	rng           *rand.Rand  // the run's own choices (which node broadcasts, fails...)
	seeder        *rand.Rand  // draws each node's seed, in creation order
	rngSrc        *rand.PCG   // rng's and seeder's sources, kept for Clone
	seedSrc       *rand.PCG
	// delays draws the delays of Latency.PerMessage from a source of its
	// own, so that turning them on changes no other choice of the run
	// (which nodes fail, which broadcast).
	delays   *rand.Rand
	delaySrc *rand.PCG
	rd       gossip.Ready // the batch of the node being stepped
	// inputName names the scenario's input being carried out, for an
	// invariant violation.
	inputName string
	stats     Stats
	bcasts    broadcasts
	err       error
	steps     uint64
	metered   uint64           // events already added to cfg.EventMeter
	contact   []hyparview.Peer // scratch for Join and the active views
	par       *batch           // the instants stepped in parallel (Config.Workers)
}

// ErrInvariant wraps the first invariant violation found with
// CheckInvariants.
var ErrInvariant = errors.New("engine: invariant violated")

// New returns an empty simulation.
func New(cfg Config) (*Sim, error) {
	cfg.Network = cfg.Network.withDefaults()
	if err := cfg.Network.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Engine.Validate(); err != nil {
		return nil, err
	}
	if cfg.ManualShuffle {
		cfg.Engine.HyParView.WithoutEarlyTicks = true
	}
	if m := cfg.Engine.Members; m != nil && m.Roster.Bodies == nil {
		// The nodes' member lists share the records' bodies (bodies.go).
		shared := *m
		shared.Roster.Bodies = newSharedBodies()
		cfg.Engine.Members = &shared
	}
	rngSrc, seedSrc, delaySrc := rand.NewPCG(cfg.Seed, 0x5eed), rand.NewPCG(cfg.Seed, 0x0de5), rand.NewPCG(cfg.Seed, 0xde1a)
	return &Sim{
		delays:   rand.New(delaySrc),
		delaySrc: delaySrc,
		cfg:      cfg,
		epoch:    time.Unix(0, 0).UTC(),
		clock:    time.Unix(0, 0).UTC(),
		rng:      rand.New(rngSrc),
		seeder:   rand.New(seedSrc),
		rngSrc:   rngSrc,
		seedSrc:  seedSrc,
		bcasts:   newBroadcasts(),
	}, nil
}

// Now is the current virtual time since the start of the run.
func (s *Sim) Now() time.Duration { return s.now }

// Rand is the run's random source for scenario choices; drawing from it
// keeps a scenario deterministic.
func (s *Sim) Rand() *rand.Rand { return s.rng }

// Len is the number of nodes ever added, alive or not.
func (s *Sim) Len() int { return len(s.nodes) }

// Alive reports whether node n is running.
func (s *Sim) Alive(n int) bool { return s.nodes[n].alive }

// Engine returns node n's engine, for inspection.
func (s *Sim) Engine(n int) *gossip.Engine { return s.nodes[n].eng }

// Stats returns the run's counters so far.
func (s *Sim) Stats() Stats { return s.stats }

// Err returns the first invariant violation, if any.
func (s *Sim) Err() error { return s.err }

// AddNode creates a node that is not yet joined and returns its index.
func (s *Sim) AddNode() (int, error) {
	n := len(s.nodes)
	eng, src, err := s.newEngine(n)
	if err != nil {
		return -1, err
	}
	s.nodes = append(s.nodes, node{eng: eng, alive: true})
	s.spare = append(s.spare, nodeSpare{src: src})
	s.live++
	return n, nil
}

func (s *Sim) newEngine(n int) (*gossip.Engine, *rand.PCG, error) {
	r := newNodeRand(rand.NewPCG(s.seeder.Uint64(), s.seeder.Uint64()))
	eng, err := gossip.New(s.peerAt(n), s.cfg.Engine, &r.rng)
	return eng, &r.src, err
}

// nodeRand is a node's random source with the generator it draws from, in
// one 32-byte allocation: a draw that misses the cache then misses once,
// not twice (rand.New would allocate the Rand apart from its PCG, in a
// span of its own since one holds pointers and the other none).
type nodeRand struct {
	src rand.PCG
	rng rand.Rand
}

// newNodeRand returns a node's random source in the state of src.
func newNodeRand(src *rand.PCG) *nodeRand {
	r := &nodeRand{src: *src}
	r.rng = *rand.New(&r.src)
	return r
}

// peerAt is node n as a peer: its ID, and its address with
// Config.Addresses.
func (s *Sim) peerAt(n int) hyparview.Peer {
	if !s.cfg.Addresses {
		return hyparview.Peer{ID: peerOf(n)}
	}
	return hyparview.Peer{ID: peerOf(n), Addr: "n" + strconv.Itoa(n)}
}

// Join makes node n join through the given contacts (none for the first
// node).
func (s *Sim) Join(n int, contacts ...int) {
	s.contact = s.contact[:0]
	for _, c := range contacts {
		s.contact = append(s.contact, s.peerAt(c))
	}
	_ = s.input(n, "join", func(eng *gossip.Engine, rd *gossip.Ready) { eng.Join(s.clockTime(), s.contact, rd) })
}

// Broadcast makes node n broadcast payload and returns the message's ID.
func (s *Sim) Broadcast(n int, payload []byte) (plumtree.MessageID, error) {
	if !s.nodes[n].alive {
		return plumtree.MessageID{}, fmt.Errorf("engine: node %d is not alive", n)
	}
	id, err := s.nodes[n].eng.Broadcast(s.clockTime(), "", payload, &s.rd)
	if err == nil {
		s.bcasts.started(id, n, s.now, s.live)
	}
	s.inputName = "broadcast"
	s.carryOut(n, nil)
	return id, err
}

// UpdateMeta makes node n replace its metadata in the member list
// (EngineConfig.Members must be set).
func (s *Sim) UpdateMeta(n int, meta []byte) error {
	var err error
	if ierr := s.input(n, "update metadata", func(eng *gossip.Engine, rd *gossip.Ready) { err = eng.UpdateMeta(s.clockTime(), meta, rd) }); ierr != nil {
		return ierr
	}
	return err
}

// Inject hands node n a message as if node from had sent it, outside the
// network: how an experiment plays an adversary, or a node that lies,
// without changing the protocol code the nodes run.
func (s *Sim) Inject(n, from int, msg gossip.Message) error {
	return s.input(n, "inject", func(eng *gossip.Engine, rd *gossip.Ready) { eng.Receive(s.clockTime(), peerOf(from), msg, rd) })
}

// Leave makes node n leave gracefully; it stops once its goodbyes are sent.
func (s *Sim) Leave(n int) {
	if !s.nodes[n].alive {
		return
	}
	_ = s.input(n, "leave", func(eng *gossip.Engine, rd *gossip.Ready) { eng.Leave(s.clockTime(), rd) })
	s.nodes[n].alive = false
	s.live--
}

// Crash stops node n at once. Its neighbours learn of it as the network
// model says: when they next send to it (DetectOnSend), after DetectAfter,
// or at the next DetectFailures.
func (s *Sim) Crash(n int) {
	nd := &s.nodes[n]
	if !nd.alive {
		return
	}
	nd.alive = false
	s.live--
	s.stats.Crashes++
	if s.cfg.Network.DetectAfter > 0 {
		s.contact = nd.eng.AppendActive(s.contact[:0])
		for _, p := range s.contact {
			if i := indexOf(p.ID, len(s.nodes)); i >= 0 {
				s.schedule(event{at: s.now + s.cfg.Network.DetectAfter, to: int32(i), from: int32(n)})
			}
		}
	}
}

// Restart brings a crashed node back with empty state, as a process that
// restarted, and joins it through contacts.
func (s *Sim) Restart(n int, contacts ...int) error {
	if s.nodes[n].alive {
		return fmt.Errorf("engine: node %d is already alive", n)
	}
	eng, src, err := s.newEngine(n)
	if err != nil {
		return err
	}
	s.nodes[n] = node{eng: eng, alive: true, group: s.nodes[n].group}
	s.spare[n] = nodeSpare{src: src}
	s.live++
	s.Join(n, contacts...)
	return nil
}

// SetLinkLoss makes the link between nodes a and b lose each message, both
// ways, with probability p in [0, 1], on top of NetworkConfig.Loss; p = 0
// restores the link. A loss of 1 cuts the link silently: unlike a partition
// or a crash, the senders are not told.
func (s *Sim) SetLinkLoss(a, b int, p float64) error {
	if a < 0 || b < 0 || a >= len(s.nodes) || b >= len(s.nodes) || a == b {
		return fmt.Errorf("engine: no link between nodes %d and %d (%d nodes)", a, b, len(s.nodes))
	}
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("engine: link loss %v is not a probability in [0, 1]", p)
	}
	if p == 0 {
		delete(s.linkLoss, linkOf(a, b))
		return nil
	}
	if s.linkLoss == nil {
		s.linkLoss = make(map[link]float64)
	}
	s.linkLoss[linkOf(a, b)] = p
	return nil
}

// link names the link between two nodes, the lower index first.
type link struct{ a, b int32 }

func linkOf(a, b int) link { return link{int32(min(a, b)), int32(max(a, b))} }

// Partition assigns node n to a partition group: messages pass only between
// nodes of the same group. All nodes start in group 0.
func (s *Sim) Partition(n int, group int32) { s.nodes[n].group = group }

// DetectFailures tells every live node about each active neighbour that is
// crashed or unreachable: the Plumtree paper's membership step (S2 §4.1),
// where failures are found between broadcasts.
func (s *Sim) DetectFailures() {
	for i := range s.nodes {
		if !s.nodes[i].alive {
			continue
		}
		s.contact = s.nodes[i].eng.AppendActive(s.contact[:0])
		for _, p := range s.contact {
			j := indexOf(p.ID, len(s.nodes))
			if j >= 0 && !s.reachable(i, j) && s.nodes[i].alive {
				_ = s.input(i, "failure detection", func(eng *gossip.Engine, rd *gossip.Ready) { eng.ConnectionFailed(s.clockTime(), p.ID, rd) })
			}
		}
	}
}

// Cycle runs one membership round in the cycle model: every live node, in
// a random order, runs its periodic HyParView step (shuffle and repair).
// It needs ManualShuffle.
func (s *Sim) Cycle() error {
	if !s.cfg.ManualShuffle {
		return errors.New("engine: Cycle needs ManualShuffle")
	}
	perm := s.rng.Perm(len(s.nodes))
	for k, i := range perm {
		s.prefetchCycle(perm, k)
		nd := &s.nodes[i]
		if !nd.alive || !nd.held {
			continue
		}
		nd.held = false
		_ = s.input(i, "membership cycle", func(eng *gossip.Engine, rd *gossip.Ready) { eng.TimerFired(s.clockTime(), s.spare[i].shuffle, rd) })
	}
	s.stats.Cycles++
	return s.err
}

// Run processes every event due by the given virtual time, then sets the
// clock to it (if it is not already later), so that what the caller does
// next, a join or a broadcast, happens at that time and not at the last
// event's: a loop of Run(Now()+d) advances by d each turn even when no
// event falls within d. It returns the first invariant violation.
func (s *Sim) Run(until time.Duration) error {
	if err := s.runDue(until); err != nil {
		return err
	}
	if until > s.now {
		s.now = until
	}
	return nil
}

// runDue processes events until the queue is empty or the next event is
// later than until; the clock then stands at the last event run.
func (s *Sim) runDue(until time.Duration) error {
	if s.cfg.Workers > 1 && !s.cfg.CheckInvariants {
		return s.runDueParallel(until)
	}
	for s.queue.len() > 0 && s.err == nil {
		if s.queue.peekAt() > until {
			break
		}
		s.runEvent(s.queue.pop())
		s.prefetchUpcoming()
		if s.stats.Events-s.metered >= meterBatch {
			s.meter()
		}
	}
	s.meter()
	return s.err
}

// prefetchDistance is how many events ahead the run starts loading the
// first lines of the engine that an event will step; what a payload will
// read further in is prefetched half as far ahead.
const prefetchDistance = 4

// prefetchUpcoming starts loading the memory that events soon to run will
// read: with thousands of nodes each event steps an engine that is not in
// cache, and these misses would otherwise come one after the other. Four
// events ahead it loads the first lines of the engine (three, seven for a
// payload, bounded by the engine's size); two events ahead, for a payload,
// what the engine names with Footprint. Both are hints: no package promises
// where an engine's fields lie, and if they move, the run computes the same
// and only its speed changes.
func (s *Sim) prefetchUpcoming() {
	if e := s.queue.upcoming(prefetchDistance); e != nil {
		if eng := s.nodes[e.to].eng; eng != nil && isMembership(e) {
			prefetchMembershipState(eng)
		} else if eng != nil {
			p, lines := unsafe.Pointer(eng), 3
			if _, ok := e.msg.(*plumtree.Gossip); ok {
				lines = 7
			}
			for i := range min(lines, int(unsafe.Sizeof(*eng)+63)/64) {
				prefetch(unsafe.Add(p, 64*i))
			}
		}
	}
	if e := s.queue.upcoming(prefetchDistance / 2); e != nil {
		if eng := s.nodes[e.to].eng; eng != nil && isMembership(e) {
			prefetchMembershipFootprint(eng)
		} else if eng != nil && e.msg != nil {
			if f := eng.Footprint(e.msg); f.Slot != nil {
				prefetch(unsafe.Pointer(f.Slot))
				prefetch(unsafe.Pointer(f.Item))
				prefetch(unsafe.Pointer(f.Held))
				prefetch(unsafe.Pointer(f.Eager))
			}
		}
	}
}

// meterBatch is how many events a run counts before adding them to its
// EventMeter.
const meterBatch = 1 << 16

// meter adds the events not yet counted to cfg.EventMeter.
func (s *Sim) meter() {
	if s.cfg.EventMeter != nil && s.stats.Events != s.metered {
		s.cfg.EventMeter.Add(s.stats.Events - s.metered)
		s.metered = s.stats.Events
	}
}

// Quiesce runs events until none is left or limit of virtual time has
// passed, whichever is first: "until no more messages are traveling"
// (S2 §4.1), bounded so a node that retries forever cannot hang the run.
// The clock then stands at the last event run, not at the limit.
func (s *Sim) Quiesce(limit time.Duration) error { return s.runDue(s.now + limit) }

// Pending is the number of scheduled events.
func (s *Sim) Pending() int { return s.queue.len() }

func (s *Sim) schedule(e event) {
	s.seq++
	e.seq = s.seq
	s.queue.push(e, s.now)
}

func (s *Sim) send(from int, to peer.ID, msg gossip.Message) {
	s.stats.countSend(msg)
	if g, ok := msg.(*plumtree.Gossip); ok {
		s.bcasts.payloadSent(g.ID)
	}
	j := indexOf(to, len(s.nodes))
	if j < 0 {
		s.stats.MessagesDropped++
		return
	}
	delay := s.linkDelay(from, j)
	if !s.reachable(from, j) {
		s.stats.MessagesDropped++
		if s.cfg.Network.DetectOnSend {
			s.schedule(event{at: s.now + 2*delay, to: int32(from), from: int32(j)})
		}
		return
	}
	if s.cfg.Hook != nil {
		v := s.cfg.Hook(s.now, from, j, msg)
		if v.Drop {
			s.stats.MessagesDropped++
			return
		}
		delay += v.Delay
	}
	loss := s.cfg.Network.Loss
	if s.linkLoss != nil {
		if p, ok := s.linkLoss[linkOf(from, j)]; ok {
			loss = 1 - (1-loss)*(1-p)
		}
	}
	if loss > 0 && s.rng.Float64() < loss {
		s.stats.MessagesLost++
		return
	}
	at := s.now + delay
	if s.cfg.Network.Latency.PerMessage {
		// In order on the link: never before the message sent before it.
		k := uint64(from)<<32 | uint64(j)
		if last := s.lastArrival[k]; at < last {
			at = last
		}
		if s.lastArrival == nil {
			s.lastArrival = make(map[uint64]time.Duration)
		}
		if len(s.lastArrival) >= s.arrivalsPrune {
			s.pruneArrivals()
		}
		s.lastArrival[k] = at
	}
	if s.queue.len() <= prefetchDistance {
		s.prefetchSoon(j, msg)
	}
	s.schedule(event{at: at, to: int32(j), from: int32(from), msg: msg})
}

// pruneArrivals forgets the links whose last message has arrived: a new
// one arrives later anyway. The next pruning comes when the map has
// doubled, so the cost per message stays constant.
func (s *Sim) pruneArrivals() {
	for k, at := range s.lastArrival {
		if at <= s.now {
			delete(s.lastArrival, k)
		}
	}
	s.arrivalsPrune = max(2*len(s.lastArrival), 1024)
}

// linkDelay is the one-way delay of a message from node a to node b: the
// link's, or with Latency.PerMessage one drawn for this message.
func (s *Sim) linkDelay(a, b int) time.Duration {
	l := s.cfg.Network.Latency
	if !l.PerMessage || l.Min == l.Max {
		return l.of(s.cfg.Seed, a, b)
	}
	return l.at(s.delays.Float64())
}

// reachable says whether a message from a can reach b now.
func (s *Sim) reachable(a, b int) bool {
	return s.nodes[b].alive && s.nodes[a].group == s.nodes[b].group
}

// LiveCount is the number of running nodes.
func (s *Sim) LiveCount() int { return s.live }

// LiveNode returns the index of the k-th running node in increasing order
// of index, counting from 0, or -1 when fewer than k+1 nodes run.
func (s *Sim) LiveNode(k int) int {
	if k < 0 || k >= s.live {
		return -1
	}
	for i := range s.nodes {
		// Counting without a branch on liveness, which is random after a
		// massive failure.
		k -= int(b2i(s.nodes[i].alive))
		if k < 0 {
			return i
		}
	}
	return -1
}

func b2i(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// LiveNodes returns the indexes of the running nodes in increasing order.
func (s *Sim) LiveNodes() []int {
	out := make([]int, 0, len(s.nodes))
	for i := range s.nodes {
		if s.nodes[i].alive {
			out = append(out, i)
		}
	}
	return out
}

// SetLoss changes the probability that any one message is lost, from now
// on.
func (s *Sim) SetLoss(p float64) error {
	n := s.cfg.Network
	n.Loss = p
	if err := n.validate(); err != nil {
		return err
	}
	s.cfg.Network = n
	return nil
}
