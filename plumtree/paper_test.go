package plumtree

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// Each test below states one rule of the paper (or a deliberate deviation),
// sets a node up, steps one input, and checks the exact outputs and state.

// Broadcast(m) eager-pushes the payload with round 0 to every eager peer,
// lazy-pushes an announcement with round 0 to every lazy peer, then delivers
// it locally and adds its ID to receivedMsgs.
// Reference: S2 Algorithm 1, upon Broadcast(m).
func TestPaperBroadcastPushesRoundZeroAndDeliversLocally(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3, 4)
	makeLazy(t, s, 4)
	p := []byte("hello")

	id, out, err := s.Broadcast(at(time.Second), p, nil)
	require.NoError(t, err)

	require.Equal(t, OriginSequenceID(1, 1), id)
	g := &Gossip{ID: id, Round: 0, Payload: p}
	require.Equal(t, []Output{
		sendTo(2, g), sendTo(3, g),
		sendTo(4, ihave(Announcement{ID: id, Round: 0})),
		delivered(id, p, 0, 1),
	}, out)
	// The ID is in receivedMsgs: a copy coming back is a duplicate.
	out = step(t, s, at(time.Second), recv(2, &Gossip{ID: id, Round: 1, Payload: p}))
	require.Equal(t, []Output{sendTo(2, &Prune{})}, out)
	require.Equal(t, uint64(1), s.Counters().Duplicates)
}

// Through Step, an InputBroadcast is the same as Broadcast; the ID is in the
// delivery.
// Reference: S2 Algorithm 1, upon Broadcast(m).
func TestPaperBroadcastThroughStep(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	p := []byte("x")
	out := step(t, s, at(0), Input{Kind: InputBroadcast, Payload: p})
	id := OriginSequenceID(1, 1)
	require.Equal(t, []Output{sendTo(2, &Gossip{ID: id, Payload: p}), delivered(id, p, 0, 1)}, out)
}

// The paper names a message hash(m + myself). Deviation: we name it by
// origin and a sequence number starting at FirstSequence, or, under
// IDContentHash, by the first 16 bytes of SHA-256 of the payload alone, so
// identical payloads deduplicate.
func TestPaperBroadcastIDPolicies(t *testing.T) {
	s := newNode(t, 7, Config{FirstSequence: 100})
	id1, _, err := s.Broadcast(at(0), []byte("a"), nil)
	require.NoError(t, err)
	id2, _, err := s.Broadcast(at(0), []byte("a"), nil)
	require.NoError(t, err)
	require.Equal(t, OriginSequenceID(7, 100), id1)
	require.Equal(t, OriginSequenceID(7, 101), id2)
	require.Equal(t, "7-64", id1.String())

	h := newNode(t, 7, Config{IDPolicy: IDContentHash}, 2)
	id, out, err := h.Broadcast(at(0), []byte("a"), nil)
	require.NoError(t, err)
	require.Equal(t, ContentHashID([]byte("a")), id)
	require.Len(t, out, 2)
	_, out, err = h.Broadcast(at(0), []byte("a"), nil)
	require.ErrorIs(t, err, ErrDuplicatePayload)
	require.Empty(t, out)
}

// Deviation: under IDOriginSequence a sequence number whose ID the node
// already knows (a peer sent or announced it, or a previous run used it) is
// skipped, so a local broadcast is never mistaken for a duplicate.
func TestPaperBroadcastSkipsKnownSequence(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	step(t, s, at(0), recv(2, &Gossip{ID: OriginSequenceID(1, 1), Payload: []byte("old")}))
	step(t, s, at(0), recv(2, ihave(Announcement{ID: OriginSequenceID(1, 2)})))

	id, _, err := s.Broadcast(at(0), []byte("new"), nil)
	require.NoError(t, err)
	require.Equal(t, OriginSequenceID(1, 2), id, "an announced but undelivered ID is free")
	require.Zero(t, s.Sizes().MissingIDs, "the local broadcast ends the missing entry")
}

