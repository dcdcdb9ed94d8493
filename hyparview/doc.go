// Package hyparview is the HyParView membership protocol as a pure state
// machine: the peer-sampling layer of the gossip engine. It follows the
// report by Leitão, Pereira and Rodrigues, "HyParView: a membership protocol
// for reliable gossip-based broadcast" (DSN 2007; TR DI-FCUL TR-07-13),
// cited below as S1.
//
// # Model
//
// Each node keeps two partial views of the overlay (S1 §4.1): a small
// symmetric active view, the neighbours it keeps a connection to and
// gossips with, and a larger passive view of backup peers. The active view is
// repaired reactively, from the passive view, when a neighbour fails or
// leaves (S1 §4.3); the passive view is refreshed by a periodic shuffle that
// walks the overlay (S1 §4.4). The defaults are the paper's (S1 §5.1:
// active 5, passive 30, ARWL 6, PRWL 3, ka 3, kp 4); where the paper gives
// no value, Config says so and the default is a guess to validate.
//
// A State does no I/O and reads no clock. The driver feeds it one Input at a
// time through Step: a command (join, leave), a received message with its
// authenticated sender, a timer that fired, or a connection that failed.
// Step appends Outputs: messages to send, connections to close, neighbours
// up and down, timers to set. The same State is driven unchanged by the
// simulator, the tests and the real runtime. All randomness comes from the
// *rand.Rand given to New, and no output depends on map iteration order, so
// a run is reproducible from its seeds.
//
// Peers are named by a compact peer.ID; their address travels beside the id
// in the messages that introduce them, and is learned only from the peer
// itself.
//
// The driver must:
//   - apply outputs in order (a Close follows the sends it must not cut);
//   - hand back every timer it was asked to set; timers are never cancelled,
//     and one that fires late or twice is ignored;
//   - report a failed connection (or a failed dial) with
//     InputConnectionFailed: the connection doubles as the failure
//     detector (S1 §4.1). The report means that what the core sent to the
//     peer so far may be lost; it must reach the core before any later
//     message from that peer, and before the core's next sends to that peer
//     go out on a new connection. A report that arrives after a newer
//     connection carried traffic would cancel a request that went through.
//
// A malformed message from a peer is dropped and counted (Counters), never
// trusted; a bad Config is an error from New. Invariants checks the views at
// any moment.
//
// # Deviations from S1
//
// Each is marked where it is implemented and pinned by a test in
// paper_test.go.
//
//  1. Symmetric handshakes. S1's Algorithm 1 adds peers to the active view
//     without telling them in two places. Our joiner adds its contact only
//     when the contact acknowledges the Join with a NeighborReply; the node
//     where a join walk ends sends the new node Neighbor(high) and adds it
//     when it accepts. A link is active at both ends or at neither once the
//     messages in flight are delivered. S1 never says how the far end learns
//     of the link; Partisan and iroh-gossip also confirm it with an explicit
//     neighbour message.
//  2. Link nonces. Every link is named by a random nonce chosen by the
//     requester. A Disconnect or refusal naming another link is stale and
//     ignored, so one delayed in flight cannot tear down a link made again
//     since (Partisan tags its disconnects for the same reason); an
//     acceptance matching no request is undone with a Disconnect, so no
//     half-link is left; when two nodes ask each other at once both accept
//     and keep the larger nonce; a Neighbor or Join from a current
//     neighbour renews the link, since the peer no longer holds it.
//  3. FORWARDJOIN ends at a node with at most one neighbour, as the text of
//     S1 §4.2 says; Algorithm 1 writes "#activeView = 0". With symmetric
//     views a node's only neighbour is the sender, so the walk could not go
//     on anyway; Partisan and iroh-gossip also stop at one neighbour. The
//     walk also ends where no neighbour other than the sender and the new
//     node is left.
//  4. Refill after DISCONNECT. S1's handler only moves the peer to the
//     passive view; we also refill from the passive view, never with that
//     peer (hashicorp/hyparview added the same refill when its simulator
//     left peers disconnected; Partisan also skips the peer that
//     disconnected it), and with low priority only, so that a dropped node
//     does not force another to drop in a chain that would circle the
//     overlay at network speed; a node left isolated escalates on its next
//     shuffle tick (deviation 7). With Config.WithoutTickRepair no tick
//     would, so a node the DISCONNECT left with an empty active view asks
//     with high priority at once, as S1 §4.3 has an isolated node do (a
//     chain needs every dropped node to be left empty, rare once views
//     fill).
//  5. Repair asks for every missing slot at once instead of one candidate at
//     a time, with at most one high-priority request in flight. Refusers are
//     not asked again before the next shuffle period starts (every shuffle
//     tick refills the view: S1 repairs only on failure;
//     Config.WithoutTickRepair turns that refill off); a node at most one
//     short of a full view keeps them for two periods (refusalMemoryPeriods),
//     so that the odd free slot of a cluster of full nodes does not ask every
//     passive peer each period.
//  6. Timeouts stand in for TCP connection set-up: a request unanswered
//     within NeighborRequestTimeout counts as an unreachable peer (S1 §4.3),
//     and is cancelled with a Disconnect in case it arrives late. A driver
//     that must first connect to the peer counts the timeout from when
//     the connection is up (package gossip, Timer.Awaits): a handshake
//     slower than the timeout is not an unanswered request. A driver that
//     sends a low-priority request as a datagram (package membership)
//     sends it again over a connection when the timeout falls due
//     unanswered and the request is still wanted (State.AwaitsReply), and
//     counts the timeout again from there. A Join
//     unanswered within JoinTimeout moves on to the next seed contact.
//     Each round of unanswered requests (those armed with the same wait:
//     a repair asks for every missing slot at once) doubles the wait of
//     the next ones, up to 16 times the configured timeout, and a shuffle
//     period without a timeout halves it again, as TCP's connection
//     set-up doubles its waits for a SYN's answer: a fixed timeout cancels
//     every request to a peer that answers later than it (an overloaded
//     contact, a host starved of CPU), so the node asks again and again in
//     vain. In the simulator, 200 nodes joining at once over links of
//     250 ms to 1 s each way had 7 nodes alone and 127,111 requests timed
//     out after two minutes with fixed timeouts, none alone and about a
//     thousand with the backoff (sim/engine,
//     TestSlowLinksLeaveNoJoinerAlone). Config.WithoutBackoff keeps the
//     timeouts fixed; S1Only sets it.
//  7. Isolation and islands. S1 makes connectivity likely, not certain:
//     Partisan's users saw burst joins through one contact leave a small
//     island cut off from the rest. A node with no neighbour asks a
//     passive peer with high priority on every shuffle tick, and joins again
//     through its seed contacts, round-robin, when its passive view is
//     empty (each contact tried once per shuffle period). A node with at most half its slots filled whose passive peers
//     all refused it escalates one request to high priority. Now and then a
//     connected node forces one new link to a seed contact or a passive peer
//     (see shouldRefresh for the rates and their measurements), because an
//     island whose members all have full views never asks anyone under S1's
//     rules. Config.WithoutEscalation and Config.WithoutRefresh turn the
//     escalation and the refresh off (Config.S1Only, all the switchable
//     additions at once, is what the simulator's paper mode runs). With the member list on, the liveness probes find islands
//     too: a Ping names a broadcast its sender delivered a while ago, and
//     a node that never got it asks the pinger for a link (package gossip,
//     islands.go).
//  8. Shuffle details S1 leaves open or gets loose: ShuffleTTL (default 6)
//     and ShuffleInterval are guesses; the active sample leaves out the
//     target; the walk avoids the origin as well as the sender; the reply
//     leaves out the origin and is padded from the active view when the
//     passive view is short; eviction prefers the ids sent, in order.
//  9. Graceful leave (not in S1): Disconnect with Alive false to every
//     neighbour and every peer being asked; receivers drop the leaver from
//     both views and may refill with high priority at once.
//  10. Bounds against misbehaving peers: at most 2·ActiveViewSize requests
//     in flight (a join walk ending beyond that only fills the passive view),
//     TTLs at most MaxTTL, peer lists at most 4·(1+ka+kp).
//  11. InputContact (not in S1): a driver may ask one given peer for a link
//     with high priority. The runtime's member list uses it to heal
//     partitions, trying members it knows of but has no path to, and so
//     does its island check (package gossip, islands.go); the simulator's
//     member-list experiment runs both, the papers' experiments neither.
//  12. Join eviction budget (our addition). S1 Algorithm 1 has a contact
//     accept every JOIN, dropping a random neighbour when full, so a burst
//     of fresh identities joining through one node replaces all of its
//     established neighbours. With Config.JoinEvictionsPerShuffle set, a
//     node drops at most that many established neighbours per shuffle
//     period to make room for others, unless it must. A link is young from
//     when it is made until the node's next shuffle period starts,
//     established after; the period's start also refills the budget (the
//     early ticks of deviation 14 start none). With the budget on:
//     - a full node making room for a newcomer (a joiner at its contact,
//     the new node where a join walk ends) drops a random young link at no
//     cost, and only without one a random established neighbour, spending
//     the budget; with the budget spent it has no room. The newcomers of a
//     burst thus displace one another, as they displace anyone in S1,
//     while the established neighbours are spared;
//     - a contact with no room refuses the Join with NeighborReply(accepted
//     false) and starts S1's join walks all the same: the nodes where they
//     end ask the joiner, as they would have. A walk ending at a node with
//     no room only puts the new node in its passive view, and an
//     acceptance that would now need a drop is undone with a Disconnect;
//     - the first hop of a join walk (TTL ARWL) marks its sender, the new
//     node's contact, until the receiver's next period, and no drop takes a
//     neighbour so marked while another can go: the walks a contact starts
//     also end at its own neighbours, which would otherwise drop their
//     links to it to take the newcomers;
//     - a drop that must happen (S1's high-priority Neighbor, always
//     accepted, §4.3, or an acceptance that arrives when the view has
//     filled meanwhile) takes a random member as in S1 while budget is
//     left, spending it if the member is established, and a young link
//     first once it is spent: newcomers left isolated by a burst, who ask
//     their contact with high priority, do not force out its established
//     neighbours either, while the links that heal a partition, young too,
//     are not the first to go at a node that took no newcomer;
//     - an isolated node joins again through its seed contacts on every
//     shuffle tick that starts a period (each contact is tried once per
//     period, startJoin) before it repairs (deviation 7 does so only with an
//     empty passive view): the contact's walks place it where the budgets
//     allow, where a repair would take one link, often at the contact that
//     displaced it.
//     Measured on this package's in-memory network with a budget of 1
//     (joinbudget_test.go; seeds 0 to 7 unless said): 20 fresh identities
//     joining one node of a settled 30-node overlay within one period left
//     it 4 of its 5 neighbours on 291 of 297 seeds and 3 on the others (S1:
//     0 on 276 of 298, 1 on the others; a budget of 2: 2 on one seed of
//     296); 1,000 nodes joining through one contact within one period
//     formed one component right after the burst, with no node isolated,
//     as in S1 (with ConfigForClusterSize(1000): within 1 period, 3 seeds
//     with 1 or 2 nodes isolated until their next tick; S1 within 2, 2
//     seeds with 1); 300 nodes joining a settled overlay of 200 through one
//     of its nodes left 2 to 5 of them isolated until their next tick (one
//     component after 1 or 2 periods), 500 joining a settled 500 left 6 to
//     12 (2 periods), where S1 leaves none, but the contact kept 4 of its 5
//     established neighbours on every seed, where S1 keeps none.
//     High-priority Neighbor requests are never refused: an isolated node
//     must get in (S1 §4.3). Zero, the default, is S1's unlimited behaviour,
//     which the simulator's reproductions of the papers run;
//     gossip.ProductionConfig sets 1 (docs/simulation.md, experiment 5, for
//     the member list's figures with it).
//  13. InputConnectionClosed (not in S1): a driver may report that a peer
//     closed its connection deliberately, with a reason (the runtime's
//     transport carries it). The peer is alive: an active link over the
//     connection ends as a Disconnect(alive) ends it (the peer moves to
//     the passive view, NeighborDown with DownDisconnected, repair), with
//     no failure reported, so the member list suspects no one.
//  14. Early ticks (not in S1, whose nodes shuffle once per cycle from the
//     start): a node's first five shuffle ticks after its first InputJoin
//     come at a tenth of ShuffleInterval, extra ticks within its first
//     period, whose end still comes one interval after the join. Each
//     shuffles, repairs, escalates when starved and may draw the refresh
//     (deviations 5 and 7) as any tick, but starts no period: the join
//     eviction budget and the links' marks (deviation 12), the refusals
//     remembered, the backoff of deviation 6 and the seed contacts tried keep
//     their periods. A burst of joins through one contact can close an island
//     of early joiners, each view in it full, and nothing reaches across
//     before a tick's refresh: at the default 10 s period the island's member
//     lists stayed short for 10 to 20 s. The cost is five more shuffles and
//     refresh draws per node while it joins: with hundreds of nodes joining
//     at once in one process on two cores, the join took about a quarter
//     longer (docs/benchmarks.md, "The join's island").
//     Config.WithoutEarlyTicks turns them off; S1Only sets it, and so does
//     the simulator's cycle model, where each cycle is one period.
package hyparview
