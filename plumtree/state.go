package plumtree

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/plumview/plumview/peer"
)

// State is one node's Plumtree core. It is not safe for concurrent use: one
// driver goroutine owns it and feeds it inputs one at a time.
type State struct {
	// What a received payload reads comes first: these fields fill one
	// 64-byte cache line and the history's recent IDs start the next, so a
	// duplicate touches two lines of the state. A simulator steps thousands
	// of states in turn, and each line is a cache miss.
	self       peer.ID
	epoch      time.Time     // the now of the first step; internal times are offsets from it
	due        time.Duration // no expiry is due before this (tick)
	received   uint64        // Counters.PayloadReceived
	duplicates uint64        // Counters.Duplicates
	maxPayload uint32        // cfg.MaxPayloadBytes, capped to fit
	started    bool
	flood      bool // cfg.Flood
	immediate  bool // cfg.LazyPushDelay < 0: IHAVEs go out at once
	adaptive   bool // cfg.MinGraftTimeout > 0: timeout1 follows the lags (graftlag.go)

	// Then what a new payload reads besides, in the order it reads it:
	// with the lines above, the first seven lines of the state (what the
	// history counts of expiries and evictions lies further, in hc).
	hist        history
	delivered   uint64 // Counters.Delivered
	payloadSent uint64 // Counters.PayloadSent
	peers       peerSet
	missing     missingSet
	c           Counters
	hc          histCounts

	lazy    lazyQueue
	nextSeq uint64
	cfg     Config
	lag     *graftLag // nil unless adaptive: 352 bytes a simulated node need not carry
}

// ErrDuplicatePayload is returned by Broadcast under IDContentHash when an
// identical payload was already delivered: nothing is sent.
var ErrDuplicatePayload = errors.New("plumtree: identical payload already delivered")

// New returns the core of node self with no neighbours. Zero fields of cfg
// take their defaults; an invalid cfg is an error. The protocol makes no
// random choice (the paper's Plumtree has none), so it takes no random
// source.
func New(self peer.ID, cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var lag *graftLag
	if cfg.MinGraftTimeout > 0 {
		lag = new(graftLag)
	}
	return &State{
		lag:        lag,
		self:       self,
		due:        math.MaxInt64,
		maxPayload: uint32(min(uint64(cfg.MaxPayloadBytes), math.MaxUint32)),
		flood:      cfg.Flood,
		immediate:  cfg.LazyPushDelay < 0,
		adaptive:   cfg.MinGraftTimeout > 0,
		cfg:        cfg,
		nextSeq:    cfg.FirstSequence,
		peers:      newPeerSet(),
		hist:       newHistory(cfg),
		missing:    newMissingSet(cfg.MaxMissing),
	}, nil
}

// Self returns the node's own identity.
func (s *State) Self() peer.ID { return s.self }

// Config returns the configuration in force, defaults filled in.
func (s *State) Config() Config { return s.cfg }

// NextSequence returns the sequence number the next broadcast under
// IDOriginSequence will try first: every sequence number this core used is
// below it. A driver that persists it lets a restarted node start above
// (Config.FirstSequence).
func (s *State) NextSequence() uint64 { return s.nextSeq }

// EagerPeers returns the paper's eagerPushPeers, in the order they joined it.
func (s *State) EagerPeers() []peer.ID { return slices.Clone(s.peers.eager) }

// LazyPeers returns the paper's lazyPushPeers, in the order they joined it.
func (s *State) LazyPeers() []peer.ID { return slices.Clone(s.peers.lazy) }

// Counters returns what the core observed since New.
func (s *State) Counters() Counters {
	c := s.c
	c.PayloadReceived, c.Duplicates = s.received, s.duplicates
	c.Delivered, c.PayloadSent = s.delivered, s.payloadSent
	c.PayloadsExpired, c.PayloadsEvicted = s.hc.heldExpired, s.hc.heldEvicted
	c.SeenExpired, c.SeenEvicted = s.hc.seenExpired, s.hc.seenEvicted
	c.MissingExpired, c.MissingEvicted = s.missing.expired, s.missing.evicted
	c.AnnouncementsRefused = s.missing.refused
	return c
}

// Sizes is how much the core holds now; each is bounded by its Config cap.
type Sizes struct {
	SeenIDs        int // remembered delivered IDs (<= MaxSeenIDs)
	CachedPayloads int // held payloads (<= MaxCachedPayloads)
	CachedBytes    int // their total size (<= MaxCachedBytes)
	MissingIDs     int // IDs announced but not received
	Missing        int // their cost against MaxMissing
	Queued         int // announcements waiting for the next IHave
}

// Sizes returns how much the core holds now.
func (s *State) Sizes() Sizes {
	return Sizes{
		SeenIDs:        s.hist.items.len(),
		CachedPayloads: s.hist.held,
		CachedBytes:    s.hist.bytes,
		MissingIDs:     len(s.missing.index),
		Missing:        s.missing.cost,
		Queued:         s.lazy.queued,
	}
}