// A payload over MaxPayloadBytes is a local misuse: an error, nothing sent.
// Deviation: the paper has no size limit.
func TestPaperBroadcastTooLargeIsError(t *testing.T) {
	s := newNode(t, 1, Config{MaxPayloadBytes: 4, MaxCachedBytes: 4}, 2)
	out, err := s.Step(at(0), Input{Kind: InputBroadcast, Payload: []byte("12345")}, nil)
	require.ErrorContains(t, err, "plumtree: ")
	require.Empty(t, out)
	require.Zero(t, s.Counters().Broadcasts)
}

// On the first receipt of GOSSIP(m, mID, round, sender) the node delivers m;
// the hop count at delivery is round+1.
// Reference: S2 Algorithm 1, upon Receive(GOSSIP), first receipt; §2.3 (LDH).
func TestPaperGossipFirstReceiptDelivers(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	p := []byte("m")
	out := step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Round: 4, Payload: p}))
	require.Equal(t, []Output{delivered(mid(1), p, 5, 2)}, out)
	require.Equal(t, uint64(1), s.Counters().Delivered)
}

// On first receipt the node relays: EagerPush(m, mID, round+1) to every eager
// peer and LazyPush(mID, round+1) to every lazy peer, excluding the sender.
// Deviation (doc.go, deviation 1): the 2007 pseudo-code excludes myself; we
// exclude the sender, as iroh-gossip and Partisan do. The report's 2019
// re-issue fixes "a minor bug on Algorithm 1", most likely this one.
// Reference: S2 Algorithm 1 line 30.
func TestPaperGossipFirstReceiptRelaysExcludingSender(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3, 4, 5, 6)
	makeLazy(t, s, 5, 6)
	p := []byte("m")
	out := step(t, s, at(0), recv(6, &Gossip{ID: mid(1), Round: 2, Payload: p}))
	g := &Gossip{ID: mid(1), Round: 3, Payload: p}
	ih := ihave(Announcement{ID: mid(1), Round: 3})
	require.Equal(t, []Output{
		delivered(mid(1), p, 3, 6),
		sendTo(2, g), sendTo(3, g), sendTo(4, g),
		sendTo(5, ih),
	}, out)
}

// On first receipt the sender joins eagerPushPeers and leaves lazyPushPeers.
// Reference: S2 Algorithm 1 line 32 (we follow the paper; iroh-gossip does
// not move the sender here).
func TestPaperGossipFirstReceiptMakesSenderEager(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	makeLazy(t, s, 2)
	require.Equal(t, []peer.ID{2}, s.LazyPeers())
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: []byte("m")}))
	require.Equal(t, []peer.ID{3, 2}, s.EagerPeers())
	require.Empty(t, s.LazyPeers())
}

// Deviation: a payload from a peer that is not a neighbour is delivered and
// relayed (to everyone: there is no neighbour to exclude), but the sender is
// not added to eagerPushPeers.
func TestPaperGossipFromNonNeighbourMovesNoLink(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	p := []byte("m")
	out := step(t, s, at(0), recv(8, &Gossip{ID: mid(1), Payload: p}))
	require.Equal(t, []Output{delivered(mid(1), p, 1, 8), sendTo(2, &Gossip{ID: mid(1), Round: 1, Payload: p})}, out)
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
}

// On first receipt, if mID is in missing, Timer(mID) is cancelled. Our timers
// are never cancelled: the missing entry is forgotten and the timer, when it
// fires, does nothing.
// Reference: S2 Algorithm 1, upon Receive(GOSSIP), "cancel Timer(mID)".
func TestPaperGossipFirstReceiptCancelsGraftTimer(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	makeLazy(t, s, 3)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1), Round: 1})))
	step(t, s, at(10*time.Millisecond), recv(2, &Gossip{ID: mid(1), Round: 1, Payload: []byte("m")}))
	require.Zero(t, s.Sizes().MissingIDs)

	out := step(t, s, at(80*time.Millisecond), fire(TimerGraft, mid(1)))
	require.Empty(t, out)
	require.Equal(t, uint64(0), s.Counters().GraftSent)
}

