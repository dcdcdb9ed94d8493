// Package ice connects two nodes that may sit behind NATs: it finds a path
// between them with ICE (RFC 8445, pion/ice/v2) — host, server-reflexive
// (STUN) and relayed (TURN) candidates, connectivity checks, nomination —
// and runs the transport's QUIC connection over the selected pair, with
// the same pinned ed25519 identities and cluster admission as a direct
// dial (transport.ListenQUIC over a given packet conn). The design and
// the NAT matrix it is tested on are in docs/nat.md.
//
// # Roles and signalling
//
// The node with the smaller ID (transport.KeyID) is the controlling agent:
// it nominates the pair and dials QUIC, pinning the peer's key; the other
// accepts and refuses any other key. Both sides derive the roles from the
// two keys alone, so two simultaneous attempts agree. The agents exchange
// credentials, candidates (trickled as gathered), end-of-candidates and a
// ready barrier through a Signaller, as opaque messages (Signal,
// MarshalBinary, UnmarshalSignal) that the overlay carries through a
// rendezvous node (membership.Node.ConnectICE, gossip.Signal);
// MemSignallers pass them in memory. mDNS candidates are
// off; host candidates come only from Config.Interfaces (or every
// non-loopback interface), on Config.Net (the host's, or a pion vnet).
//
// # Under QUIC
//
// pion/ice/v2's Conn is connected and its deadlines do nothing, while
// quic-go wants a net.PacketConn and stops its read loop on Close by
// setting a read deadline: the adapter here reads the agent's conn in a
// goroutine of its own and implements the read deadline itself, so closing
// the QUIC endpoint returns.
//
// # Relay
//
// StartRelay serves STUN to anyone and TURN to cluster members only: the
// credentials are an HMAC of "<expiry>:<node ID>" under a key derived from
// the cluster CA (RelayKey, RelayCredentials), so strangers cannot
// allocate; each node ID holds at most MaxAllocationsPerPeer allocations
// and relays at most PeerBytesPerSecond.
//
// # Metrics
//
// Metrics counts links by path kind (host, srflx, relay), hole-punch
// attempts, successes and failures, and relayed bytes; Relay.Stats counts
// the relay's allocations, refusals and bytes.
package ice
