package transport

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// memTransport is a Transport on a MemNetwork.
type memTransport struct {
	net   *MemNetwork
	addr  string
	id    Identity
	pub   ed25519.PublicKey
	cert  *x509.Certificate // CA-issued certificate, if any
	cfg   MemConfig
	stats counters

	datagrams *datagramEndpoint

	acceptq chan *conn
	done    chan struct{} // closed by Close or Crash
	wg      sync.WaitGroup

	mu       sync.Mutex
	conns    map[*conn]struct{}
	closed   bool
	mappings map[string]time.Time // behind a NAT: where datagrams went, and when
}

func (t *memTransport) identity() Identity { return t.id }

// Addr returns the address the transport listens on.
func (t *memTransport) Addr() string { return t.addr }

// PublicKey returns the transport's public key.
func (t *memTransport) PublicKey() ed25519.PublicKey { return t.pub }

// Sign signs msg with the transport's identity key.
func (t *memTransport) Sign(msg []byte) []byte { return ed25519.Sign(t.id.Key, msg) }

// Stats returns a snapshot of the counters.
func (t *memTransport) Stats() Stats { return t.stats.snapshot() }

// Dial connects to the transport at addr, which must hold key.
func (t *memTransport) Dial(ctx context.Context, addr string, key ed25519.PublicKey) (Conn, error) {
	return t.stats.countDial(t.dial(ctx, addr, key))
}

func (t *memTransport) dial(ctx context.Context, addr string, key ed25519.PublicKey) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := t.net
	n.mu.Lock()
	dst := n.nodes[addr]
	reachable := n.reachableLocked(t.addr, addr)
	seq := n.nextLink
	n.nextLink++
	n.mu.Unlock()
	switch {
	case t.isClosed():
		return nil, ErrClosed
	case dst == nil || dst.isClosed() || !reachable || dst.cfg.BehindNAT:
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
	case key != nil && !dst.pub.Equal(key):
		t.stats.rejected.Add(1)
		return nil, fmt.Errorf("%w: got %x, want %x", ErrWrongKey, dst.pub[:8], key[:min(8, len(key))])
	}
	if err := admit(t.cfg.Admission, dst.pub, dst.cert); err != nil {
		t.stats.rejected.Add(1)
		return nil, err
	}
	if err := admit(dst.cfg.Admission, t.pub, t.cert); err != nil {
		dst.stats.rejected.Add(1)
		return nil, fmt.Errorf("%w: %s refused our certificate", ErrNotAdmitted, addr)
	}
	la := &memLink{net: n, from: t.addr, to: addr, rng: rand.New(rand.NewPCG(n.seed, seq<<1)), deadline: make(chan struct{})}
	lb := &memLink{net: n, from: addr, to: t.addr, rng: rand.New(rand.NewPCG(n.seed, seq<<1|1)), deadline: make(chan struct{})}
	ca := newConn(la, &t.stats, t.cfg.MaxFrameBytes, t.cfg.SendQueueFrames, t.cfg.CloseTimeout, dst.pub, addr)
	cb := newConn(lb, &dst.stats, dst.cfg.MaxFrameBytes, dst.cfg.SendQueueFrames, dst.cfg.CloseTimeout, t.pub, t.addr)
	ca.protocol = min(cmp.Or(t.cfg.MaxProtocol, ProtocolVersion), cmp.Or(dst.cfg.MaxProtocol, ProtocolVersion))
	cb.protocol = ca.protocol
	ca.onDone, cb.onDone = t.unregister, dst.unregister // before either end is reachable
	la.c, la.peer, la.idle = ca, lb, t.cfg.IdleTimeout
	lb.c, lb.peer, lb.idle = cb, la, dst.cfg.IdleTimeout
	if !t.register(ca) {
		cb.fail(ErrClosed)
		return nil, ErrClosed
	}
	if !dst.register(cb) {
		ca.fail(ErrUnreachable)
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
	}
	n.mu.Lock()
	n.links[la] = struct{}{}
	n.mu.Unlock()
	select {
	case dst.acceptq <- cb:
		dst.stats.accepts.Add(1)
	case <-ctx.Done():
		ca.fail(ctx.Err())
		return nil, ctx.Err()
	case <-dst.done:
		ca.fail(ErrUnreachable)
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
	}
	return ca, nil
}

// Accept returns the next inbound connection.
func (t *memTransport) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-t.acceptq:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.done:
		return nil, ErrClosed
	}
}

// register tracks c and starts its writer; false if t is closed.
func (t *memTransport) register(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	go func() { defer t.wg.Done(); c.writeLoop() }()
	return true
}

func (t *memTransport) unregister(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	l := c.link.(*memLink)
	t.net.mu.Lock()
	delete(t.net.links, l)
	delete(t.net.links, l.peer)
	t.net.mu.Unlock()
}

func (t *memTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close closes every connection (peers see a *CloseError with reason
// "transport closed") and frees the address. It is idempotent.
func (t *memTransport) Close() error {
	t.shutdown(false)
	return nil
}

// shutdown closes t; crash leaves its peers to find out by idle timeout.
func (t *memTransport) shutdown(crash bool) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	close(t.done)
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.net.mu.Lock()
	if t.net.nodes[t.addr] == t {
		delete(t.net.nodes, t.addr)
	}
	t.net.mu.Unlock()
	for _, c := range conns {
		if crash {
			c.link.(*memLink).crashed.Store(true)
			c.fail(fmt.Errorf("%w: transport crashed", ErrClosed))
		} else {
			c.fail(&CloseError{Reason: "transport closed"})
		}
	}
	t.wg.Wait()
	for len(t.acceptq) > 0 {
		(<-t.acceptq).fail(ErrClosed)
	}
}
