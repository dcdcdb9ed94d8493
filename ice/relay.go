package ice

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	ptransport "github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/turn/v2"

	"github.com/plumview/plumview/transport"
)

// Domain separation of the relay key derivation: fixed for the life of
// the credential format.
const (
	relayKeySalt = "plumview relay credentials v1"
	relayKeyInfo = "TURN long-term credential HMAC key"
)

// RelayKey derives the key relay credentials are made with from the
// cluster CA's private key (transport.ClusterCAFromSecret): every node that
// holds the cluster secret derives the same key, so it can mint its own
// credentials and a relay can check them without a list of users; a
// stranger cannot.
func RelayKey(ca ed25519.PrivateKey) ([]byte, error) {
	if len(ca) != ed25519.PrivateKeySize {
		return nil, errors.New("ice: relay key: not an ed25519 private key")
	}
	return hkdf.Key(sha256.New, ca.Seed(), []byte(relayKeySalt), relayKeyInfo, 32)
}

// RelayCredentials returns the TURN username and password for the node
// holding pub, valid until expires. The username is
// "<expiry unix seconds>:<node ID in hex>" and the password the base64
// HMAC-SHA256 of the username under key, the time-limited scheme of the
// TURN REST API drafts, so the relay learns the node ID it charges the
// quota to and refuses credentials past their expiry.
func RelayCredentials(key []byte, pub ed25519.PublicKey, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + fmt.Sprintf("%016x", transport.KeyID(pub))
	return username, relayPassword(key, username)
}

func relayPassword(key []byte, username string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// RelayConfig configures StartRelay.
type RelayConfig struct {
	// PacketConn is the UDP socket STUN and TURN are served on; the relay
	// closes it on Close.
	PacketConn net.PacketConn
	// RelayIP is the address given out for relayed transport addresses:
	// the relay's public IP.
	RelayIP net.IP
	// RelayBind is the IP relay sockets are bound to. Default "0.0.0.0".
	RelayBind string
	// Net is the network relay sockets are opened on: nil for the host's,
	// a *vnet.Net in tests.
	Net ptransport.Net
	// Key checks credentials (RelayKey); required unless STUNOnly.
	Key []byte
	// STUNOnly serves STUN binding requests alone: every TURN request is
	// refused (counted in AuthRefused), and RelayIP and Key are not
	// needed.
	STUNOnly bool
	// Realm is the TURN realm. Default "plumview".
	Realm string
	// MaxAllocationsPerPeer bounds the allocations one node ID holds at
	// once. Default 8: a few links at a time, each with one allocation.
	MaxAllocationsPerPeer int
	// PeerBytesPerSecond bounds the bytes one node ID's allocations relay
	// per second, both ways together, with a burst of one second's worth;
	// the excess is dropped (QUIC's congestion control adapts). Default
	// 1 MiB/s.
	PeerBytesPerSecond int64
	// MaxCredentialLifetime refuses credentials expiring further ahead
	// than this. Default 48h.
	MaxCredentialLifetime time.Duration
	// Logger, if set, receives pion's logs; by default they are dropped.
	Logger logging.LoggerFactory
}

// Relay defaults.
const (
	DefaultMaxAllocationsPerPeer = 8
	DefaultPeerBytesPerSecond    = 1 << 20
	DefaultMaxCredentialLifetime = 48 * time.Hour
)

// RelayStats counts what a relay did.
type RelayStats struct {
	Allocations      int64 // open now
	AllocationsTotal int64 // granted since start
	AuthRefused      int64 // requests with a malformed, expired or too long-lived username (a wrong password fails the integrity check later, uncounted)
	QuotaRefused     int64 // allocations refused by MaxAllocationsPerPeer
	RelayedBytes     int64 // bytes relayed to and from peers
	DroppedBytes     int64 // bytes dropped by PeerBytesPerSecond
}

// Relay serves STUN (binding requests, for server-reflexive candidates) and
// TURN (relayed candidates, RFC 8656) for the members of one cluster, with
// per-node quotas.
type Relay struct {
	srv *turn.Server
	q   *quotas
}

// StartRelay starts serving on cfg.PacketConn.
func StartRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.PacketConn == nil || !cfg.STUNOnly && (cfg.RelayIP == nil || len(cfg.Key) == 0) {
		return nil, errors.New("ice: relay: PacketConn, RelayIP and Key are required")
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
	}
	if cfg.Realm == "" {
		cfg.Realm = "plumview"
	}
	if cfg.MaxAllocationsPerPeer <= 0 {
		cfg.MaxAllocationsPerPeer = DefaultMaxAllocationsPerPeer
	}
	if cfg.PeerBytesPerSecond <= 0 {
		cfg.PeerBytesPerSecond = DefaultPeerBytesPerSecond
	}
	if cfg.MaxCredentialLifetime <= 0 {
		cfg.MaxCredentialLifetime = DefaultMaxCredentialLifetime
	}
	if cfg.Net == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, fmt.Errorf("ice: relay: %w", err)
		}
		cfg.Net = n
	}
	logger := cfg.Logger
	if logger == nil {
		logger = silentLogger()
	}
	q := &quotas{cfg: cfg, peers: make(map[string]*peerQuota)}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   q.auth,
		LoggerFactory: logger,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            cfg.PacketConn,
			RelayAddressGenerator: q,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("ice: relay: %w", err)
	}
	return &Relay{srv: srv, q: q}, nil
}