// On a duplicate GOSSIP the node moves the sender from eagerPushPeers to
// lazyPushPeers and sends it PRUNE.
// Reference: S2 Algorithm 1, upon Receive(GOSSIP), duplicate.
func TestPaperGossipDuplicatePrunesSender(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	p := []byte("m")
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: p}))
	out := step(t, s, at(0), recv(3, &Gossip{ID: mid(1), Payload: p}))
	require.Equal(t, []Output{sendTo(3, &Prune{})}, out)
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
	require.Equal(t, []peer.ID{3}, s.LazyPeers())
	c := s.Counters()
	require.Equal(t, uint64(1), c.Duplicates)
	require.Equal(t, uint64(1), c.Delivered)
	require.Equal(t, uint64(1), c.PruneSent)
}

// The paper PRUNEs on every duplicate; we do so even when the sender is
// already lazy here: it evidently still pushes to us eagerly, and only a
// PRUNE stops it. (Links can disagree: if 1 PRUNEs 2 while 2 GRAFTs 1, 1
// ends with 2 eager and 2 with 1 lazy; pruning only eager senders would
// let 1 push duplicates to 2 indefinitely.)
// Reference: S2 Algorithm 1, upon Receive(GOSSIP), duplicate.
func TestPaperGossipDuplicateFromLazyPeerStillPrunes(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	makeLazy(t, s, 3)
	p := []byte("m")
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: p}))
	out := step(t, s, at(0), recv(3, &Gossip{ID: mid(1), Payload: p}))
	require.Equal(t, []Output{sendTo(3, &Prune{})}, out)
	require.Equal(t, []peer.ID{3}, s.LazyPeers())
}

// Deviation: a duplicate from a peer that is not a neighbour is counted and
// dropped; there is no link to prune.
func TestPaperGossipDuplicateFromNonNeighbour(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	p := []byte("m")
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: p}))
	require.Empty(t, step(t, s, at(0), recv(8, &Gossip{ID: mid(1), Payload: p})))
	require.Equal(t, uint64(1), s.Counters().Duplicates)
}

// On PRUNE the node moves the sender from eagerPushPeers to lazyPushPeers.
// Reference: S2 Algorithm 1, upon Receive(PRUNE).
func TestPaperPruneMakesSenderLazy(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	out := step(t, s, at(0), recv(2, &Prune{}))
	require.Empty(t, out)
	require.Equal(t, []peer.ID{3}, s.EagerPeers())
	require.Equal(t, []peer.ID{2}, s.LazyPeers())
}

// Deviation: a PRUNE from a peer that is not a neighbour is ignored and
// counted; it must not make the peer a (lazy) neighbour.
func TestPaperPruneFromNonNeighbourIgnored(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	require.Empty(t, step(t, s, at(0), recv(8, &Prune{})))
	require.Empty(t, s.LazyPeers())
	require.Equal(t, uint64(1), s.Counters().IgnoredNonNeighbor)
}

// On IHAVE(mID, round, sender) for a message not received, the node starts
// Timer(mID) with timeout1 unless one is running, and adds (mID, sender,
// round) to missing.
// Reference: S2 Algorithm 2, upon Receive(IHAVE).
func TestPaperIHaveStartsTimerOnce(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	out := step(t, s, at(0), recv(2, ihave(Announcement{ID: mid(1), Round: 3}, Announcement{ID: mid(2), Round: 3})))
	require.Equal(t, []Output{
		timerOut(TimerGraft, mid(1), DefaultGraftTimeout1),
		timerOut(TimerGraft, mid(2), DefaultGraftTimeout1),
	}, out)
	// A second announcer of mID(1): recorded, no second timer.
	out = step(t, s, at(time.Millisecond), recv(3, ihave(Announcement{ID: mid(1), Round: 2})))
	require.Empty(t, out)
	require.Equal(t, Sizes{MissingIDs: 2, Missing: 3}, s.Sizes())
	require.Equal(t, uint64(3), s.Counters().AnnouncementsReceived)
}

