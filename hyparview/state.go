package hyparview

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/plumview/plumview/peer"
)

// State is one node's HyParView membership: its active and passive views and
// the handshakes in flight. Create it with New; it is driven by Step and is
// not safe for concurrent use.
type State struct {
	// What every step reads comes first, and the counters last but for
	// the two arrays every message counts itself in: a simulator steps a
	// million states in turn, each out of cache, and prefetches their
	// first lines (gossip.Engine.MembershipState).
	self    Peer
	rng     *rand.Rand
	out     []Output // the caller's slice while Step runs
	left    bool     // InputLeave seen: inputs are ignored
	started bool     // InputJoin seen: the shuffle timer runs
	// backoff doubles the request timeouts once per step (requestWait);
	// timedOut says a request timed out since the shuffle period began.
	backoff  uint8
	timedOut bool

	active   []link    // symmetric neighbours, at most cfg.ActiveViewSize
	passive  []Peer    // backup peers, at most cfg.PassiveViewSize
	pending  []request // our Join and Neighbor requests awaiting a reply
	rejected []peer.ID // refused our low-priority request since refusalsSince
	// refusalsSince is the period at which rejected was last cleared
	// (forgetRefusals).
	refusalsSince uint64

	joinEvictions int    // join eviction budget left this shuffle period (Config.JoinEvictionsPerShuffle)
	ticks         uint64 // shuffle ticks since InputJoin, early ones included
	periods       uint64 // shuffle periods since InputJoin (startPeriod)
	shuffleNonce  uint64 // nonce of the one live shuffle timer
	nextContact   int    // round-robin position in contacts
	joinTries     int    // contacts tried since the last success or period start

	cfg         Config
	shuffleSent []peer.ID // ids in our last Shuffle (S1 §4.4 eviction order)
	contacts    []Peer    // seed contacts from InputJoin

	counters Counters // Sent and Received first
}

// link is one active-view entry. nonce names the link in Disconnect and
// NeighborReply. When both ends asked for the link at once, it carries both
// requests' nonces: nonce is the larger, alt the smaller, and own is ours.
//
// young and contact serve the join eviction budget (doc.go, deviation 12)
// and are cleared at the start of every shuffle period (startPeriod):
// young marks a link made since then, contact a neighbour that started a
// join walk through us since then (a ForwardJoin from it with TTL ARWL: it
// is a newcomer's contact).
type link struct {
	peer    Peer
	nonce   uint64
	alt     uint64
	own     uint64
	young   bool
	contact bool
}

// matches reports whether n names this link.
func (l *link) matches(n uint64) bool {
	return n == l.nonce || (l.alt != 0 && n == l.alt)
}

// disconnectNonce is the nonce our Disconnect for this link carries. After a
// crossed handshake the peer may know the link by our request's nonce alone
// (if it never saw its own request cross ours), so we send that one.
func (l *link) disconnectNonce() uint64 {
	if l.own != 0 {
		return l.own
	}
	return l.nonce
}

// request is a Join or Neighbor we sent and whose reply we await.
type request struct {
	peer  Peer
	nonce uint64
	prio  Priority
	join  bool
	walk  bool  // a Neighbor ending a join walk (acceptForwardJoin)
	shift uint8 // the backoff its wait was armed with (requestWait)
}

// maxPending bounds the requests in flight, so a flood of ForwardJoins
// cannot make us dial without limit.
func (s *State) maxPending() int { return 2 * s.cfg.ActiveViewSize }