// Close stops serving and closes every allocation and the socket.
func (r *Relay) Close() error { return r.srv.Close() }

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		Allocations:      r.q.open.Load(),
		AllocationsTotal: r.q.granted.Load(),
		AuthRefused:      r.q.authRefused.Load(),
		QuotaRefused:     r.q.quotaRefused.Load(),
		RelayedBytes:     r.q.relayed.Load(),
		DroppedBytes:     r.q.dropped.Load(),
	}
}

// ErrRelayQuota is why an allocation beyond MaxAllocationsPerPeer fails on
// the relay (the client sees 508 Insufficient Capacity).
var ErrRelayQuota = errors.New("ice: relay: allocation quota reached")

// quotas checks credentials and is the relay address generator, so it
// knows which node each allocation belongs to: pion's TURN server handles
// the requests arriving on one socket one at a time, in one goroutine,
// calling the AuthHandler for an Allocate request just before it asks
// the generator for the relay socket. So the node named by the last
// successful authentication is the one allocating. The quota test
// (TestRelayAllocationQuota) fails if that ever stops holding.
type quotas struct {
	cfg RelayConfig

	lastUser string // the node ID of the last authenticated request

	mu    sync.Mutex
	peers map[string]*peerQuota

	open, granted, authRefused, quotaRefused, relayed, dropped atomic.Int64
}

type peerQuota struct {
	allocations int
	tokens      float64
	last        time.Time
}

// auth is the TURN AuthHandler: the username must be "<expiry>:<node ID>",
// not expired nor valid for longer than allowed, and the password its HMAC.
func (q *quotas) auth(username, realm string, _ net.Addr) ([]byte, bool) {
	if q.cfg.STUNOnly {
		q.authRefused.Add(1)
		return nil, false
	}
	exp, id, ok := strings.Cut(username, ":")
	secs, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		q.authRefused.Add(1)
		return nil, false
	}
	now := time.Now()
	expires := time.Unix(secs, 0)
	if !expires.After(now) || expires.Sub(now) > q.cfg.MaxCredentialLifetime {
		q.authRefused.Add(1)
		return nil, false
	}
	q.lastUser = id
	return turn.GenerateAuthKey(username, realm, relayPassword(q.cfg.Key, username)), true
}

// Validate implements turn.RelayAddressGenerator.
func (q *quotas) Validate() error { return nil }

// AllocatePacketConn opens a relay socket for the node that just
// authenticated, within its quota.
func (q *quotas) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	id := q.lastUser
	q.mu.Lock()
	p := q.peers[id]
	if p == nil {
		p = &peerQuota{tokens: float64(q.cfg.PeerBytesPerSecond), last: time.Now()}
		q.peers[id] = p
	}
	if p.allocations >= q.cfg.MaxAllocationsPerPeer {
		q.mu.Unlock()
		q.quotaRefused.Add(1)
		return nil, nil, fmt.Errorf("%w: node %s holds %d", ErrRelayQuota, id, q.cfg.MaxAllocationsPerPeer)
	}
	p.allocations++
	q.mu.Unlock()
	conn, err := q.cfg.Net.ListenPacket(network, net.JoinHostPort(q.cfg.RelayBind, strconv.Itoa(requestedPort)))
	if err != nil {
		q.release(id)
		return nil, nil, err
	}
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		conn.Close()
		q.release(id)
		return nil, nil, errors.New("ice: relay: socket without a UDP address")
	}
	q.open.Add(1)
	q.granted.Add(1)
	return &quotaConn{PacketConn: conn, q: q, id: id}, &net.UDPAddr{IP: q.cfg.RelayIP, Port: ua.Port}, nil
}

// AllocateConn implements turn.RelayAddressGenerator: TCP relaying is not
// offered.
func (q *quotas) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errors.New("ice: relay: TCP allocations are not offered")
}

// release returns one allocation of node id; a node without allocations
// is forgotten, so the table holds only nodes with allocations open.
func (q *quotas) release(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p := q.peers[id]; p != nil {
		if p.allocations--; p.allocations <= 0 {
			delete(q.peers, id)
		}
	}
}

// take charges n bytes to node id; false if its rate is exceeded.
func (q *quotas) take(id string, n int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.peers[id]
	if p == nil { // the allocation closed while a datagram was in flight
		q.dropped.Add(int64(n))
		return false
	}
	now := time.Now()
	rate := float64(q.cfg.PeerBytesPerSecond)
	p.tokens = min(rate, p.tokens+now.Sub(p.last).Seconds()*rate)
	p.last = now
	if p.tokens < float64(n) {
		q.dropped.Add(int64(n))
		return false
	}
	p.tokens -= float64(n)
	q.relayed.Add(int64(n))
	return true
}

// quotaConn is one allocation's relay socket, charged to its node.
type quotaConn struct {
	net.PacketConn
	q      *quotas
	id     string
	closed sync.Once
}

func (c *quotaConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.q.take(c.id, n) {
			return n, addr, err
		}
	}
}

func (c *quotaConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.q.take(c.id, len(p)) {
		return len(p), nil // dropped, like a full link
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *quotaConn) Close() error {
	c.closed.Do(func() {
		c.q.open.Add(-1)
		c.q.release(c.id)
	})
	return c.PacketConn.Close()
}