// An IHAVE for a message already received adds nothing.
// Reference: S2 Algorithm 2, upon Receive(IHAVE), "if mID ∉ receivedMsgs".
func TestPaperIHaveForReceivedMessageIgnored(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: []byte("m")}))
	require.Empty(t, step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1)}))))
	require.Zero(t, s.Sizes().MissingIDs)
}

// Deviation: an IHAVE from a peer that is not a neighbour is ignored: the
// node could not GRAFT it over a link, and it would fill missing unchecked.
func TestPaperIHaveFromNonNeighbourIgnored(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	require.Empty(t, step(t, s, at(0), recv(8, ihave(Announcement{ID: mid(1)}))))
	require.Zero(t, s.Sizes().MissingIDs)
	require.Equal(t, uint64(1), s.Counters().IgnoredNonNeighbor)
}

// Deviation: a second announcement of an ID by the same node adds nothing
// (the paper's set would hold both triples if their rounds differ).
func TestPaperIHaveSameAnnouncerTwice(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	step(t, s, at(0), recv(2, ihave(Announcement{ID: mid(1), Round: 3})))
	require.Empty(t, step(t, s, at(0), recv(2, ihave(Announcement{ID: mid(1), Round: 1}))))
	require.Equal(t, 1, s.Sizes().Missing)
}

// When Timer(mID) expires the node starts it again with timeout2, removes
// the first announcement (mID, node, round) received, moves node to
// eagerPushPeers and sends it GRAFT(mID, round).
// Reference: S2 Algorithm 2, upon Timer(mID).
func TestPaperTimerGraftsFirstAnnouncer(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3, 4)
	makeLazy(t, s, 2, 3)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1), Round: 5})))
	step(t, s, at(time.Millisecond), recv(2, ihave(Announcement{ID: mid(1), Round: 2})))

	out := step(t, s, at(DefaultGraftTimeout1), fire(TimerGraft, mid(1)))
	require.Equal(t, []Output{
		timerOut(TimerGraft, mid(1), DefaultGraftTimeout2),
		sendTo(3, &Graft{ID: mid(1), HasID: true, Round: 5}),
	}, out)
	require.Equal(t, []peer.ID{4, 3}, s.EagerPeers())
	require.Equal(t, []peer.ID{2}, s.LazyPeers())

	// timeout2 later, the next announcer.
	out = step(t, s, at(DefaultGraftTimeout1+DefaultGraftTimeout2), fire(TimerGraft, mid(1)))
	require.Equal(t, []Output{
		timerOut(TimerGraft, mid(1), DefaultGraftTimeout2),
		sendTo(2, &Graft{ID: mid(1), HasID: true, Round: 2}),
	}, out)
	require.Equal(t, uint64(2), s.Counters().GraftSent)
}

// Deviation: when the timer fires and no announcement is left, the paper
// would re-arm it forever; we forget the ID and set no timer.
// Reference: S2 Algorithm 2, upon Timer(mID).
func TestPaperTimerWithNoAnnouncementLeftEnds(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	step(t, s, at(0), recv(2, ihave(Announcement{ID: mid(1)})))
	step(t, s, at(DefaultGraftTimeout1), fire(TimerGraft, mid(1)))
	out := step(t, s, at(DefaultGraftTimeout1+DefaultGraftTimeout2), fire(TimerGraft, mid(1)))
	require.Empty(t, out)
	require.Zero(t, s.Sizes().MissingIDs)
}

// Timers are never cancelled, so one may fire twice or out of date; it must
// do nothing then. Deviation: a graft timer that fires before the deadline
// the core set last is taken for a duplicate and ignored.
func TestPaperDuplicateTimerDoesNothing(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	step(t, s, at(0), recv(2, ihave(Announcement{ID: mid(1)})))
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1)})))
	require.Len(t, step(t, s, at(DefaultGraftTimeout1), fire(TimerGraft, mid(1))), 2)

	require.Empty(t, step(t, s, at(DefaultGraftTimeout1), fire(TimerGraft, mid(1))))
	require.Empty(t, step(t, s, at(0), fire(TimerGraft, mid(9))))
	require.Equal(t, uint64(1), s.Counters().GraftSent)
	require.Equal(t, uint64(2), s.Counters().StaleTimers)
}

