// Package roster is the full, eventually consistent member list that a node
// keeps on top of HyParView's partial views, as a pure state machine. Each
// node holds one Record per member it knows of — ID, address, metadata,
// incarnation and state (Alive, Suspect, Failed, Left) — including itself
// and the tombstones of members that failed or left. The runtime
// disseminates every change through Plumtree and repairs what was missed
// with digest-based anti-entropy when two nodes become neighbours.
//
// # Model
//
// The design is SWIM's dissemination and suspicion component (A. Das,
// I. Gupta, A. Motivala, "SWIM: Scalable Weakly-consistent Infection-style
// Process Group Membership Protocol", DSN 2002, §4.2 and §4.3), with two
// substitutions: failure detection is HyParView's (a connection to an
// active neighbour failed) together with SWIM's randomised probing, which
// the composition runs (package gossip, probe.go) and reports here as a
// failed neighbour; and dissemination is Plumtree's broadcast tree, not
// piggybacking on pings.
//
// A Roster does no I/O and reads no clock. The driver feeds it one Input at
// a time through Step — records received by dissemination or anti-entropy,
// HyParView's NeighborUp and NeighborDown, a timer that fired, a local
// command (UpdateMeta, Leave, Announce) — and Step appends Outputs: records
// to broadcast, events for the application, timers to set. It uses no
// randomness, and no output depends on map iteration order.
//
// # Precedence
//
// For the same member, a record supersedes another (Compare) when:
//
//  1. its incarnation is higher; or
//  2. at equal incarnation, its state is higher: Left > Failed > Suspect >
//     Alive (SWIM §4.2: "Suspect overrides Alive", "Confirm overrides
//     anything"; Left, our addition, is final for its incarnation); or
//  3. at equal incarnation and state, its Addr and then its Meta are
//     bytewise greater. Honest members never produce such ties — only the
//     member raises its incarnation, and it does so whenever its Addr or
//     Meta change — but a total order makes merging a maximum, so it is
//     commutative, associative and idempotent, and every node converges
//     on the same records whatever order updates arrive in, duplicates
//     included.
//
// Only the member raises its incarnation. It does so to change its Meta
// (UpdateMeta) and to refute (SWIM §4.2): when it receives a record about
// itself that supersedes its own — a suspicion, a failure, or anything it
// did not say — it takes that record's incarnation plus one and broadcasts
// itself Alive. A node that restarts after failing or leaving starts from a
// larger incarnation (the runtime seeds Config.Incarnation from the wall
// clock), so its Alive supersedes its old tombstone. Incarnations are at
// most MaxIncarnation (an int64), so a refutation is always possible.
//
// # Suspicion
//
// When HyParView reports a neighbour down because its connection failed
// (or the composition reports a failed connection to a member that is no
// longer a neighbour: one it was asking, or had just dropped for room),
// the node marks the member Suspect at its current incarnation, broadcasts
// that, and sets a suspicion timer. Every node that learns of a suspicion
// sets the same timer, so a Suspect record cannot outlive the suspected
// member's silence. When the timer fires and the member is still Suspect at
// that incarnation, the node declares it Failed and broadcasts that. Every
// node may do so; the declarations are identical records, which a
// content-derived Plumtree message ID deduplicates. A graceful leave, a
// disconnect or a drop from the active view is not suspected. NeighborUp is
// evidence of life, but only the member may refute a suspicion, so it only
// adds a member we did not know (Alive at incarnation 0, superseded by the
// member's own record when that arrives).
//
// The timer's length is Lifeguard's dynamic suspicion timeout (Dadgar,
// Phillips, Currey, 2018, §IV-B; confirm.go): SuspicionTimeout while one
// node alone suspects the member, falling towards SuspicionMinTimeout as
// independent confirmations arrive (this node's own failed connection or
// probe to a member it holds suspect; with signatures on, the same
// suspicion signed by another declarer, which each confirming node
// broadcasts while it holds fewer than SuspicionConfirmations). A member
// that many nodes lost independently (a crash, the other side of a
// partition) is failed sooner; one that a single node lost keeps the whole
// timeout to refute. Lifeguard's local health is the composition's
// (package gossip, health.go): a node that finds itself stalled reports
// its losses as doubtful (Input.Doubtful), which raise a suspicion but
// confirm none.
//
// # Signatures
//
// With Config.Auth set (the runtime's default; the simulator runs without),
// no node can speak for another. Every record carries a Proof:
//
//   - an Alive or Left record is valid only with its member's signature of
//     it (StatementBytes: ID, incarnation, state, address, metadata), so
//     only the member raises its incarnation, changes its metadata or
//     leaves;
//   - a Suspect or Failed record carries the member's signed Alive
//     statement at that incarnation — a suspicion can name only an
//     incarnation the member reached — and the signature of the node that
//     declared the suspicion (DeclarationBytes). A Failed record carries
//     the suspicion it ended unchanged: every node that holds the suspicion
//     times it itself, so all of them broadcast the same record, which the
//     content-derived broadcast ID deduplicates.
//
// A member may also sign a rendezvous into its statement (Rendezvous,
// InputSetRendezvous): the node through which signals to it are relayed
// when it sits behind a NAT, and whether it can be dialled at all. It
// travels in the proof (Proof.Rendezvous), so a record without a proof,
// such as the simulator's, names none and is encoded as before.
//
// A received record whose proof does not verify (VerifyRecord) is dropped
// and counted (Counters.Forged); the composition checks a broadcast's
// records before relaying it and charges the neighbour that sent them.
// Verification comes last, after the precedence check, so that the
// duplicates and stale records that make up most of the traffic cost
// none. What a node holds on local evidence only — a neighbour whose own
// record has not arrived, a suspicion of it, a silenced member — carries
// no verifiable proof and never leaves the node (not in the digest, not
// sent, not broadcast).
//
// The bound: one member, malicious or wrong, can make every node show an
// honest live member Suspect, or Failed once the suspicion is relayed as
// such, only at the member's current incarnation. The member refutes as
// soon as the declaration reaches it (SWIM §4.2), and its refutation
// supersedes the declaration everywhere; to do it again the declarer must
// declare anew, and each declaration names it. A live member is therefore
// shown failed no longer than its refutation takes to spread, per
// declaration; docs/security.md gives the measured figure.
//
// # Refresh and silence
//
// Every member re-announces its record under a new incarnation every
// Config.RefreshInterval. A node marks Failed, for itself alone, an Alive
// member of which no new record arrived for Config.SilenceTimeout: a
// record no running member stands behind (a peer invented it, with a key
// of its own making, or the member died unnoticed) leaves every member
// list within SilenceTimeout plus ExpiryInterval, and its tombstone keeps
// anti-entropy from bringing the same record back. The member's next
// refresh supersedes it.
//
// # Tombstones and anti-entropy
//
// Failed and Left records are kept for Config.RetainDead so that stale
// updates still in flight cannot resurrect the member, then removed by a
// periodic sweep (an expiry timer set while tombstones exist). A stale
// update that arrives after that window would bring the member back until
// a node holding newer information corrects it.
//
// Digest summarises every record held (ID, incarnation, state) sorted by
// ID; Diff compares a remote digest with ours and says which records to
// send and which to ask for; Merge (InputMerge) applies the records
// received. For clusters whose digest exceeds a frame, Chunks splits it
// into ID ranges and DiffChunk compares one range. A tombstone held by one
// side only is not exchanged (see Diff): otherwise two nodes that expire it
// at different times would hand it back and forth for ever.
//
// # Events
//
// Each change of a member's record held by this node yields at most one
// event (two for a member first seen as Suspect: Join, then Suspect):
// Join when it becomes present (Alive or Suspect), Update when a present
// member's Addr or Meta changes or its suspicion is refuted, Suspect, Fail,
// and Leave. No events are emitted about this node itself.
//
// # Failures
//
// A malformed record from a peer (ID 0, unknown state, incarnation above
// MaxIncarnation, Meta over Config.MaxMetaBytes, Addr over MaxAddrBytes, a
// proof over MaxKeyBytes or MaxSigBytes) is dropped and counted
// (Counters.Malformed); so is a malformed digest. A record over
// Config.MaxMembers new identities is refused (Counters.RefusedFull) and
// one whose proof fails, dropped (Counters.Forged). Local
// misuse (unknown input, metadata too large, commands after Leave) is an
// error prefixed "roster:". Invariants checks the state at any moment.
//
// # Defaults
//
// MaxMetaBytes 512 is HashiCorp memberlist's MetaMaxSize. SuspicionTimeout
// 5s, RetainDead 1h, ExpiryInterval 1min, RefreshInterval 15min and
// SilenceTimeout 1h are guesses to validate in the simulator; MaxMembers
// 100,000 is the largest cluster the project claims. Config explains each.
package roster