// Step hands the core one input that happened at now and appends the
// resulting outputs to out, which it returns. now must not go backwards
// between calls. Reusing out across calls (out[:0]) avoids allocating: the
// core then allocates only the messages it creates.
//
// Step returns an error only for a local mistake: a broadcast payload over
// MaxPayloadBytes, an identical payload under IDContentHash
// (ErrDuplicatePayload), an unknown input or timer kind, or the node as its
// own neighbour; out is then returned unchanged. A peer's bad message is
// dropped and counted, never an error. InputBroadcast does what Broadcast
// does; the new ID is in the OutputDeliver it appends.
func (s *State) Step(now time.Time, in Input, out []Output) ([]Output, error) {
	switch in.Kind {
	case InputBroadcast:
		_, out, err := s.Broadcast(now, in.Payload, out)
		return out, err
	case InputReceive:
		return s.receive(s.tick(now), in.Peer, in.Msg, out), nil
	case InputTimer:
		switch in.Timer.Kind {
		case TimerGraft:
			return s.graftTimer(s.tick(now), in.Timer.ID, out), nil
		case TimerDispatch:
			return s.dispatch(s.tick(now), out), nil
		}
		return out, fmt.Errorf("plumtree: unknown timer kind %d", in.Timer.Kind)
	case InputNeighborUp:
		if in.Peer == s.self {
			return out, fmt.Errorf("plumtree: node %d cannot be its own neighbour", s.self)
		}
		s.tick(now)
		return s.neighborUp(in.Peer, out), nil
	case InputNeighborDown:
		s.tick(now)
		s.neighborDown(in.Peer)
		return out, nil
	case InputHoldPayloads:
		s.c.PayloadHolds++
		s.hist.hold(s.tick(now))
		return out, nil
	}
	return out, fmt.Errorf("plumtree: unknown input kind %d", in.Kind)
}

// tick turns now into the core's internal time and expires what is due.
func (s *State) tick(now time.Time) time.Duration {
	if !s.started {
		s.started, s.epoch = true, now
	}
	t := now.Sub(s.epoch)
	if t >= s.due {
		s.hist.expire(t, &s.hc)
		s.missing.expire(t, s.cfg.SeenRetention)
		s.due = min(s.hist.nextDue(), s.missing.nextDue(s.cfg.SeenRetention))
	}
	return t
}

// expiresAt lowers due to t, when something added now will expire at t.
func (s *State) expiresAt(t time.Duration) { s.due = min(s.due, t) }

// Broadcast sends payload to every node (S2 Algorithm 1, Broadcast): it
// names the message by IDPolicy, pushes it with round 0 (payload to eager
// peers, announcement to lazy peers), delivers it locally with Hops 0 and
// remembers it. The core keeps payload: the caller must not modify it
// afterwards. A payload over MaxPayloadBytes is an error, and so is, under
// IDContentHash, one already delivered (ErrDuplicatePayload).
func (s *State) Broadcast(now time.Time, payload []byte, out []Output) (MessageID, []Output, error) {
	if len(payload) > s.cfg.MaxPayloadBytes {
		return MessageID{}, out, fmt.Errorf("plumtree: payload of %d bytes exceeds MaxPayloadBytes (%d)", len(payload), s.cfg.MaxPayloadBytes)
	}
	t := s.tick(now)
	id, err := s.newID(payload)
	if err != nil {
		return id, out, err
	}
	s.c.Broadcasts++
	out = s.push(t, id, payload, 0, s.self, out)
	out = s.deliver(t, id, payload, 0, s.self, out)
	s.missing.remove(id) // a peer may have announced this ID before we used it
	return id, out, nil
}

// BroadcastID is Broadcast under an ID the caller chose instead of
// IDPolicy: a driver that derives IDs from content (identical member
// records declared by many nodes) lets copies deduplicate. An ID already
// delivered is ErrDuplicatePayload and nothing is sent.
func (s *State) BroadcastID(now time.Time, id MessageID, payload []byte, out []Output) ([]Output, error) {
	if len(payload) > s.cfg.MaxPayloadBytes {
		return out, fmt.Errorf("plumtree: payload of %d bytes exceeds MaxPayloadBytes (%d)", len(payload), s.cfg.MaxPayloadBytes)
	}
	t := s.tick(now)
	if s.hist.has(id) {
		return out, ErrDuplicatePayload
	}
	s.c.Broadcasts++
	out = s.push(t, id, payload, 0, s.self, out)
	out = s.deliver(t, id, payload, 0, s.self, out)
	s.missing.remove(id)
	return out, nil
}

// newID names a new local broadcast. Under IDOriginSequence a sequence
// number whose ID is already remembered (a peer announced or sent it, or a
// previous run of this node used it) is skipped.
// NextID reserves and returns the ID of this node's next broadcast under
// IDOriginSequence, for a caller that must sign or embed the ID in the
// payload before broadcasting it with BroadcastID. Under IDContentHash it
// returns false: the ID is the payload's hash.
func (s *State) NextID() (MessageID, bool) {
	if s.cfg.IDPolicy == IDContentHash {
		return MessageID{}, false
	}
	id, _ := s.newID(nil)
	return id, true
}