// On GRAFT(mID, round, sender) the node moves the sender to eagerPushPeers
// and, if it has the message, sends GOSSIP(m, mID, round) with the GRAFT's
// round.
// Reference: S2 Algorithm 2, upon Receive(GRAFT) (iroh-gossip resends the
// cached round instead).
func TestPaperGraftMakesSenderEagerAndResends(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	makeLazy(t, s, 3)
	p := []byte("m")
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Round: 0, Payload: p}))

	out := step(t, s, at(time.Second), recv(3, &Graft{ID: mid(1), HasID: true, Round: 6}))
	require.Equal(t, []Output{sendTo(3, &Gossip{ID: mid(1), Round: 6, Payload: p})}, out)
	require.Equal(t, []peer.ID{2, 3}, s.EagerPeers())
	require.Equal(t, uint64(1), s.Counters().GraftsServed)
}

// Deviation: payloads are held for PayloadRetention only (the paper keeps
// them forever); a GRAFT for an expired payload moves the link but is
// counted as missed and sends nothing.
// Reference: doc.go, deviation 7 (S2 leaves purging out of scope).
func TestPaperGraftForExpiredPayloadCountsMiss(t *testing.T) {
	s := newNode(t, 1, immediate(), 2, 3)
	makeLazy(t, s, 3)
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: []byte("m")}))

	out := step(t, s, at(DefaultPayloadRetention), recv(3, &Graft{ID: mid(1), HasID: true}))
	require.Empty(t, out)
	require.Equal(t, []peer.ID{2, 3}, s.EagerPeers())
	require.Equal(t, uint64(1), s.Counters().GraftsMissed)
	require.Equal(t, Sizes{SeenIDs: 1}, s.Sizes(), "the ID is still remembered")
}

// The optimisation's GRAFT(null) only makes the link eager: the receiver
// must not try to send a payload.
// Reference: S2 Algorithm 4 (GRAFT with a null mID); doc.go, deviation 6.
func TestPaperGraftNullSendsNoPayload(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	makeLazy(t, s, 2)
	step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("m")})
	out := step(t, s, at(0), recv(2, &Graft{ID: OriginSequenceID(1, 1), HasID: false, Round: 0}))
	require.Empty(t, out)
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
	require.Zero(t, s.Counters().GraftsMissed)
}

// Deviation: a GRAFT from a peer that is not a neighbour is ignored and
// counted: the core sends only to neighbours.
func TestPaperGraftFromNonNeighbourIgnored(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	p := []byte("m")
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: p}))
	require.Empty(t, step(t, s, at(0), recv(8, &Graft{ID: mid(1), HasID: true, Round: 1})))
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
	require.Equal(t, uint64(1), s.Counters().IgnoredNonNeighbor)
}

// NeighborUp(node) adds node to eagerPushPeers. Deviation: a current
// neighbour keeps its place.
// Reference: S2 Algorithm 3, upon NeighborUp.
func TestPaperNeighborUpAddsEager(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	makeLazy(t, s, 2)
	require.Empty(t, step(t, s, at(0), Input{Kind: InputNeighborUp, Peer: 3}))
	require.Empty(t, step(t, s, at(0), Input{Kind: InputNeighborUp, Peer: 2}))
	require.Equal(t, []peer.ID{3}, s.EagerPeers())
	require.Equal(t, []peer.ID{2}, s.LazyPeers())

	_, err := s.Step(at(0), Input{Kind: InputNeighborUp, Peer: 1}, nil)
	require.ErrorContains(t, err, "plumtree: ")
}

