package ice

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pice "github.com/pion/ice/v2"
	"github.com/pion/logging"
	"github.com/pion/stun"
	ptransport "github.com/pion/transport/v2"

	"github.com/plumview/plumview/transport"
)

// Errors Connect returns (wrapped with detail).
var (
	// ErrNoPath: the connectivity checks found no working candidate pair,
	// not even through a relay, before the context ended.
	ErrNoPath = errors.New("ice: no path to the peer")
	// ErrSignalling: the signaller failed or the peer sent no credentials.
	ErrSignalling = errors.New("ice: signalling failed")
)

// TURNServer names a TURN relay and this node's credentials for it
// (RelayCredentials).
type TURNServer struct {
	Addr     string // host:port, UDP
	Username string
	Password string
}

// Config configures Connect.
type Config struct {
	// Transport configures the QUIC connection run over the selected
	// pair: Identity and Admission as for transport.ListenQUIC, and the
	// timeouts. ListenAddr, PacketConn and AdvertiseAddr are ignored.
	Transport transport.Config
	// STUN lists STUN servers (host:port, UDP) for server-reflexive
	// candidates.
	STUN []string
	// TURN lists TURN relays for relayed candidates.
	TURN []TURNServer
	// Net is the network the agent gathers on and sends through: nil for
	// the host's, a *vnet.Net in tests.
	Net ptransport.Net
	// Interfaces restricts host candidates to these interface names; empty
	// means every interface but loopback.
	Interfaces []string
	// IncludeLoopback gathers loopback addresses too (tests on one host).
	IncludeLoopback bool
	// RelayOnly gathers relayed candidates only, so every link goes
	// through a TURN relay: to check a relay, or to keep the node's
	// addresses from its peers.
	RelayOnly bool
	// Metrics receives the counters; nil means Default.
	Metrics *Metrics
	// Logger, if set, receives pion's logs; by default they are dropped.
	Logger logging.LoggerFactory
}

// PathKind classifies the selected candidate pair of a link.
type PathKind uint8

// Path kinds.
const (
	// PathHost: both candidates are host addresses (same network, or a
	// public host).
	PathHost PathKind = iota
	// PathSrflx: direct, through at least one NAT mapping (a
	// server-reflexive or peer-reflexive candidate): a punched hole.
	PathSrflx
	// PathRelay: at least one candidate is relayed by a TURN server.
	PathRelay
	pathKinds
)

func (k PathKind) String() string {
	switch k {
	case PathHost:
		return "host"
	case PathSrflx:
		return "srflx"
	case PathRelay:
		return "relay"
	}
	return fmt.Sprintf("PathKind(%d)", uint8(k))
}

// Path describes the candidate pair a link runs on.
type Path struct {
	Local, Remote         string // candidate types: host, srflx, prflx, relay
	LocalAddr, RemoteAddr string // ip:port of each candidate
}

// Kind classifies the pair.
func (p Path) Kind() PathKind {
	switch {
	case p.Local == "relay" || p.Remote == "relay":
		return PathRelay
	case p.Local == "host" && p.Remote == "host":
		return PathHost
	}
	return PathSrflx
}

func (p Path) String() string {
	return fmt.Sprintf("%s %s <-> %s %s", p.Local, p.LocalAddr, p.Remote, p.RemoteAddr)
}

func pathOf(pair *pice.CandidatePair) Path {
	return Path{
		Local: pair.Local.Type().String(), Remote: pair.Remote.Type().String(),
		LocalAddr:  net.JoinHostPort(pair.Local.Address(), fmt.Sprint(pair.Local.Port())),
		RemoteAddr: net.JoinHostPort(pair.Remote.Address(), fmt.Sprint(pair.Remote.Port())),
	}
}

// Link is a transport.Conn to one peer over the path ICE selected. When
// the connection ends (closed, failed, peer gone), the QUIC endpoint and
// the ICE agent under it are released; Released is closed then.
type Link struct {
	transport.Conn
	path     atomic.Pointer[Path]
	elapsed  time.Duration
	released chan struct{}
}

// Path returns the candidate pair the link runs on now.
func (l *Link) Path() Path { return *l.path.Load() }

