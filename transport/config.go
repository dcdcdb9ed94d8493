package transport

import (
	"context"
	"crypto/ed25519"
	"net"
	"time"
)

// Transport opens and accepts authenticated connections to peers named by
// address and public key.
type Transport interface {
	// Dial connects to addr and checks that the peer holds key; it fails
	// with ErrWrongKey if not, ErrNotAdmitted if admission refuses either
	// side. A nil key pins nothing: the peer's key is learned from the
	// handshake (Conn.RemoteKey) and only admission applies. Use it only
	// where trusting whoever answers at addr is acceptable (a seed given
	// as host:port).
	Dial(ctx context.Context, addr string, key ed25519.PublicKey) (Conn, error)
	// Accept returns the next inbound, authenticated connection.
	Accept(ctx context.Context) (Conn, error)
	// Addr returns the address other nodes dial.
	Addr() string
	// PublicKey returns this node's public key, the one peers pin.
	PublicKey() ed25519.PublicKey
	// Sign signs msg with this node's identity key (ed25519), so that a
	// layer above can vouch for what this node says (the runtime signs its
	// broadcasts' origins).
	Sign(msg []byte) []byte
	// Stats returns a snapshot of the counters.
	Stats() Stats
	// Close closes the listener and every connection. It is idempotent.
	Close() error
}

// Conn is one authenticated, bidirectional, ordered, reliable stream of
// frames with one peer. Its methods are safe for concurrent use.
type Conn interface {
	// RemoteKey returns the peer's authenticated public key.
	RemoteKey() ed25519.PublicKey
	// RemoteAddr returns the peer's network address.
	RemoteAddr() string
	// Send queues one frame without blocking. It returns ErrSendQueueFull
	// when the queue (Config.SendQueueFrames) is full, ErrFrameTooLarge
	// above Config.MaxFrameBytes and ErrClosed after Close or failure. The
	// caller must not modify frame afterwards.
	Send(frame []byte) error
	// Queued returns how many frames Send queued that are not yet
	// written to the network: the send queue's depth, which a driver
	// exports as a metric.
	Queued() int
	// Receive returns the next frame. Frames still buffered when the
	// connection ends are returned before the error. A frame announced
	// larger than MaxFrameBytes closes the connection with
	// ErrFrameTooLarge before its body is read.
	Receive(ctx context.Context) ([]byte, error)
	// Close starts closing: the frames already queued are flushed
	// (bounded by Config.CloseTimeout), then the connection closes with
	// reason, which the peer reads from Err as a *CloseError. Close does
	// not wait; Done closes when it is over. It is idempotent.
	Close(reason string) error
	// CloseWithin is Close with the flush bounded by flush instead of
	// Config.CloseTimeout: a node that leaves the cluster gives its last
	// frames the time its caller allows. Only the first Close or
	// CloseWithin counts.
	CloseWithin(reason string, flush time.Duration) error
	// Protocol returns the version of the application protocol the two
	// ends agreed on (ALPN): the driver sends nothing a peer of that
	// version cannot decode.
	Protocol() int
	// Done is closed when the connection is gone: closed, failed, peer
	// gone or idle timeout.
	Done() <-chan struct{}
	// Err returns why the connection ended, once Done is closed, else nil.
	Err() error
}

// Admission restricts which peers may connect. The zero value admits any
// key. Otherwise a peer is admitted if its certificate is signed by CAKey
// or by one of ExtraCAKeys (see IssueCertificate), or its key is in
// AllowList; others are refused in the TLS handshake, in both directions.
type Admission struct {
	// CAKey is the cluster CA's public key.
	CAKey ed25519.PublicKey
	// ExtraCAKeys are further CA keys trusted like CAKey: during a
	// rotation, the previous CA's key (docs/operations.md, "Rotating the
	// cluster secret").
	ExtraCAKeys []ed25519.PublicKey
	// AllowList holds the public keys admitted without a certificate.
	AllowList []ed25519.PublicKey
}

func (a Admission) enabled() bool {
	return len(a.CAKey) != 0 || len(a.ExtraCAKeys) != 0 || len(a.AllowList) != 0
}