// NeighborDown(node) removes node from both sets and every announcement it
// made from missing. We also drop the announcements queued for it.
// Reference: S2 Algorithm 3, upon NeighborDown.
func TestPaperNeighborDownForgetsPeer(t *testing.T) {
	s := newNode(t, 1, Config{}, 2, 3, 4)
	makeLazy(t, s, 3, 4)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1)}, Announcement{ID: mid(2)})))
	step(t, s, at(0), recv(4, ihave(Announcement{ID: mid(2)})))
	step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("m")}) // queues an IHAVE for 3 and 4
	require.Equal(t, Sizes{SeenIDs: 1, CachedPayloads: 1, CachedBytes: 1, MissingIDs: 2, Missing: 3, Queued: 2}, s.Sizes())

	require.Empty(t, step(t, s, at(0), Input{Kind: InputNeighborDown, Peer: 3}))
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
	require.Equal(t, []peer.ID{4}, s.LazyPeers())
	require.Equal(t, Sizes{SeenIDs: 1, CachedPayloads: 1, CachedBytes: 1, MissingIDs: 1, Missing: 1, Queued: 1}, s.Sizes())
	// mID(1) had no other announcer: its timer does nothing; mID(2) grafts 4.
	require.Empty(t, step(t, s, at(DefaultGraftTimeout1), fire(TimerGraft, mid(1))))
	out := step(t, s, at(DefaultGraftTimeout1), fire(TimerGraft, mid(2)))
	require.Equal(t, sendTo(4, &Graft{ID: mid(2), HasID: true}), out[1])
}

// Optimisation: on the first receipt of GOSSIP with round from sender, if
// missing holds (mID, node, r) with r < round and round − r >= threshold,
// the node sends GRAFT(null, r) to node and PRUNE to sender. Deviation: it
// also makes node eager and sender lazy locally.
// Reference: S2 Algorithm 4, §3.8.
func TestPaperOptimizationSwapsAtThreshold(t *testing.T) {
	cfg := immediate()
	cfg.OptimizationThreshold = 3
	s := newNode(t, 1, cfg, 2, 3)
	makeLazy(t, s, 3)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1), Round: 1})))
	p := []byte("m")

	out := step(t, s, at(time.Millisecond), recv(2, &Gossip{ID: mid(1), Round: 4, Payload: p}))
	require.Equal(t, []Output{
		delivered(mid(1), p, 5, 2),
		sendTo(3, ihave(Announcement{ID: mid(1), Round: 5})),
		sendTo(3, &Graft{HasID: false, Round: 1}),
		sendTo(2, &Prune{}),
	}, out)
	require.Equal(t, []peer.ID{3}, s.EagerPeers())
	require.Equal(t, []peer.ID{2}, s.LazyPeers())
	require.Equal(t, uint64(1), s.Counters().OptimizationSwaps)
	require.Zero(t, s.Sizes().MissingIDs)
}

// Below the threshold (round − r < threshold) nothing is swapped.
// Reference: S2 Algorithm 4.
func TestPaperOptimizationBelowThreshold(t *testing.T) {
	cfg := immediate()
	cfg.OptimizationThreshold = 3
	s := newNode(t, 1, cfg, 2, 3)
	makeLazy(t, s, 3)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1), Round: 2})))
	out := step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Round: 4, Payload: []byte("m")}))
	require.Len(t, out, 2) // deliver, IHAVE to 3
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
	require.Zero(t, s.Counters().OptimizationSwaps)
}

// Among qualifying announcements the one with the lowest round is used (the
// paper takes any).
// Reference: S2 Algorithm 4.
func TestPaperOptimizationPicksLowestRound(t *testing.T) {
	cfg := immediate()
	cfg.OptimizationThreshold = 2
	s := newNode(t, 1, cfg, 2, 3, 4)
	makeLazy(t, s, 3, 4)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1), Round: 4})))
	step(t, s, at(0), recv(4, ihave(Announcement{ID: mid(1), Round: 1})))
	out := step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Round: 7, Payload: []byte("m")}))
	require.Equal(t, sendTo(4, &Graft{Round: 1}), out[len(out)-2])
}