// Elapsed is how long Connect took, from the start of gathering to the
// authenticated QUIC connection.
func (l *Link) Elapsed() time.Duration { return l.elapsed }

// Released is closed once the connection has ended and everything under
// it (QUIC endpoint, ICE agent, sockets, goroutines) is released.
func (l *Link) Released() <-chan struct{} { return l.released }

// Controlling reports whether the node with key local is the controlling
// agent against the node with key remote: the one with the smaller node
// ID (transport.KeyID), so that two simultaneous attempts agree on roles
// and converge on one connection; equal IDs fall back to the keys' bytes.
func Controlling(local, remote ed25519.PublicKey) bool {
	a, b := transport.KeyID(local), transport.KeyID(remote)
	if a != b {
		return a < b
	}
	return bytes.Compare(local, remote) < 0
}

// Connect negotiates a path to the peer holding remote over sig (gathering
// host, server-reflexive and relayed candidates, trickling them, running
// the connectivity checks; the controlling side nominates), then runs QUIC
// over the selected pair with cfg.Transport's identity and admission: the
// controlling side dials and pins remote, the controlled side accepts and
// refuses any other key (transport.ErrWrongKey). ctx bounds the whole
// negotiation.
func Connect(ctx context.Context, cfg Config, remote ed25519.PublicKey, sig Signaller) (*Link, error) {
	start := time.Now()
	local := cfg.Transport.Identity.Public()
	if local == nil {
		return nil, errors.New("ice: Config.Transport.Identity has no key")
	}
	if len(remote) != ed25519.PublicKeySize {
		return nil, errors.New("ice: remote key is not an ed25519 public key")
	}
	m := cfg.Metrics
	if m == nil {
		m = Default
	}
	controlling := Controlling(local, remote)
	acfg, err := cfg.agentConfig()
	if err != nil {
		return nil, err
	}
	agent, err := pice.NewAgent(acfg)
	if err != nil {
		return nil, fmt.Errorf("ice: new agent: %w", err)
	}
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := newNegotiation(ictx, cancel, agent, sig)
	ic, err := n.run(controlling, m)
	if err != nil {
		cancel()
		n.wait()
		_ = agent.GracefulClose()
		return nil, err
	}
	pair, err := agent.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		cancel()
		n.wait()
		_ = agent.GracefulClose()
		m.NoPath.Add(1)
		m.HolePunchFailures.Add(1)
		return nil, fmt.Errorf("%w: connected without a selected pair", ErrNoPath)
	}
	// Late trickled candidates are of no use once a pair is selected.
	cancel()
	n.wait()
	l := &Link{released: make(chan struct{})}
	p := pathOf(pair)
	l.path.Store(&p)
	relayed := new(atomic.Bool)
	relayed.Store(p.Kind() == PathRelay)
	if p.Kind() == PathRelay {
		m.HolePunchFailures.Add(1)
	} else {
		m.HolePunchSuccesses.Add(1)
	}
	// The controlled side learns of a better nomination later; keep the
	// path and the relayed-bytes accounting current.
	_ = agent.OnSelectedCandidatePairChange(func(lc, rc pice.Candidate) {
		np := pathOf(&pice.CandidatePair{Local: lc, Remote: rc})
		l.path.Store(&np)
		relayed.Store(np.Kind() == PathRelay)
	})
	remoteAddr := &net.UDPAddr{IP: net.ParseIP(pair.Remote.Address()), Port: pair.Remote.Port()}
	localAddr := &net.UDPAddr{IP: net.ParseIP(pair.Local.Address()), Port: pair.Local.Port()}
	pc := newPacketConn(agentConn{ic, agent}, localAddr, remoteAddr, relayed, &m.RelayedBytes)
	conn, q, err := runQUIC(ctx, cfg.Transport, pc, controlling, remote)
	if err != nil {
		return nil, err
	}
	l.Conn = conn
	l.elapsed = time.Since(start)
	kind := p.Kind()
	m.Links[kind].Add(1)
	m.Open[kind].Add(1)
	go func() {
		<-conn.Done()
		_ = q.Close() // closes pc, which closes the agent
		m.Open[kind].Add(-1)
		close(l.released)
	}()
	return l, nil
}

