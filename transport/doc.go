// Package transport moves frames between plumview nodes: authenticated,
// ordered, reliable connections to peers named by address and public key.
//
// Two implementations share one contract (Transport and Conn): QUIC, for real
// networks, and MemNetwork, an in-memory network with fault injection for
// tests. The wire codec for the core messages lives in the codec subpackage.
//
// # Identity and pinning
//
// A node's identity is its long-lived ed25519 key (Identity, stored by
// LoadOrCreateIdentity as a PKCS#8 PEM file of mode 0600). The cores name
// peers by KeyID(pub), the first 8 bytes of SHA-256 of the key. Over QUIC
// each node presents, in TLS 1.3, a certificate for its key: self-signed, or
// issued by the cluster CA (IssueCertificate). The dialler pins the key it
// expects — the one that travelled with the address — in
// tls.Config.VerifyConnection, which runs on every handshake; session
// tickets are disabled and 0-RTT is off, so no connection skips the check.
// The server requires a client certificate, so authentication is mutual and
// Accept returns the dialler's key. TLS's CertificateVerify proves the peer
// holds the private key of the certificate it shows. The ALPN names the
// version of what the frames carry: "plumview/3", or "plumview/2" or
// "plumview/1" with an agent of an earlier version (Conn.Protocol).
//
// # Admission
//
// The zero Admission admits any key: pinning alone tells the dialler whom it
// reached. With Admission.CAKey, Admission.ExtraCAKeys or
// Admission.AllowList set, a peer must present a certificate signed by one
// of the CA keys (within its validity period) or hold an allow-listed key;
// others are refused inside the handshake, in both directions, and counted
// in Stats.Rejected. ClusterCAFromSecret derives a CA key pair from a
// shared secret, so every holder of the secret can certify its own key.
//
// # Streams and framing
//
// The dialler opens one bidirectional QUIC stream per connection, writes one
// preamble byte (QUIC announces a stream only once data flows) and waits for
// the acceptor to echo it, so Dial returns only after both sides accepted
// each other. Both directions of that one stream carry records, each a
// uvarint header h = length<<1 | control followed by length bytes:
//
//   - control 0: a data frame; the receiver refuses length > MaxFrameBytes
//     from the header alone, before allocating or reading the body, counts
//     it and closes the connection with ErrFrameTooLarge;
//   - control 1: a close record carrying the reason given to Conn.Close
//     (at most 1 KiB). It follows every frame queued before Close, so the
//     peer reads them all; the peer then closes the QUIC connection, which
//     tells the closer the flush is complete (bounded by CloseTimeout).
//
// Each connection has a bounded send queue (SendQueueFrames) drained by one
// writer goroutine, so Send never blocks, and one reader goroutine feeding a
// small receive buffer (64 frames); when the application stops reading, QUIC
// flow control pushes back on the sender, whose queue then fills.
// Simultaneous dials in both directions give two valid connections; the
// runtime chooses which to keep.
//
// # Datagrams
//
// Besides connections, both transports carry authenticated, connectionless
// datagrams (Datagrams, DatagramsOf): one UDP packet on the transport's own
// socket, beside QUIC's, for a small message to a peer this node holds no
// connection to, whose loss the protocol tolerates (a liveness probe and
// its answer, a shuffle's reply). The first byte has its two top bits
// clear, so QUIC takes the packet for a non-QUIC one (RFC 9443) and
// quic-go hands it over (quic.Transport.ReadNonQUICPacket). Then come the
// sender's key, its clock (Unix milliseconds), its CA-issued certificate
// if it has one (length-prefixed), the payload (at most
// MaxDatagramPayload bytes, and the whole within 1,232 bytes) and a
// 16-byte tag (HMAC-SHA-256) over a domain tag, the receiver's key and all
// the rest, under a key only the sender and the receiver can derive: an
// X25519 agreement between the two identity keys, each converted from
// ed25519, bound to the pair by HKDF (datagramkeys.go). So a datagram
// proves its sender to its receiver and cannot be replayed to another
// node, at a few microseconds a datagram where an ed25519 signature and
// its check cost some 70 µs; deriving a pair's key costs about 100 µs,
// once per peer. Agents before tagged datagrams (up to 28f5729) sign
// each datagram with ed25519 instead (format 1) and refuse tagged ones
// as malformed; a transport takes both and answers each peer in the
// format of the last datagram it took from it, so during a rolling
// upgrade an old agent refuses only the datagrams of a new agent it
// never sent one to (the probe then goes again over a connection, the
// runtime's fallback); a peer that signs is sent a tagged datagram once
// a minute, never an answer (Datagrams.SendDatagramAnswer), so that two
// agents upgraded since leave the signed format. The receiver refuses, before any check of
// the tag, a malformed datagram and one sealed more than a minute from
// its own clock; then, at most Config.DatagramBudget a second (a burst of
// a quarter second's worth, at least 256), it checks the tag or
// signature, refuses a datagram it
// took already (a replay), and applies its admission (a certificate is
// checked once a minute per sender, then remembered); what it refuses or
// drops is counted (Stats). A datagram goes to an IP address and port
// only: a name would be resolved on the caller's goroutine. A datagram
// is not encrypted: what it carries must be fit to be read by anyone on
// the path. A transport capped below protocol version 3
// (Config.MaxProtocol), as an agent of an earlier version, neither sends
// nor reads datagrams, and neither does one whose certificate is above
// 640 bytes.
//
// # Send errors
//
// The host may refuse to send a datagram although nothing is wrong with the
// connection: its own firewall drops it (sendmsg fails with EPERM), the
// queue discipline or socket memory is full (ENOBUFS, EAGAIN), an ICMP
// error is pending on the socket (ECONNREFUSED) or a route is missing for a
// moment (EHOSTUNREACH, ENETUNREACH, ENETDOWN). quic-go ends the connection
// on any error writing to its socket, so one such refusal cut every
// connection it hit ("connection failed: write udp …: sendmsg: operation
// not permitted"). The QUIC transport therefore hands quic-go its socket
// wrapped (sendloss.go): a write refused with one of these errors is
// counted in Stats.SendErrors (by errno, summed in SendErrorsDropped) and
// reported as done, so the datagram is simply lost and QUIC's loss recovery
// resends what it carried. A refusal that lasts (a firewall rule dropping
// everything to a peer) looks like lasting loss and ends the connection
// through the idle timeout, or fails the dial through the handshake timeout,
// as an unreachable peer would; the dial no longer fails at once on a
// missing route.
//
// Other errors pass through unchanged, in particular EMSGSIZE (a packet
// over the path's MTU, which quic-go would use to probe the path if its
// discovery were on; "Defaults" below) and EIO, on which it stops using
// segmentation offload. The wrapper keeps every interface quic-go looks for
// on a *net.UDPConn (quic.OOBCapablePacketConn, SetWriteBuffer, ReadBatch),
// so segmentation offload, ECN, the don't-fragment bit and batched reads
// stay on; a Config.PacketConn without them is wrapped plainly. A read that
// returns ECONNREFUSED, EHOSTUNREACH or ENETUNREACH (reported only on a
// socket with IP_RECVERR) is retried and counted in
// Stats.ReceiveErrorsIgnored instead of closing the whole transport.
//
// # Defaults
//
// MaxFrameBytes 1 MiB and SendQueueFrames 4096 are guesses to validate.
// IdleTimeout 1s is chosen so that a peer that dies silently (no
// CONNECTION_CLOSE) is noticed within about a second (measured: 1.25 s on
// loopback), which the membership layer uses as its failure detector;
// quic-go's defaults (no keep-alive, 30 s) suit clients, not failure
// detection. The transport judges that silence itself, and only while its
// own process runs on time (silence.go, "Silence judged by a host that
// keeps its own time"); QUIC's idle timeout, MaxSilence (10 s), is the
// backstop. Stats.SilenceTimeouts and Stats.SilenceForgiven count the
// watch's verdicts and its late looks.
//
// The keep-alives only keep a live, idle link from looking silent: how
// soon a dead peer is noticed is the idle timeout's, not theirs. quic-go
// sends a PING once nothing has arrived for KeepAlivePeriod (by default a
// fifth of the idle timeout, 200 ms); the accepting end of a connection
// waits a quarter longer (250 ms), so that on an idle link the dialler's
// PINGs and their acknowledgements keep both ends alive and the acceptor
// pings only when one of the dialler's is late or lost, half the
// keep-alive packets of two ends pinging alike. That holds while the round
// trip and the acknowledgement delay (up to 25 ms) stay under a quarter of
// the period, 50 ms by default: on a slower path both ends ping. The
// period is what lets a lossy path stay up: with keep-alives at two fifths
// of the idle timeout (400 ms; a fifth less idle CPU at 64 nodes), 20 idle
// links between processes on loopback whose sockets each dropped 30 % of
// the packets they received suffered 10 and 7 silence timeouts in 30 s in
// two runs, against 0 and 1 at 200 ms (QUIC's retransmissions of a lost
// PING back off, so few fit in the rest of the idle timeout;
// docs/benchmarks.md, "Idle: keep-alives at two fifths of the idle
// timeout, tried"). HandshakeTimeout 5s and
// CloseTimeout 500ms are guesses to validate.
//
// Path MTU discovery is off: QUIC's packets keep quic-go's initial size,
// UDP payloads of 1,280 bytes (1,328-byte IPv6 packets, 1,308-byte IPv4
// ones), which quic-go assumes every path carries. Its discovery probes
// each new connection's path with payloads of up to 1,452 bytes (about
// 5.6 KB on loopback, where every probe succeeds), and a gossip node
// opens connections all the time (shuffles, link requests, probes that
// fall back to a connection) for frames of a few hundred bytes: at 64
// nodes the probes were 14 to 23 % of the idle bytes, and larger
// packets saved nothing measurable on 4 KiB payloads (docs/benchmarks.md,
// "Path MTU discovery off").
//
// # In-memory network
//
// MemNetwork provides the same semantics (pinning, admission, errors, close
// reasons, frame limit, bounded queue, idle timeout after a crash) with only
// goroutines, channels and timers, so tests run inside testing/synctest
// bubbles with virtual time. It injects per-frame delay (order preserved per
// connection), loss deterministic from a seed, partitions, a per-frame hook
// and crashes.
package transport