// The optimisation is optional ("optionally call Optimize"); with
// DisableOptimization, Algorithm 4 is not run.
// Reference: S2 §3.8.
func TestPaperOptimizationDisabled(t *testing.T) {
	cfg := immediate()
	cfg.OptimizationThreshold = 1
	cfg.DisableOptimization = true
	s := newNode(t, 1, cfg, 2, 3)
	makeLazy(t, s, 3)
	step(t, s, at(0), recv(3, ihave(Announcement{ID: mid(1), Round: 0})))
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Round: 9, Payload: []byte("m")}))
	require.Equal(t, []peer.ID{2}, s.EagerPeers())
	require.Zero(t, s.Counters().OptimizationSwaps)
}

// The lazy scheduling policy may piggyback several announcements in one
// IHAVE, as long as every announcement is eventually sent. With
// LazyPushDelay > 0 the first queued announcement arms the dispatch timer;
// when it fires each lazy peer gets one IHave with all its announcements.
// Reference: S2 §3.4 (dispatch).
func TestPaperLazyPushBatches(t *testing.T) {
	s := newNode(t, 1, Config{}, 2, 3)
	makeLazy(t, s, 2, 3)
	out := step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("a")})
	require.Equal(t, []Output{
		Output{Kind: OutputSetTimer, Timer: Timer{Kind: TimerDispatch}, After: DefaultLazyPushDelay},
		delivered(OriginSequenceID(1, 1), []byte("a"), 0, 1),
	}, out)
	out = step(t, s, at(time.Millisecond), Input{Kind: InputBroadcast, Payload: []byte("b")})
	require.Len(t, out, 1, "no second dispatch timer")

	out = step(t, s, at(DefaultLazyPushDelay), fire(TimerDispatch, MessageID{}))
	both := ihave(Announcement{ID: OriginSequenceID(1, 1)}, Announcement{ID: OriginSequenceID(1, 2)})
	require.Equal(t, []Output{sendTo(2, both), sendTo(3, both)}, out)
	require.Zero(t, s.Sizes().Queued)
	// A duplicate of the timer does nothing.
	require.Empty(t, step(t, s, at(DefaultLazyPushDelay), fire(TimerDispatch, MessageID{})))
}

// A peer whose queue reaches MaxIHaveEntries gets its IHave at once.
// Reference: S2 §3.4.
func TestPaperLazyPushFlushesEarly(t *testing.T) {
	s := newNode(t, 1, Config{MaxIHaveEntries: 2}, 2)
	makeLazy(t, s, 2)
	step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("a")})
	out := step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("b")})
	require.Equal(t, []Output{
		sendTo(2, ihave(Announcement{ID: OriginSequenceID(1, 1)}, Announcement{ID: OriginSequenceID(1, 2)})),
		delivered(OriginSequenceID(1, 2), []byte("b"), 0, 1),
	}, out)
	require.Empty(t, step(t, s, at(DefaultLazyPushDelay), fire(TimerDispatch, MessageID{})))
}

// Announcements queued for a peer that became eager meanwhile are still sent:
// every announcement is eventually sent.
// Reference: S2 §3.4.
func TestPaperLazyQueueSurvivesRoleChange(t *testing.T) {
	s := newNode(t, 1, Config{}, 2)
	makeLazy(t, s, 2)
	step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("a")})
	step(t, s, at(0), recv(2, &Graft{}))
	out := step(t, s, at(DefaultLazyPushDelay), fire(TimerDispatch, MessageID{}))
	require.Equal(t, []Output{sendTo(2, ihave(Announcement{ID: OriginSequenceID(1, 1)}))}, out)
}

// Deviation: received IDs are remembered for SeenRetention only, so a copy
// arriving later is delivered again.
// Reference: doc.go, deviation 7 (S2 leaves purging out of scope).
func TestPaperSeenRetentionExpires(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	p := []byte("m")
	step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: p}))
	require.Equal(t, []Output{sendTo(2, &Prune{})}, step(t, s, at(DefaultSeenRetention-1), recv(2, &Gossip{ID: mid(1), Payload: p})))
	out := step(t, s, at(2*DefaultSeenRetention), recv(2, &Gossip{ID: mid(1), Payload: p}))
	require.Equal(t, []Output{delivered(mid(1), p, 1, 2)}, out)
}

