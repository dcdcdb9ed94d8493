package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// MemNetwork is an in-memory network of transports for tests, with fault
// injection. It uses only goroutines, channels and timers, so it runs inside
// testing/synctest bubbles with virtual time. Its methods are safe for
// concurrent use.
type MemNetwork struct {
	seed uint64

	mu       sync.Mutex
	nodes    map[string]*memTransport
	links    map[*memLink]struct{} // the dialling end of every open pair
	nextLink uint64
	minDelay time.Duration
	maxDelay time.Duration
	loss     float64
	groups   map[string]int // partition group of each listed address
	hook     func(from, to string, frame []byte) bool
	dgramRng *rand.Rand // delays and losses of datagrams
}

// NewMemNetwork returns an empty network. seed makes delays and losses
// reproducible: each connection direction draws from its own generator,
// seeded from seed and the order in which connections were dialled.
func NewMemNetwork(seed uint64) *MemNetwork {
	return &MemNetwork{
		seed:  seed,
		nodes: make(map[string]*memTransport),
		links: make(map[*memLink]struct{}),
		// Datagrams draw from a generator of their own, apart from the
		// connections' (seeded by their dial order), so that adding
		// datagrams changes no connection's faults.
		dgramRng: rand.New(rand.NewPCG(seed, 1<<63)),
	}
}

// MemConfig configures an in-memory transport. Zero fields take the same
// defaults as Config.
type MemConfig struct {
	MaxFrameBytes   int
	SendQueueFrames int
	// IdleTimeout is how long a connection to a crashed peer stays open
	// before it fails with ErrIdleTimeout, as a QUIC connection would.
	IdleTimeout  time.Duration
	CloseTimeout time.Duration
	Admission    Admission
	// MaxProtocol is Config.MaxProtocol: two ends agree on the lower of
	// their highest versions.
	MaxProtocol int
	// DatagramBudget is Config.DatagramBudget.
	DatagramBudget int
	// SignedDatagrams is Config.SignedDatagrams.
	SignedDatagrams bool
	// BehindNAT makes every dial to this transport fail as unreachable,
	// as a node behind a NAT that keeps no port open: it reaches others
	// only over the connections it dials itself. A datagram reaches it
	// only from an address it sent one to within the last 30 s.
	BehindNAT bool
}

func (c MemConfig) withDefaults() MemConfig {
	d := Config{MaxFrameBytes: c.MaxFrameBytes, SendQueueFrames: c.SendQueueFrames,
		IdleTimeout: c.IdleTimeout, CloseTimeout: c.CloseTimeout}.withDefaults()
	c.MaxFrameBytes, c.SendQueueFrames = d.MaxFrameBytes, d.SendQueueFrames
	c.IdleTimeout, c.CloseTimeout = d.IdleTimeout, d.CloseTimeout
	return c
}

// Listen attaches a transport with identity id at addr, which must be a
// non-empty name not already in use on this network.
func (n *MemNetwork) Listen(addr string, id Identity, cfg MemConfig) (Transport, error) {
	if addr == "" {
		return nil, errors.New("transport: listen: empty address")
	}
	if err := id.validate(); err != nil {
		return nil, err
	}
	keys, err := newPairKeys(id.Key)
	if err != nil {
		return nil, err
	}
	var cert *x509.Certificate
	if id.CACert != nil {
		cert, _ = x509.ParseCertificate(id.CACert) // validate parsed it
	}
	t := &memTransport{
		net: n, addr: addr, id: id, pub: id.Public(), cert: cert, cfg: cfg.withDefaults(),
		acceptq: make(chan *conn, acceptBacklog),
		done:    make(chan struct{}),
		conns:   make(map[*conn]struct{}),
	}
	t.datagrams = newDatagramEndpoint(keys, id, cfg.Admission, cfg.DatagramBudget, cfg.SignedDatagrams, &t.stats, t.done)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("transport: listen: address %q in use", addr)
	}
	n.nodes[addr] = t
	return t, nil
}

// SetDelay delays every frame sent from now on by a uniform random duration
// in [min, max]. Frames of one connection stay in order.
func (n *MemNetwork) SetDelay(min, max time.Duration) {
	if max < min {
		max = min
	}
	n.mu.Lock()
	n.minDelay, n.maxDelay = min, max
	n.mu.Unlock()
}

// SetLoss silently drops each frame, and each datagram, with probability
// p.
func (n *MemNetwork) SetLoss(p float64) {
	n.mu.Lock()
	n.loss = p
	n.mu.Unlock()
}

// SetHook calls hook for every frame, and every datagram's payload, about
// to be delivered; returning false drops it. A nil hook removes it. The hook must not block.
func (n *MemNetwork) SetHook(hook func(from, to string, frame []byte) bool) {
	n.mu.Lock()
	n.hook = hook
	n.mu.Unlock()
}

// Partition splits the listed addresses into groups that cannot reach each
// other: open connections between groups fail at once on both sides with
// ErrUnreachable, and dials between groups fail. Addresses in no group are
// unaffected. It replaces any earlier partition.
func (n *MemNetwork) Partition(groups ...[]string) {
	n.mu.Lock()
	n.groups = make(map[string]int)
	for i, g := range groups {
		for _, addr := range g {
			n.groups[addr] = i
		}
	}
	var cut []*memLink
	for l := range n.links {
		if !n.reachableLocked(l.from, l.to) {
			cut = append(cut, l)
			delete(n.links, l)
		}
	}
	n.mu.Unlock()
	for _, l := range cut {
		err := fmt.Errorf("%w: network partitioned between %s and %s", ErrUnreachable, l.from, l.to)
		l.silent.Store(true)
		l.peer.silent.Store(true)
		l.c.fail(err)
		l.peer.c.fail(err)
	}
}

// Heal removes the partition. Connections it broke stay broken.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.groups = nil
	n.mu.Unlock()
}

// Crash makes the transport at addr vanish like a killed process: its own
// connections and Accept end with ErrClosed, while its peers learn nothing
// until their IdleTimeout passes and their connections fail with
// ErrIdleTimeout. The address becomes free for a new Listen.
func (n *MemNetwork) Crash(addr string) {
	n.mu.Lock()
	t := n.nodes[addr]
	n.mu.Unlock()
	if t != nil {
		t.shutdown(true)
	}
}

func (n *MemNetwork) reachableLocked(a, b string) bool {
	ga, oka := n.groups[a]
	gb, okb := n.groups[b]
	return !oka || !okb || ga == gb
}

// faults returns the current delay and loss settings and the hook.
func (n *MemNetwork) faults(rng *rand.Rand) (delay time.Duration, lost bool, hook func(string, string, []byte) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.faultsLocked(rng)
}

// faultsLocked is faults with n.mu held.
func (n *MemNetwork) faultsLocked(rng *rand.Rand) (delay time.Duration, lost bool, hook func(string, string, []byte) bool) {
	delay = n.minDelay
	if span := n.maxDelay - n.minDelay; span > 0 {
		delay += time.Duration(rng.Int64N(int64(span) + 1))
	}
	lost = n.loss > 0 && rng.Float64() < n.loss
	return delay, lost, n.hook
}
