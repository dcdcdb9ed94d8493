package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// streamPreamble is the byte the dialler writes on the stream it opens (QUIC
// announces a stream only once data flows) and the acceptor echoes once the
// connection is admitted on its side.
const streamPreamble byte = 1

// acceptBacklog bounds authenticated connections waiting for Accept.
const acceptBacklog = 64

// QUIC is a Transport over QUIC (quic-go) on one UDP socket.
type QUIC struct {
	cfg        Config
	cert       tls.Certificate
	udp        net.PacketConn
	tr         *quic.Transport
	ln         *quic.Listener
	serverQUIC *quic.Config
	clientQUIC *quic.Config
	addr       string
	stats      counters
	datagrams  *datagramEndpoint

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	acceptq chan *conn
	wg      sync.WaitGroup

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool

	lagMu sync.Mutex
	lag   lagMeter // HostLag's (starved.go)
}

var (
	_ Transport = (*QUIC)(nil)
	_ Datagrams = (*QUIC)(nil)
)

// ListenQUIC binds cfg.ListenAddr and starts accepting connections.
func ListenQUIC(cfg Config) (*QUIC, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Identity.validate(); err != nil {
		return nil, err
	}
	keys, err := newPairKeys(cfg.Identity.Key)
	if err != nil {
		return nil, err
	}
	der, err := cfg.Identity.certificate()
	if err != nil {
		return nil, err
	}
	udp := cfg.PacketConn
	if udp == nil {
		uaddr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen address: %w", err)
		}
		if udp, err = net.ListenUDP("udp", uaddr); err != nil {
			return nil, fmt.Errorf("transport: listen: %w", err)
		}
	}
	t := &QUIC{
		cfg:     cfg,
		cert:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: cfg.Identity.Key},
		acceptq: make(chan *conn, acceptBacklog),
		conns:   make(map[*conn]struct{}),
		addr:    cfg.AdvertiseAddr,
	}
	// A transient send error is a lost datagram, not the end of the
	// connection that sent it (doc.go, "Send errors").
	t.udp = wrapSocket(udp, &t.stats)
	t.tr = &quic.Transport{Conn: t.udp}
	if t.addr == "" {
		t.addr = udp.LocalAddr().String()
	}
	base := quic.Config{
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIdleTimeout:        cfg.MaxSilence, // a backstop: the watch judges IdleTimeout (silence.go)
		KeepAlivePeriod:       cfg.KeepAlivePeriod,
		MaxIncomingUniStreams: -1,
		// No path MTU probes (doc.go, "Defaults"): packets keep quic-go's
		// initial size, and no connection pays the probes.
		DisablePathMTUDiscovery: true,
	}
	t.serverQUIC, t.clientQUIC = &base, new(quic.Config)
	*t.clientQUIC = base
	t.serverQUIC.MaxIncomingStreams = 1 // the dialler's one stream
	t.serverQUIC.KeepAlivePeriod = acceptorKeepAlive(cfg.KeepAlivePeriod, cfg.IdleTimeout)
	t.clientQUIC.MaxIncomingStreams = -1
	// quic-go holds a keep-alive under half of the idle timeout it is
	// given, MaxSilence here; the watch judges IdleTimeout, so the
	// dialler's keep-alives must come within half of that.
	t.clientQUIC.KeepAlivePeriod = min(cfg.KeepAlivePeriod, cfg.IdleTimeout/2)
	t.ln, err = t.tr.Listen(t.serverTLS(), t.serverQUIC)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("transport: listen: %w", err)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.datagrams = newDatagramEndpoint(keys, cfg.Identity, cfg.Admission, cfg.DatagramBudget, cfg.SignedDatagrams, &t.stats, t.ctx.Done())
	// quic-go keeps non-QUIC packets only once they have been asked for:
	// ask now, so that none arriving before datagramLoop runs is lost.
	done, stop := context.WithCancel(t.ctx)
	stop()
	_, _, _ = t.tr.ReadNonQUICPacket(done, nil)
	t.wg.Add(2)
	go t.acceptLoop()
	go t.watchSilence()
	if t.datagramsOn() {
		t.wg.Add(1)
		go t.datagramLoop()
	}
	return t, nil
}