// New returns the state of a node that has not joined yet. cfg's zero fields
// take their defaults. rng is the node's only source of randomness; seed it
// per node for reproducible runs.
func New(self Peer, cfg Config, rng *rand.Rand) (*State, error) {
	if rng == nil {
		return nil, errors.New("hyparview: nil random source")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &State{
		self:          self,
		cfg:           cfg,
		rng:           rng,
		joinEvictions: cfg.JoinEvictionsPerShuffle,
		active:        make([]link, 0, cfg.ActiveViewSize+1),
		passive:       make([]Peer, 0, cfg.PassiveViewSize+1),
		pending:       make([]request, 0, 2*cfg.ActiveViewSize+1),
		shuffleSent:   make([]peer.ID, 0, 1+cfg.ShuffleActiveCount+cfg.ShufflePassiveCount),
	}, nil
}

// Step handles one input and appends the resulting outputs to out, which it
// returns. It does not allocate beyond the messages it emits when out has
// room. HyParView's rules never read the clock (S1 §4): time reaches the
// core only as timers that fire, so Step takes no time.
func (s *State) Step(in Input, out []Output) []Output {
	s.out = out
	switch {
	case s.left:
		s.counters.IgnoredInputs++
	case in.Kind == InputJoin:
		s.onJoinInput(in.Contacts)
	case in.Kind == InputLeave:
		s.leave()
	case in.Kind == InputReceive:
		s.receive(in.From, in.Msg)
	case in.Kind == InputTimer:
		s.onTimer(in.Timer)
	case in.Kind == InputConnectionFailed:
		s.onConnectionFailed(in.From)
	case in.Kind == InputConnectionClosed:
		s.onConnectionClosed(in.From)
	case in.Kind == InputContact && len(in.Contacts) > 0:
		s.onContact(in.Contacts[0])
	default:
		s.counters.IgnoredInputs++
	}
	out = s.out
	s.out = nil
	return out
}

// receive validates a message and dispatches it to its handler. A
// malformed message is dropped and counted, never trusted.
func (s *State) receive(from peer.ID, m Message) {
	if from == s.self.ID || m == nil {
		s.counters.DroppedMessages++
		return
	}
	var ok bool
	switch m := m.(type) {
	case *Join:
		ok = m != nil && s.onJoin(from, m)
	case *ForwardJoin:
		ok = m != nil && s.onForwardJoin(from, m)
	case *Neighbor:
		ok = m != nil && s.onNeighbor(from, m)
	case *NeighborReply:
		ok = m != nil && s.onNeighborReply(from, m)
	case *Disconnect:
		ok = m != nil && s.onDisconnect(from, m)
	case *Shuffle:
		ok = m != nil && s.onShuffle(from, m)
	case *ShuffleReply:
		ok = m != nil && s.onShuffleReply(m)
	}
	if !ok {
		s.counters.DroppedMessages++
		return
	}
	s.counters.Received[m.Type()]++
}

// onTimer dispatches a fired timer. A timer whose purpose is gone is
// counted and ignored.
func (s *State) onTimer(t Timer) {
	var live bool
	switch t.Kind {
	case TimerShuffle:
		live = s.onShuffleTimer(t)
	case TimerNeighborRequest:
		live = s.onRequestTimeout(t, false)
	case TimerJoin:
		live = s.onRequestTimeout(t, true)
	}
	if !live {
		s.counters.StaleTimers++
	}
}

// Self returns this node's identity.
func (s *State) Self() Peer { return s.self }

// Config returns the configuration in use, defaults applied.
func (s *State) Config() Config { return s.cfg }

// Active returns a copy of the active view.
func (s *State) Active() []Peer { return s.AppendActive(nil) }

// AppendActive appends the active view to dst and returns it.
func (s *State) AppendActive(dst []Peer) []Peer {
	for i := range s.active {
		dst = append(dst, s.active[i].peer)
	}
	return dst
}

// Passive returns a copy of the passive view.
func (s *State) Passive() []Peer { return s.AppendPassive(nil) }

// AppendPassive appends the passive view to dst and returns it.
func (s *State) AppendPassive(dst []Peer) []Peer { return append(dst, s.passive...) }

// IsActive reports whether id is in the active view.
func (s *State) IsActive(id peer.ID) bool { return s.activeIndex(id) >= 0 }

// ActiveLen is the size of the active view.
func (s *State) ActiveLen() int { return len(s.active) }

// PassiveLen is the size of the passive view.
func (s *State) PassiveLen() int { return len(s.passive) }

// ActiveAt returns the i-th member of the active view, 0 ≤ i < ActiveLen.
func (s *State) ActiveAt(i int) Peer { return s.active[i].peer }

// Pending returns how many Join and Neighbor requests await a reply.
func (s *State) Pending() int { return len(s.pending) }

// Left reports whether the node has left the overlay.
func (s *State) Left() bool { return s.left }

// Counters returns a snapshot of the counters.
func (s *State) Counters() Counters { return s.counters }

// Invariants returns an error describing every broken invariant of the
// views, or nil: bounded views, self in neither, no duplicates, active and
// passive disjoint, no request pending to an active peer.
func (s *State) Invariants() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("hyparview: node %d: "+format, append([]any{s.self.ID}, a...)...))
	}
	if len(s.active) > s.cfg.ActiveViewSize {
		bad("active view has %d members, bound %d", len(s.active), s.cfg.ActiveViewSize)
	}
	if len(s.passive) > s.cfg.PassiveViewSize {
		bad("passive view has %d members, bound %d", len(s.passive), s.cfg.PassiveViewSize)
	}
	if len(s.rejected) > s.cfg.PassiveViewSize {
		bad("%d refusers remembered, bound %d", len(s.rejected), s.cfg.PassiveViewSize)
	}
	if len(s.pending) > s.maxPending() {
		bad("%d requests pending, bound %d", len(s.pending), s.maxPending())
	}
	if s.backoff > maxRequestBackoff {
		bad("request backoff %d, bound %d", s.backoff, maxRequestBackoff)
	}
	for i, l := range s.active {
		switch {
		case l.peer.ID == s.self.ID:
			bad("active view contains self")
		case s.passiveIndex(l.peer.ID) >= 0:
			bad("peer %d is both active and passive", l.peer.ID)
		case s.pendingIndex(l.peer.ID) >= 0:
			bad("peer %d is active and has a request pending", l.peer.ID)
		}
		for _, o := range s.active[i+1:] {
			if o.peer.ID == l.peer.ID {
				bad("peer %d twice in the active view", l.peer.ID)
			}
		}
	}
	for i, p := range s.passive {
		if p.ID == s.self.ID {
			bad("passive view contains self")
		}
		for _, o := range s.passive[i+1:] {
			if o.ID == p.ID {
				bad("peer %d twice in the passive view", p.ID)
			}
		}
	}
	for i, r := range s.pending {
		if r.peer.ID == s.self.ID {
			bad("request pending to self")
		}
		for _, o := range s.pending[i+1:] {
			if o.peer.ID == r.peer.ID {
				bad("two requests pending to peer %d", r.peer.ID)
			}
		}
	}
	if s.left && len(s.active)+len(s.passive)+len(s.pending) > 0 {
		bad("views not empty after leaving")
	}
	return errors.Join(errs...)
}
