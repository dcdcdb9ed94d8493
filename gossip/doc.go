// Package gossip composes the pure stack into the engine that both
// drivers run: the HyParView membership core (package hyparview), the
// Plumtree broadcast core (package plumtree) and, when Config.Members is
// set, the full member list (package roster). The simulator (sim/) drives
// thousands of Engines over a virtual network; the runtime (membership/)
// drives one per process over QUIC. Neither reaches into a core behind it.
//
// # The contract
//
// Like the cores, an Engine is pure and deterministic: time and a seeded
// random source come from its caller; it does no I/O, starts no goroutine
// and reads no clock. Its contract is narrow, in the style of etcd raft's
// Ready:
//
//   - what comes in: Join, Leave, Broadcast (which returns the message's
//     ID), UpdateMeta, Receive, TimerFired, ConnectionFailed,
//     ConnectionClosed, ContactsResolved and SendSignal;
//   - what goes out: one Ready batch that the driver owns, with typed
//     slices of messages to send, connections to close, timers to set,
//     deliveries, member events, neighbour changes, peers evicted,
//     gap notices and signals of connections through NATs, and a request
//     to resolve the seed contacts afresh.
//
// The engine owns every protocol timer, the member list's periodic
// exchange, refresh and the rejoin tick included: a Timer is a 24-byte
// value that the driver hands back when it fires. Messages are peer.Message, a
// sealed interface; NewCodec returns the wire codec of all of them.
//
// # The composition
//
// HyParView's active view is Plumtree's neighbour set (S2 §3.1): every
// neighbour that comes up in HyParView becomes an eager push peer, and
// every neighbour that goes down leaves both push sets.
//
// With the member list, every Plumtree payload is an Envelope: an
// application message with its topic, or member records, which travel
// under content-derived IDs. Neighbour up and down feed the member list; a
// neighbour that comes up receives our digest (Digest, answered with
// Records), and with Plumtree's NeighborUpAnnouncements our recent
// broadcasts, so what was missed during a partition is repaired. The
// rejoin tick heals partitions (see MembersConfig). What Plumtree can no
// longer repair, a broadcast missed for longer than its payloads are
// retained, is reported (Config.Gaps, Ready.Gaps): each origin's sequence
// is followed from the deliveries, and a hole that outlives every repair
// becomes a gap notice (see GapsConfig), and the same marks keep a
// restarted node from delivering twice (DeliveryMarks, marks.go).
//
// # Through NATs
//
// A node behind a NAT (MembersConfig.BehindNAT) names an active neighbour
// that can be dialled as its rendezvous in its signed record
// (roster.Rendezvous); the signals of an ICE negotiation with it (Signal,
// SendSignal, Ready.Signals) travel through that rendezvous, which relays
// them only to a linked member that names it, within the sender's
// BudgetSignal (signal.go; docs/nat.md). A node that does not know
// whether it can be dialled (MembersConfig.CheckReachability) asks a
// neighbour to dial it back (ReachRequest, Ready.DialBacks, DialedBack;
// reach.go) and says what it found in its record.
//
// # Liveness
//
// Every member is watched, not only neighbours: every
// MembersConfig.ProbeInterval a node pings one member of a shuffled
// round-robin list, directly, then through neighbours (Ping, PingReq,
// Ack; SWIM §3.1 and §4.3, probe.go), and suspects it if neither answers.
// A failed connection to a member that is no longer a neighbour is
// evidence of failure too (ConnectionFailed). A suspicion or failure
// learned from others about a member this node has evidence of life for
// is withheld from the application, and the member is told so that it
// refutes (evidence.go): a partition's heal never shows the living dead.
// docs/reliability.md gives the bounds and the fault lab's figures.
//
// # Trust
//
// With MembersConfig.Auth, a peer.Authenticator the driver provides, no
// node can speak for another: every application broadcast is signed by
// its origin, every member record by its member and every suspicion by its
// declarer (roster's doc, "Signatures"), and a broadcast is checked on
// first receipt, before the broadcast core delivers or relays it. The pure
// stack itself holds no key and links no cryptography. With
// Config.Budgets, every request a peer can repeat is counted per peer and
// period; a peer over a budget is slowed (its requests dropped), then
// evicted (Ready.Evictions, its connection closed, its link dropped) and
// ignored for a while (Budgets). Forgeries are charged to the neighbour
// that sent them.
//
// Without the member list, signatures and budgets, the defaults, the
// engine is the two cores alone, as the simulator's reproductions of the
// papers need. ProductionConfig is the one place the configuration of a
// deployment is assembled; it turns the member list and budgets on, and
// the runtime adds signatures.
package gossip