func (t *QUIC) datagramsOn() bool {
	return datagramsOn(t.cfg.MaxProtocol) && datagramsFit(t.cfg.Identity)
}

// acceptorKeepAlive is the keep-alive period of the accepting end of a
// connection: a quarter longer than the dialler's, so that on an idle
// link the dialler's PINGs (and the acceptor's acknowledgements) keep
// both ends alive and the acceptor sends a PING of its own only when one
// of the dialler's is late or lost. quic-go sends a PING once nothing has
// been received for the period; with equal periods both ends did, twice
// the packets and wake-ups for the same liveness. It stays within half
// the idle timeout, as quic-go requires.
func acceptorKeepAlive(period, idle time.Duration) time.Duration {
	return min(period+period/4, idle/2)
}

// datagramLoop reads the socket's non-QUIC packets, the datagrams
// (Datagrams), until the transport closes.
func (t *QUIC) datagramLoop() {
	defer t.wg.Done()
	buf := make([]byte, maxDatagramBytes+1)
	for {
		n, addr, err := t.tr.ReadNonQUICPacket(t.ctx, buf)
		if err != nil {
			return
		}
		t.datagrams.received(buf[:n], addr.String())
	}
}

// SendDatagram implements Datagrams.
func (t *QUIC) SendDatagram(addr string, key ed25519.PublicKey, payload []byte) error {
	return t.sendDatagram(addr, key, payload, true)
}

// SendDatagramAnswer implements Datagrams.
func (t *QUIC) SendDatagramAnswer(addr string, key ed25519.PublicKey, payload []byte) error {
	return t.sendDatagram(addr, key, payload, false)
}

func (t *QUIC) sendDatagram(addr string, key ed25519.PublicKey, payload []byte, mayTry bool) error {
	if t.isClosed() {
		return ErrClosed
	}
	if !t.datagramsOn() {
		return errDatagramsOff
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		// Only an IP literal: a name would be resolved here, on the
		// caller's goroutine, for as long as its DNS takes.
		return fmt.Errorf("%w: a datagram needs an IP address and port, got %q", ErrUnreachable, addr)
	}
	ua := net.UDPAddrFromAddrPort(ap)
	pkt, err := t.datagrams.seal(key, payload, mayTry)
	if err != nil {
		return err
	}
	_, err = t.tr.WriteTo(pkt, ua)
	return err
}

// ReceiveDatagram implements Datagrams.
func (t *QUIC) ReceiveDatagram(ctx context.Context) (Datagram, error) {
	return t.datagrams.receive(ctx)
}

// Addr returns the advertised address, or the bound one.
func (t *QUIC) Addr() string { return t.addr }

// PublicKey returns the public key of the transport's identity.
func (t *QUIC) PublicKey() ed25519.PublicKey { return t.cfg.Identity.Public() }

// Sign signs msg with the transport's identity key.
func (t *QUIC) Sign(msg []byte) []byte { return ed25519.Sign(t.cfg.Identity.Key, msg) }

// Stats returns a snapshot of the counters.
func (t *QUIC) Stats() Stats { return t.stats.snapshot() }

// Dial connects to addr and checks that the peer holds key.
func (t *QUIC) Dial(ctx context.Context, addr string, key ed25519.PublicKey) (Conn, error) {
	return t.stats.countDial(t.dial(ctx, addr, key))
}