// A misbehaving peer's message is dropped and counted, never an error.
// Deviation: the paper assumes well-formed messages from neighbours.
func TestPaperInvalidMessagesDropped(t *testing.T) {
	cfg := immediate()
	cfg.MaxIHaveEntries = 2
	cfg.MaxPayloadBytes = 3
	cfg.MaxCachedBytes = 3
	for name, in := range map[string]Input{
		"nil message":       recv(2, nil),
		"nil gossip":        recv(2, (*Gossip)(nil)),
		"nil ihave":         recv(2, (*IHave)(nil)),
		"nil graft":         recv(2, (*Graft)(nil)),
		"nil prune":         recv(2, (*Prune)(nil)),
		"unknown type":      recv(2, otherMessage{}),
		"payload too large": recv(2, &Gossip{ID: mid(1), Payload: []byte("1234")}),
		"empty ihave":       recv(2, ihave()),
		"too many entries":  recv(2, ihave(Announcement{ID: mid(1)}, Announcement{ID: mid(2)}, Announcement{ID: mid(3)})),
		"gossip from self":  recv(1, &Gossip{ID: mid(1)}),
		"graft from self":   recv(1, &Graft{ID: mid(1), HasID: true}),
		"prune from self":   recv(1, &Prune{}),
		"ihave from self":   recv(1, ihave(Announcement{ID: mid(1)})),
	} {
		t.Run(name, func(t *testing.T) {
			s := newNode(t, 1, cfg, 2)
			require.Empty(t, step(t, s, at(0), in))
			require.Equal(t, Counters{DroppedInvalid: 1}, s.Counters())
			require.Equal(t, []peer.ID{2}, s.EagerPeers())
		})
	}
}

type otherMessage struct{ peer.Sealed }

func (otherMessage) Type() MessageType { return 99 }

// Local misuse is an error with the package prefix.
// Deviation: not in the paper, which has no local errors.
func TestPaperLocalMisuseIsError(t *testing.T) {
	s := newNode(t, 1, immediate())
	for _, in := range []Input{{}, {Kind: 99}, {Kind: InputTimer, Timer: Timer{Kind: 9}}} {
		out, err := s.Step(at(0), in, nil)
		require.ErrorContains(t, err, "plumtree: ")
		require.Empty(t, out)
	}
	_, err := New(1, Config{SeenRetention: time.Second, PayloadRetention: 2 * time.Second})
	require.ErrorContains(t, err, "plumtree: SeenRetention")
}

// With Flood set, the node is the paper's "eager" baseline: a duplicate is
// dropped without a PRUNE, the first copy is relayed to every neighbour but
// the sender, and a PRUNE moves no link.
// Reference: S2 §4 (the eager push gossip protocol Plumtree is compared to).
func TestFloodNeverPrunes(t *testing.T) {
	s := newNode(t, 1, Config{LazyPushDelay: -1, Flood: true}, 2, 3, 4)
	p := []byte("m")
	out := step(t, s, at(0), recv(2, &Gossip{ID: mid(1), Payload: p}))
	relay := &Gossip{ID: mid(1), Round: 1, Payload: p}
	require.Equal(t, []Output{delivered(mid(1), p, 1, 2), sendTo(3, relay), sendTo(4, relay)}, out)

	out = step(t, s, at(0), recv(3, &Gossip{ID: mid(1), Payload: p}))
	require.Empty(t, out, "a duplicate is dropped without a PRUNE")

	step(t, s, at(0), recv(4, &Prune{}))
	require.Equal(t, []peer.ID{2, 3, 4}, s.EagerPeers())
	require.Empty(t, s.LazyPeers())
	require.Equal(t, uint64(1), s.Counters().Duplicates)
	require.Zero(t, s.Counters().PruneSent)
}