// Seen reports whether a payload with this ID was delivered within
// SeenRetention: a GOSSIP carrying it would be a duplicate.
func (s *State) Seen(id MessageID) bool { return s.hist.has(id) }

// SeenSince returns when the oldest delivered ID that Seen still knows was
// delivered, and false when it knows none: Seen may have forgotten an ID
// delivered before that, for SeenRetention or for MaxSeenIDs.
func (s *State) SeenSince() (time.Time, bool) {
	if s.hist.items.len() == 0 {
		return time.Time{}, false
	}
	return s.epoch.Add(s.hist.items.front().at), true
}

func (s *State) newID(payload []byte) (MessageID, error) {
	if s.cfg.IDPolicy == IDContentHash {
		id := ContentHashID(payload)
		if s.hist.has(id) {
			return id, ErrDuplicatePayload
		}
		return id, nil
	}
	for {
		id := OriginSequenceID(s.self, s.nextSeq)
		s.nextSeq++
		if !s.hist.has(id) {
			return id, nil
		}
	}
}

// deliver hands a new message to the application and remembers it in
// receivedMsgs and the payload cache.
func (s *State) deliver(now time.Duration, id MessageID, payload []byte, hops uint32, from peer.ID, out []Output) []Output {
	s.delivered++
	s.hist.add(id, payload, now, &s.hc)
	s.expiresAt(s.hist.due)
	return append(out, Output{
		Kind:     OutputDeliver,
		Peer:     from,
		Delivery: Delivery{ID: id, Payload: payload, Hops: hops, From: from},
	})
}

// send appends one OutputSend and counts it.
func (s *State) send(out []Output, to peer.ID, m Message) []Output {
	switch m := m.(type) {
	case *Gossip:
		s.payloadSent++
	case *IHave:
		s.c.IHaveSent++
		s.c.AnnouncementsSent += uint64(len(m.Entries))
	case *Graft:
		s.c.GraftSent++
	case *Prune:
		s.c.PruneSent++
	}
	return append(out, Output{Kind: OutputSend, Peer: to, Msg: m})
}

// neighborUp adds a new neighbour to eagerPushPeers (S2 Algorithm 3). A peer
// that already is a neighbour keeps its place. With
// NeighborUpAnnouncements set, a new neighbour is told of the recent
// messages held (announceRecent).
func (s *State) neighborUp(id peer.ID, out []Output) []Output {
	if s.peers.get(id) != nil {
		return out
	}
	s.peers.add(id)
	return s.announceRecent(id, out)
}

// announceRecent sends id IHaves naming the newest held payloads, at most
// NeighborUpAnnouncements of them, oldest first, in batches of
// MaxIHaveEntries. Our addition to S2 (Config.NeighborUpAnnouncements).
func (s *State) announceRecent(id peer.ID, out []Output) []Output {
	n := min(s.cfg.NeighborUpAnnouncements, s.hist.held)
	if n <= 0 {
		return out
	}
	first := s.hist.items.len() - n
	for n > 0 {
		k := min(n, s.cfg.MaxIHaveEntries)
		entries := make([]Announcement, k)
		for i := range entries {
			entries[i] = Announcement{ID: s.hist.items.at(first + i).id}
		}
		s.c.NeighborUpAnnouncements += uint64(k)
		out = s.send(out, id, &IHave{Entries: entries})
		first, n = first+k, n-k
	}
	return out
}

// neighborDown forgets a neighbour: its place in either set, the
// announcements queued for it, and every announcement it made (S2
// Algorithm 3).
func (s *State) neighborDown(id peer.ID) {
	p := s.peers.get(id)
	if p == nil {
		return
	}
	s.peers.remove(p)
	s.dropQueue(p)
	s.missing.removePeer(id)
}

// Invariants reports the first broken invariant, or nil: eager ∩ lazy = ∅,
// self is no neighbour, no neighbour is listed twice, every queued
// announcement will be sent, the caches are within their caps and agree
// with their indexes, every missing ID is undelivered, announced only by
// neighbours and has a timer due, and the measure of lags (graftlag.go)
// counts its live slots right and stays within timeout1.
func (s *State) Invariants() error {
	if (s.lag != nil) != s.adaptive {
		return fmt.Errorf("plumtree: measure of lags present %v, adaptive timeout1 %v", s.lag != nil, s.adaptive)
	}
	if s.lag != nil {
		if err := s.lag.check(s.cfg.GraftTimeout1); err != nil {
			return err
		}
	}
	if err := s.peers.check(s.self); err != nil {
		return err
	}
	if err := s.lazy.check(&s.peers, s.cfg.MaxIHaveEntries); err != nil {
		return err
	}
	if err := s.hist.check(); err != nil {
		return err
	}
	if next := min(s.hist.nextDue(), s.missing.nextDue(s.cfg.SeenRetention)); s.started && s.due > next {
		return fmt.Errorf("plumtree: next expiry expected at %v, after the due %v", s.due, next)
	}
	return s.missing.check(
		func(p peer.ID) bool { return s.peers.get(p) != nil },
		s.hist.has,
	)
}