// Config configures ListenQUIC. The zero value of every field except
// Identity means the default listed with it.
type Config struct {
	// Identity is the node's key pair and optional CA-issued certificate.
	Identity Identity
	// ListenAddr is the UDP address to listen on. Default "127.0.0.1:0".
	ListenAddr string
	// PacketConn, if set, is the socket to use instead of listening on
	// ListenAddr: one with options of its own, or a wrapper that counts
	// bytes for a measurement. The transport closes it on Close. Like the
	// socket it opens itself, it is wrapped so that transient send errors
	// are loss (doc.go, "Send errors").
	PacketConn net.PacketConn
	// MaxProtocol caps the application protocol versions offered (ALPN):
	// 0 offers every one this transport speaks (ProtocolVersion); 1 or 2
	// runs as an agent of that version would, to test a rolling upgrade.
	MaxProtocol int
	// AdvertiseAddr is what Addr returns. Default: the bound address.
	AdvertiseAddr string
	// MaxFrameBytes bounds one frame, both ways. Default 1 MiB.
	MaxFrameBytes int
	// SendQueueFrames bounds each connection's send queue. Default 4096.
	SendQueueFrames int
	// KeepAlivePeriod is how long a connection that received nothing
	// waits before it sends a PING (the accepting end a quarter longer,
	// doc.go, "Defaults"). Default: a fifth of IdleTimeout, 200ms at the
	// default idle timeout.
	KeepAlivePeriod time.Duration
	// IdleTimeout ends a connection that received nothing for this long
	// while this host kept its own time (silence.go): time during which
	// the process was not running (a starved or paused host) does not
	// count. Default 1s: a live peer answers a keep-alive well inside it,
	// and a silently dead peer is noticed within about a second and a
	// quarter.
	IdleTimeout time.Duration
	// MaxSilence ends a connection that received nothing for this long
	// whatever this host's own punctuality: QUIC's idle timeout, the
	// backstop of IdleTimeout. Default 10 × IdleTimeout; never below
	// IdleTimeout. QUIC takes the smaller of the two ends' values (and
	// at least three probe timeouts of the path): toward a peer of an
	// earlier version, which offers its IdleTimeout, the backstop is that
	// peer's idle timeout, as before. The in-memory transport has no
	// starved hosts and ignores it.
	MaxSilence time.Duration
	// HandshakeTimeout bounds the TLS handshake and the stream set-up of
	// Dial and Accept. Default 5s.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds how long Conn.Close flushes queued frames and
	// waits for the peer to acknowledge. Default 500ms.
	CloseTimeout time.Duration
	// Admission restricts which peers may connect.
	Admission Admission
	// DatagramBudget bounds the datagrams (Datagrams) whose tag or
	// signature this transport checks per second, a burst of a quarter second's
	// worth (at least 256) allowed; the rest are dropped and counted
	// (Stats.DatagramsDropped), so that a flood of forged datagrams costs
	// a bounded CPU. Default 1000: a node receives about one probe and
	// one answer a second from its probes, and as many from each member
	// probing it.
	DatagramBudget int
	// SignedDatagrams seals every datagram with an ed25519 signature and
	// takes only signed ones, as agents before tagged datagrams did (up to
	// 28f5729), to test a rolling upgrade, as MaxProtocol does. Without
	// it a transport takes both and answers a peer in the format of the
	// last datagram it took from it.
	SignedDatagrams bool
}

// Defaults. The idle timeout is chosen so a silently dead peer is noticed
// within about a second, which the membership layer relies on for failure
// detection; quic-go's own defaults (keep-alive off, 30s idle) suit
// clients, not a failure detector. The others are guesses to validate.
const (
	DefaultMaxFrameBytes   = 1 << 20
	DefaultSendQueueFrames = 4096
	DefaultIdleTimeout     = time.Second
	// DefaultKeepAlivePeriod is KeepAlivePeriod's default at the default
	// idle timeout; with another IdleTimeout the default is a fifth of it.
	DefaultKeepAlivePeriod  = DefaultIdleTimeout / 5
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultCloseTimeout     = 500 * time.Millisecond
)

// defaultKeepAlive is Config.KeepAlivePeriod's default for an idle
// timeout: a fifth of it, so that several keep-alives, their
// acknowledgements and QUIC's retransmissions of lost ones come within
// the idle timeout even on a lossy path (doc.go, "Defaults").
func defaultKeepAlive(idle time.Duration) time.Duration {
	return idle / 5
}

// maxSilenceFactor is Config.MaxSilence's default, in idle timeouts.
const maxSilenceFactor = 10

func (c Config) withDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:0"
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.SendQueueFrames <= 0 {
		c.SendQueueFrames = DefaultSendQueueFrames
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.KeepAlivePeriod <= 0 {
		c.KeepAlivePeriod = defaultKeepAlive(c.IdleTimeout)
	}
	if c.MaxSilence <= 0 {
		c.MaxSilence = maxSilenceFactor * c.IdleTimeout
	}
	c.MaxSilence = max(c.MaxSilence, c.IdleTimeout)
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	return c
}