// agentConn closes the whole agent, waiting for its goroutines, when the
// conn is closed.
type agentConn struct {
	*pice.Conn
	agent *pice.Agent
}

func (c agentConn) Close() error { return c.agent.GracefulClose() }

// runQUIC runs a one-connection QUIC endpoint on pc: the controlling side
// dials the peer's pinned key, the controlled side accepts and checks the
// key. On failure it closes the endpoint and pc.
func runQUIC(ctx context.Context, tc transport.Config, pc *packetConn, controlling bool, remote ed25519.PublicKey) (transport.Conn, *transport.QUIC, error) {
	tc.PacketConn = pc
	tc.ListenAddr = ""
	tc.AdvertiseAddr = ""
	q, err := transport.ListenQUIC(tc)
	if err != nil {
		_ = pc.Close()
		return nil, nil, err
	}
	timeout := tc.HandshakeTimeout
	if timeout <= 0 {
		timeout = transport.DefaultHandshakeTimeout
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn transport.Conn
	if controlling {
		conn, err = q.Dial(qctx, pc.remote.String(), remote)
	} else {
		conn, err = q.Accept(qctx)
		if err == nil && !conn.RemoteKey().Equal(remote) {
			got := conn.RemoteKey()
			_ = conn.Close("wrong key")
			err = fmt.Errorf("%w: got %x, want %x", transport.ErrWrongKey, got[:8], remote[:8])
		}
	}
	if err != nil {
		_ = q.Close()
		return nil, nil, fmt.Errorf("ice: quic over the selected pair: %w", err)
	}
	return conn, q, nil
}

// negotiation is one side of the ICE exchange.
//
// Candidates trickle as they are gathered, but the connectivity checks
// start only once both sides know all of each other's candidates: each
// side sends ready when it has gathered (and sent) all its own candidates
// and applied all the peer's (end-of-candidates received), and starts
// checking when the peer's ready arrives. pion/ice/v2 takes a check from
// an address it does not know yet for a new peer-reflexive candidate and
// never corrects its type when the signalled candidate comes later (RFC
// 8838 §11 asks for that), so with checks racing the signalling (which
// crosses the overlay, slower than the direct path) a relayed candidate
// would pass for a direct one, with a direct one's priority, and be
// nominated over a working direct pair; the barrier costs one signalling
// round trip.
type negotiation struct {
	agent  *pice.Agent
	sig    Signaller
	ctx    context.Context // cancelled once connected or failed
	cancel context.CancelFunc
	creds  chan Signal
	wg     sync.WaitGroup

	gathered  chan struct{} // all our candidates sent (or GatherTimeout)
	gatherEnd sync.Once
	peerAll   chan struct{} // all the peer's candidates applied
	peerReady chan struct{} // the peer's ready arrived

	mu  sync.Mutex
	err error // the first signalling error
}

// Bounds of the barrier.
const (
	// gatherTimeout bounds how long a side waits for its own gathering
	// (a STUN or TURN server that does not answer) before it declares
	// its candidates complete; later candidates are used but not sent.
	gatherTimeout = 5 * time.Second
	// applyTimeout bounds the wait for pion to apply the remote
	// candidates (it adds each in a goroutine of its own).
	applyTimeout = time.Second
	// maxRemoteCandidates bounds what a peer may make this agent check:
	// every candidate is a destination of binding requests.
	maxRemoteCandidates = 32
)

func newNegotiation(ctx context.Context, cancel context.CancelFunc, agent *pice.Agent, sig Signaller) *negotiation {
	return &negotiation{
		agent: agent, sig: sig, ctx: ctx, cancel: cancel,
		creds:     make(chan Signal, 1),
		gathered:  make(chan struct{}),
		peerAll:   make(chan struct{}),
		peerReady: make(chan struct{}),
	}
}

func (n *negotiation) fail(err error) {
	n.mu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.mu.Unlock()
	n.cancel()
}

func (n *negotiation) signallingErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// wait waits for the receiving goroutine (n.ctx must be done).
func (n *negotiation) wait() { n.wg.Wait() }

// send sends s; a failure ends the negotiation.
func (n *negotiation) send(s Signal) bool {
	if err := n.sig.Send(n.ctx, s); err != nil {
		if n.ctx.Err() == nil {
			n.fail(fmt.Errorf("%w: send %s: %w", ErrSignalling, s.Kind, err))
		}
		return false
	}
	return true
}

// endGathering sends end-of-candidates, once.
func (n *negotiation) endGathering() {
	n.gatherEnd.Do(func() {
		n.send(Signal{Kind: SignalEndOfCandidates})
		close(n.gathered)
	})
}

// await waits for ch or the end of the negotiation, naming what it waited
// for in the error.
func (n *negotiation) await(ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-n.ctx.Done():
		if err := n.signallingErr(); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrSignalling, what, n.ctx.Err())
	}
}