func (t *QUIC) dial(ctx context.Context, addr string, key ed25519.PublicKey) (*conn, error) {
	if key != nil && len(key) != ed25519.PublicKeySize {
		return nil, errors.New("transport: dial: expected key is not an ed25519 public key")
	}
	if t.isClosed() {
		return nil, ErrClosed
	}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel) // Close aborts dials in progress
	defer stop()
	var verdict peerVerdict
	qc, err := t.tr.Dial(ctx, uaddr, t.clientTLS(key, &verdict), t.clientQUIC)
	if err != nil {
		return nil, dialError(addr, err, verdict.get(), ctx)
	}
	// Make the stream visible to the peer and wait for its echo: only
	// then has it accepted our certificate.
	kill := context.AfterFunc(ctx, func() { _ = qc.CloseWithError(codeError, "handshake timeout") })
	st, err := qc.OpenStreamSync(ctx)
	if err == nil {
		_, err = st.Write([]byte{streamPreamble})
	}
	var echo [1]byte
	if err == nil {
		_, err = io.ReadFull(st, echo[:])
	}
	if !kill() && err == nil {
		err = ctx.Err()
	}
	if err == nil && echo[0] != streamPreamble {
		err = fmt.Errorf("%w: bad stream preamble %d", ErrProtocol, echo[0])
	}
	if err != nil {
		_ = qc.CloseWithError(codeError, "dial failed")
		return nil, dialError(addr, err, verdict.get(), ctx)
	}
	if key == nil {
		key = verdict.key() // unpinned: the key the handshake proved
	}
	c := newQUICConn(t, qc, st, key, addr)
	if !t.register(c) {
		c.fail(ErrClosed)
		return nil, ErrClosed
	}
	c.link.(*quicLink).start(t)
	return c, nil
}

// dialError names why a dial failed, preferring our own verdict on the peer.
func dialError(addr string, err, verdict error, ctx context.Context) error {
	var te *quic.TransportError
	var ht *quic.HandshakeTimeoutError
	switch {
	case verdict != nil:
		return verdict
	case errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError():
		return fmt.Errorf("%w: %s refused our certificate", ErrNotAdmitted, addr)
	case errors.As(err, &ht), ctx.Err() != nil:
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, addr, err)
	}
	return fmt.Errorf("transport: dial %s: %w", addr, err)
}

// Accept returns the next inbound, authenticated connection.
func (t *QUIC) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-t.acceptq:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.ctx.Done():
		return nil, ErrClosed
	}
}

func (t *QUIC) acceptLoop() {
	defer t.wg.Done()
	for {
		qc, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.setup(qc) }()
	}
}

// setup waits for the dialler's stream, echoes the preamble and queues the
// connection for Accept.
func (t *QUIC) setup(qc *quic.Conn) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	pub, _, err := peerKey(qc.ConnectionState().TLS)
	if err != nil { // unreachable: VerifyConnection already checked
		_ = qc.CloseWithError(codeError, err.Error())
		return
	}
	kill := context.AfterFunc(ctx, func() { _ = qc.CloseWithError(codeError, "handshake timeout") })
	st, err := qc.AcceptStream(ctx)
	var pre [1]byte
	if err == nil {
		_, err = io.ReadFull(st, pre[:])
	}
	if err == nil && pre[0] != streamPreamble {
		err = ErrProtocol
	}
	if err == nil {
		_, err = st.Write([]byte{streamPreamble})
	}
	if !kill() || err != nil {
		_ = qc.CloseWithError(codeError, "stream set-up failed")
		return
	}
	c := newQUICConn(t, qc, st, pub, qc.RemoteAddr().String())
	if !t.register(c) {
		c.fail(ErrClosed)
		return
	}
	c.link.(*quicLink).start(t)
	select {
	case t.acceptq <- c:
		t.stats.accepts.Add(1)
	case <-t.ctx.Done():
		c.fail(ErrClosed)
	}
}

// register tracks c so Close can end it; false if the transport is closed.
func (t *QUIC) register(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	c.onDone = t.unregister
	return true
}

func (t *QUIC) unregister(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

func (t *QUIC) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close closes every connection (peers see a *CloseError with reason
// "transport closed"), the listener and the socket, and waits for the
// transport's goroutines. It does not flush send queues.
func (t *QUIC) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.cancel()
	for _, c := range conns {
		c.fail(&CloseError{Reason: "transport closed"})
	}
	_ = t.ln.Close()
	_ = t.tr.Close()
	_ = t.udp.Close()
	t.wg.Wait()
	// Connections queued for Accept were closed above; drop them.
	for len(t.acceptq) > 0 {
		<-t.acceptq
	}
	return nil
}
