// Package plumtree is the pure core of Plumtree, the epidemic broadcast tree
// of Leitão, Pereira and Rodrigues ("Epidemic Broadcast Trees", SRDS 2007,
// technical report DI-FCUL TR-07-14, cited as S2 with its sections and
// algorithms).
//
// # Model
//
// Every node keeps its neighbours, given by a peer sampling service through
// NeighborUp and NeighborDown, in two disjoint sets: eager peers, to which it
// pushes payloads (GOSSIP), and lazy peers, to which it only announces them
// (IHAVE). All neighbours start eager. A node that receives a payload it
// already has PRUNEs the link it came on, which becomes lazy on both ends, so
// after a broadcast the eager links form a spanning tree. A node that hears
// of a message by IHAVE and does not receive its payload within
// GraftTimeout1 GRAFTs the announcer, which makes that link eager again and
// resends the payload: the tree heals itself. The optimisation (S2 §3.8)
// replaces an eager link by a lazy one whose announcement showed a path at
// least OptimizationThreshold hops shorter.
//
// The core does no I/O. A driver owns one State per node and calls Step with
// the current time and one Input (a broadcast, a received message, a timer
// that fired, a neighbour up or down); Step appends Outputs (send this
// message to that peer, deliver this payload, set this timer); every message
// goes to a current neighbour. Time is an input, timers are outputs, and a timer that is late, fires twice or is no
// longer wanted does nothing. The same inputs always give the same outputs:
// the core iterates slices, never maps, and draws no randomness.
//
// A peer's malformed message is dropped and counted in Counters; a local
// misuse returns an error prefixed "plumtree: "; Invariants checks the state
// at any moment. Memory is bounded under any traffic: the payload cache,
// the remembered IDs and the missing announcements each have a size cap and
// evict their oldest entries first (Config).
//
// # Deviations from the paper
//
//  1. Relays exclude the sender. The 2007 Algorithm 1 passes myself as the
//     node to exclude when relaying (line 30, and the LazyPush call beside
//     it), which sends the payload straight back and prunes the link just
//     used; the report was re-issued in 2019 to fix "a minor bug on
//     Algorithm 1". We exclude the sender, as iroh-gossip and Partisan do.
//  2. Messages from peers that are not neighbours move no link and get no
//     answer. The paper assumes every sender is a neighbour. We still
//     deliver and relay (to neighbours) a payload from such a peer, but never
//     add it to a set (S2 Algorithm 1 line 32 is applied only to
//     neighbours), and ignore its IHAVEs, GRAFTs and PRUNEs: the core sends
//     only to neighbours, over the links the peer sampling service keeps, and
//     a stranger's IHAVEs could otherwise fill the missing set unchecked.
//  3. Timers end. The paper re-arms Timer(mID) with timeout2 every time it
//     fires. We stop once no announcement is left for the ID, dropping the
//     entry; a later IHAVE starts over with timeout1.
//  4. Stale timers do nothing. Timers are never cancelled (S2 Algorithm 1
//     cancels Timer(mID) on delivery): a graft timer for an ID no longer
//     missing, or one that fires before the deadline the core set last (a
//     duplicate), is ignored.
//  5. One announcement per (ID, node). The paper's missing set holds
//     (mID, node, round) triples; a second IHAVE for the same ID from the
//     same node adds nothing (the first is the one a GRAFT would use).
//  6. The optimisation moves both links locally. Algorithm 4 as printed only
//     sends GRAFT(null) to the announcer and PRUNE to the sender; we also
//     make the announcer eager and the sender lazy here, so both ends of
//     each link agree at once. Among several qualifying announcements we
//     take the one with the lowest round (the paper takes any), and we use
//     the pseudo-code's round − r >= threshold, not the strict "greater
//     than" of the text (S2 §3.8). GRAFT(null) is a Graft with HasID false,
//     and its receiver sends no payload back.
//  7. Bounded memory. The paper keeps receivedMsgs and every payload forever
//     and calls purging out of scope; iroh-gossip, like us, keeps payloads
//     and IDs for a limited time only. We remember delivered IDs for
//     SeenRetention and payloads for PayloadRetention, within count and
//     byte caps, oldest first. Consequences: a GRAFT for a payload no longer
//     held goes unanswered (counted as GraftsMissed), and a copy of a
//     message that arrives after its ID was forgotten is delivered again.
//     The missing set is capped too (MaxMissing): the oldest ID is forgotten
//     first, and entries older than SeenRetention are dropped in case their
//     timers were lost.
//  8. IHAVE batching. The paper's simulations send one IHAVE per message per
//     lazy link at once (S2 §4.1); its only requirement is that every
//     announcement is eventually sent (S2 §3.4). By default we batch each
//     peer's announcements for LazyPushDelay, flushing early at
//     MaxIHaveEntries; a negative LazyPushDelay restores the paper's policy.
//     Announcements queued for a peer that goes down are dropped.
//  9. Message IDs. The paper names a message hash(m + myself). We name it by
//     origin and sequence number (default) or by a hash of the payload alone
//     (IDPolicy); under IDOriginSequence a sequence number whose ID is
//     already known is skipped.
//  10. NeighborUp of a current neighbour leaves it where it is (the paper
//     adds it to eagerPushPeers, which could put it in both sets).
//  11. Rounds saturate at 2^32−1 instead of wrapping.
//  12. Validation. Messages claiming to come from the node itself, payloads
//     over MaxPayloadBytes, and IHAVEs that are empty or hold more than
//     MaxIHaveEntries announcements are dropped and counted
//     (DroppedInvalid).
//  13. Anti-entropy on neighbour up (off by default). With
//     NeighborUpAnnouncements > 0 a new neighbour is sent IHAVEs (round 0)
//     for the newest payloads held, so a node that was cut off GRAFTs what
//     it missed; the paper repairs only messages announced while the link
//     existed. A message repaired this way is delivered with Hops 1.
//  14. Caller-chosen IDs. BroadcastID broadcasts under an ID the driver
//     derives (the member list uses a hash of the record), alongside
//     IDPolicy for ordinary broadcasts.
//  15. A timeout1 that follows the network (off by default). The paper
//     leaves timeout1 to the deployment ("considering the diameter of the
//     overlay and a target maximum recovery latency", S2 §3.5) and a fixed
//     value fits one network only: on a LAN a message that lost its eager
//     path (a tree link replaced by the peer sampling service, prunes that
//     crossed) waited the whole GraftTimeout1, most of the tail of the
//     delivery latency. With MinGraftTimeout > 0 a node measures how long
//     a payload comes on an eager link after its message's first IHAVE
//     (the eager copy after a GRAFT included, a GRAFT's answer not;
//     nothing once a GRAFT was retried, nor from a peer that is not a
//     neighbour) and
//     arms timeout1 at twice the longest recent lag, within
//     [MinGraftTimeout, GraftTimeout1]; the longest lag counts half after
//     every second without a longer one (graftlag.go). Timeout2 stays
//     fixed.
//  16. Payloads held long only while a repair may come (off by default).
//     Deviation 7 holds every payload for PayloadRetention, long enough
//     for the repairs after a partition that heals (NeighborUpAnnouncements
//     on the links that come up); in a cluster where nothing fails that is
//     PayloadRetention's worth of the broadcast rate held for GRAFTs that
//     need a fraction of a second. With CalmPayloadRetention below
//     PayloadRetention a payload is released after CalmPayloadRetention,
//     unless the driver said, by InputHoldPayloads, that a repair may be
//     needed (package gossip holds when a neighbour fails and a member is
//     suspected, declared failed or leaves, which is how a partition
//     shows on either side, and again every few seconds while members
//     are missing) while it was still held: then every payload held at
//     that moment or delivered in the next PayloadRetention is held for
//     the whole PayloadRetention (released oldest first, so a payload no
//     hold covers may wait behind one that a hold does). So the repairs
//     after a partition find what the fixed retention would have held,
//     as long as the driver holds from within CalmPayloadRetention of the
//     partition's start until it heals.
//
// A duplicate GOSSIP is answered with PRUNE even when its sender is already
// lazy here, as in the paper: the sender evidently still pushes to us (a
// PRUNE and a GRAFT that cross leave the two ends disagreeing), and staying
// silent could leave that redundant link eager on its far end indefinitely.
//
// Not deviations but choices where implementations differ: the GRAFT reply
// carries the GRAFT's round, as in S2 Algorithm 2 (iroh-gossip resends the
// round it cached instead), so Delivery.Hops of a repaired message counts
// the lazy path; and the first receipt moves the sender to eager (S2
// Algorithm 1 line 32), as the paper does (iroh-gossip leaves that to GRAFT
// and NeighborUp). RMR and LDH measured under the other choices differ.
package plumtree