// run exchanges credentials and candidates and runs the checks; it
// returns the agent's conn once a pair is selected.
func (n *negotiation) run(controlling bool, m *Metrics) (*pice.Conn, error) {
	a := n.agent
	_ = a.OnConnectionStateChange(func(s pice.ConnectionState) {
		if s == pice.ConnectionStateFailed {
			n.cancel()
		}
	})
	_ = a.OnCandidate(func(c pice.Candidate) {
		select {
		case <-n.gathered:
			return // declared complete already (gatherTimeout)
		default:
		}
		if c == nil {
			n.endGathering()
			return
		}
		n.send(Signal{Kind: SignalCandidate, Candidate: c.Marshal()})
	})
	ufrag, pwd, err := a.GetLocalUserCredentials()
	if err != nil {
		return nil, fmt.Errorf("ice: local credentials: %w", err)
	}
	n.wg.Add(1)
	go n.receive()
	if !n.send(Signal{Kind: SignalCredentials, Ufrag: ufrag, Pwd: pwd}) {
		return nil, n.signallingErr()
	}
	if err := a.GatherCandidates(); err != nil {
		return nil, fmt.Errorf("ice: gather: %w", err)
	}
	var rc Signal
	select {
	case rc = <-n.creds:
	case <-n.ctx.Done():
		if err := n.signallingErr(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: no credentials from the peer: %w", ErrSignalling, n.ctx.Err())
	}
	gatherTimer := time.AfterFunc(gatherTimeout, n.endGathering)
	defer gatherTimer.Stop()
	if err := n.await(n.gathered, "gathering"); err != nil {
		return nil, err
	}
	if err := n.await(n.peerAll, "the peer's candidates"); err != nil {
		return nil, err
	}
	if !n.send(Signal{Kind: SignalReady}) {
		return nil, n.signallingErr()
	}
	if err := n.await(n.peerReady, "the peer's ready"); err != nil {
		return nil, err
	}
	m.HolePunchAttempts.Add(1)
	var ic *pice.Conn
	if controlling {
		ic, err = a.Dial(n.ctx, rc.Ufrag, rc.Pwd)
	} else {
		ic, err = a.Accept(n.ctx, rc.Ufrag, rc.Pwd)
	}
	if err != nil {
		m.HolePunchFailures.Add(1)
		if serr := n.signallingErr(); serr != nil {
			return nil, serr
		}
		m.NoPath.Add(1)
		return nil, fmt.Errorf("%w: %v", ErrNoPath, err)
	}
	return ic, nil
}

// receive applies the peer's signals until n.ctx is done.
func (n *negotiation) receive() {
	defer n.wg.Done()
	var gotCreds, gotEnd, gotReady bool
	added := 0
	for {
		s, err := n.sig.Receive(n.ctx)
		if err != nil {
			if n.ctx.Err() == nil {
				n.fail(fmt.Errorf("%w: receive: %w", ErrSignalling, err))
			}
			return
		}
		switch s.Kind {
		case SignalCredentials:
			if gotCreds {
				continue // one set per negotiation; a restart is a new one
			}
			gotCreds = true
			n.creds <- s
		case SignalCandidate:
			if gotEnd || added >= maxRemoteCandidates {
				continue
			}
			c, err := pice.UnmarshalCandidate(s.Candidate)
			if err != nil || strings.HasSuffix(c.Address(), ".local") {
				continue // malformed, or mDNS, which is off
			}
			if n.agent.AddRemoteCandidate(c) == nil {
				added++
			}
		case SignalEndOfCandidates:
			if gotEnd {
				continue
			}
			gotEnd = true
			n.waitApplied(added)
			close(n.peerAll)
		case SignalReady:
			if !gotReady {
				gotReady = true
				close(n.peerReady)
			}
		}
	}
}

// waitApplied waits, at most applyTimeout, until the agent lists want
// remote candidates: pion adds each in a goroutine of its own.
func (n *negotiation) waitApplied(want int) {
	deadline := time.Now().Add(applyTimeout)
	for {
		cs, err := n.agent.GetRemoteCandidates()
		if err != nil || len(cs) >= want || time.Now().After(deadline) {
			return
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// How long the controlling agent waits, from the start of the checks,
// before it may nominate a pair by the type of its candidates (host pairs
// at once). The waits give better pairs the time to succeed. pion's
// defaults are 500ms for server-reflexive, 1s for peer-reflexive and 2s
// for relayed candidates; with the ready barrier every signalled
// candidate is paired from the first check, so a peer-reflexive
// candidate is a NAT's fresh mapping, not a signalled candidate that has
// not arrived yet, and needs no longer than a server-reflexive one. Where
// a node behind a NAT meets a public one, the public side sees only the
// peer-reflexive candidate: pion's 1s was most of its time to connect.
// Relayed pairs keep 2s, the time a direct pair has to work first.
const (
	reflexiveAcceptanceWait = 300 * time.Millisecond
	relayAcceptanceWait     = 2 * time.Second
)

// agentConfig builds pion's configuration: UDP over IPv4, host, srflx and
// relayed candidates, mDNS off, gathering on the chosen interfaces.
func (cfg Config) agentConfig() (*pice.AgentConfig, error) {
	var urls []*stun.URI
	for _, a := range cfg.STUN {
		host, port, err := splitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("ice: STUN server %q: %w", a, err)
		}
		urls = append(urls, &stun.URI{Scheme: stun.SchemeTypeSTUN, Host: host, Port: port, Proto: stun.ProtoTypeUDP})
	}
	for _, t := range cfg.TURN {
		host, port, err := splitHostPort(t.Addr)
		if err != nil {
			return nil, fmt.Errorf("ice: TURN server %q: %w", t.Addr, err)
		}
		urls = append(urls, &stun.URI{Scheme: stun.SchemeTypeTURN, Host: host, Port: port, Proto: stun.ProtoTypeUDP,
			Username: t.Username, Password: t.Password})
	}
	logger := cfg.Logger
	if logger == nil {
		logger = silentLogger()
	}
	types := []pice.CandidateType{pice.CandidateTypeHost, pice.CandidateTypeServerReflexive, pice.CandidateTypeRelay}
	if cfg.RelayOnly {
		if len(cfg.TURN) == 0 {
			return nil, errors.New("ice: RelayOnly without a TURN server")
		}
		types = []pice.CandidateType{pice.CandidateTypeRelay}
	}
	reflexiveWait, relayWait := reflexiveAcceptanceWait, relayAcceptanceWait
	if cfg.RelayOnly {
		relayWait = 0 // every pair is relayed: nothing better can come
	}
	ac := &pice.AgentConfig{
		SrflxAcceptanceMinWait: &reflexiveWait,
		PrflxAcceptanceMinWait: &reflexiveWait,
		RelayAcceptanceMinWait: &relayWait,
		Urls:                   urls,
		NetworkTypes:           []pice.NetworkType{pice.NetworkTypeUDP4},
		CandidateTypes:         types,
		MulticastDNSMode:       pice.MulticastDNSModeDisabled,
		Net:                    cfg.Net,
		IncludeLoopback:        cfg.IncludeLoopback,
		LoggerFactory:          logger,
	}
	if len(cfg.Interfaces) > 0 {
		names := slices.Clone(cfg.Interfaces)
		ac.InterfaceFilter = func(name string) bool { return slices.Contains(names, name) }
	}
	return ac, nil
}

func splitHostPort(a string) (string, int, error) {
	host, ps, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscan(ps, &port); err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}
