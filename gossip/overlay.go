package gossip

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// The overlay's picture: an operator's tool (gossipd status -cluster,
// docs/operations.md) asks one node for the views of every member, and
// that node asks each member over the cluster's own connections, as a
// probe does (probe.go): a ViewsRequest, answered by a ViewsReply holding
// the member's HyParView active and passive views (S1 §4) and its
// Plumtree eager and lazy push peers (S2 §3). The answer is bounded by
// the views' sizes, never the member list, and is given only to a peer
// the member list holds as present (a node that joined; transport
// admission, a cluster CA or an allow-list, applies before that); each
// request is charged to the asker's BudgetViews. A node of an earlier
// version does not know the messages: it counts them and does not answer,
// and the asker reports it as not answering.
//
// The asking node keeps at most ViewsFanout requests in flight, each
// with its own timeout, and asks the next member as each answers or
// times out; a query covers at most MaxViewsQuery members. Its answers
// come out in Ready.Views, one per member asked.

// ViewsRequest asks the receiver for its overlay views (a ViewsReply
// under the same Nonce).
type ViewsRequest struct {
	peer.Sealed
	Nonce uint64
}

// ViewsReply answers a ViewsRequest with the sender's views.
type ViewsReply struct {
	peer.Sealed
	Nonce                        uint64
	Active, Passive, Eager, Lazy []peer.ID
}

// Extension tags of the overlay's messages in the wire codec.
const (
	TagViewsRequest byte = 70
	TagViewsReply   byte = 71
)

// Bounds of the overlay query.
const (
	// MaxViewsPeers bounds each list of a ViewsReply: far above the
	// papers' view sizes (an active view of 5, a passive view of 30, S1
	// §5), so that any sane configuration fits, and small enough that a
	// reply stays under 10 KiB.
	MaxViewsPeers = 256
	// ViewsFanout bounds the ViewsRequests of one query in flight at
	// once: each may open a connection.
	ViewsFanout = 16
	// MaxViewsQuery bounds the members one query asks; the others are
	// not asked (AskViews reports how many are).
	MaxViewsQuery = 4096
	// DefaultViewsTimeout is how long a member asked has to answer when
	// AskViews is given no timeout: it covers a connection's set-up (a
	// QUIC handshake) and the round trip.
	DefaultViewsTimeout = 2 * time.Second
	// MinViewsInterval is the least time between the starts of two
	// queries of one node: it keeps an operator's loop within every
	// member's BudgetViews (20 per 10 s by default) with room to spare,
	// so that no loop gets the asking node evicted.
	MinViewsInterval = time.Second
)

// Validate refuses a request without a nonce.
func (m *ViewsRequest) Validate() error {
	if m.Nonce == 0 {
		return errors.New("views request without a nonce")
	}
	return nil
}

// Validate bounds each list of the reply.
func (m *ViewsReply) Validate() error {
	if m.Nonce == 0 {
		return errors.New("views reply without a nonce")
	}
	for _, l := range [][]peer.ID{m.Active, m.Passive, m.Eager, m.Lazy} {
		if len(l) > MaxViewsPeers {
			return fmt.Errorf("views reply of a list of %d peers exceeds %d", len(l), MaxViewsPeers)
		}
	}
	return nil
}

// OverlayViews are a node's views: HyParView's active and passive views
// and Plumtree's eager and lazy push peers, each sorted by ID.
type OverlayViews struct {
	Active, Passive, Eager, Lazy []peer.ID
}

// ViewsAnswer is the outcome of asking one member for its views: its
// views when it Answered, else nothing (it timed out, or the query was
// ended first).
type ViewsAnswer struct {
	Nonce    uint64
	From     peer.ID
	Answered bool
	Views    OverlayViews
}

// viewsQuery is the query in progress.
type viewsQuery struct {
	nonce   uint64
	timeout time.Duration
	queue   []hyparview.Peer // not asked yet
	pending map[peer.ID]struct{}
}

// Errors of AskViews.
var (
	// ErrBadNonce: a zero nonce.
	ErrBadNonce = errors.New("gossip: a query needs a non-zero nonce")
	// ErrViewsTooSoon: less than MinViewsInterval since the last query
	// began; try again later.
	ErrViewsTooSoon = errors.New("gossip: a query of the views began less than MinViewsInterval ago")
)

// OwnViews returns this node's views, as it would answer a ViewsRequest.
func (e *Engine) OwnViews() OverlayViews {
	var v OverlayViews
	for _, p := range e.hv.AppendActive(nil) {
		v.Active = append(v.Active, p.ID)
	}
	for _, p := range e.hv.Passive() {
		v.Passive = append(v.Passive, p.ID)
	}
	v.Eager, v.Lazy = e.PushPeers()
	for _, l := range []*[]peer.ID{&v.Active, &v.Passive, &v.Eager, &v.Lazy} {
		slices.Sort(*l)
		if len(*l) > MaxViewsPeers {
			*l = (*l)[:MaxViewsPeers]
		}
	}
	return v
}

// AskViews starts a query of the views of every member the member list
// holds alive, this node excepted, sorted by ID, up to MaxViewsQuery of
// them, under nonce; each has timeout to answer (DefaultViewsTimeout if
// zero). It returns how many members it asks: Ready.Views gets one
// ViewsAnswer for each, as they answer or time out. A query still in
// progress is ended first (EndViews). Queries begin MinViewsInterval
// apart at least: a sooner one is refused (ErrViewsTooSoon).
func (e *Engine) AskViews(now time.Time, nonce uint64, timeout time.Duration, out *Ready) (int, error) {
	if e.roster == nil {
		return 0, ErrNoMembers
	}
	if nonce == 0 {
		return 0, ErrBadNonce
	}
	if e.viewsAt != 0 && now.UnixNano()-e.viewsAt < int64(MinViewsInterval) {
		return 0, ErrViewsTooSoon
	}
	e.viewsAt = now.UnixNano()
	if e.views != nil {
		e.EndViews(e.views.nonce, out)
	}
	if timeout <= 0 {
		timeout = DefaultViewsTimeout
	}
	q := &viewsQuery{nonce: nonce, timeout: timeout, pending: map[peer.ID]struct{}{}}
	self := e.roster.Self()
	for _, r := range e.roster.Members() { // sorted by ID
		if r.ID != self && r.State == roster.StateAlive && r.Addr != "" && len(q.queue) < MaxViewsQuery {
			q.queue = append(q.queue, hyparview.Peer{ID: r.ID, Addr: r.Addr})
		}
	}
	n := len(q.queue)
	if n == 0 {
		return 0, nil
	}
	e.views = q
	e.askNextViews(out)
	return n, nil
}

// EndViews ends the query under nonce, if it is the one in progress:
// every member not asked yet or not answered yet is reported unanswered.
func (e *Engine) EndViews(nonce uint64, out *Ready) {
	q := e.views
	if q == nil || q.nonce != nonce {
		return
	}
	e.views = nil
	for _, p := range q.queue {
		out.Views = append(out.Views, ViewsAnswer{Nonce: nonce, From: p.ID})
	}
	for _, id := range slices.Sorted(maps.Keys(q.pending)) {
		out.Views = append(out.Views, ViewsAnswer{Nonce: nonce, From: id})
		e.closeUnlessNeighbour(id, out)
	}
}

// askNextViews sends requests until ViewsFanout are in flight or none is
// left to ask; the query ends when every member has answered or timed
// out.
func (e *Engine) askNextViews(out *Ready) {
	q := e.views
	for len(q.pending) < ViewsFanout && len(q.queue) > 0 {
		p := q.queue[0]
		q.queue = q.queue[1:]
		q.pending[p.ID] = struct{}{}
		e.count().ViewsAsked++
		out.Sends = append(out.Sends, Send{To: p, Msg: &ViewsRequest{Nonce: q.nonce}})
		e.setTimer(Timer{kind: TimerViews, a: uint64(p.ID), b: q.nonce}, q.timeout, out)
	}
	if len(q.pending) == 0 {
		e.views = nil
	}
}

// onViewsMessage hands an overlay message to its handler.
func (e *Engine) onViewsMessage(from peer.ID, msg Message, out *Ready) {
	switch m := msg.(type) {
	case *ViewsRequest:
		r, ok := e.roster.Get(from)
		if !ok || !r.State.Present() || e.roster.Left() {
			e.count().ViewsRefused++
			return
		}
		v := e.OwnViews()
		e.count().ViewsAnswered++
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: from}, Msg: &ViewsReply{Nonce: m.Nonce,
			Active: v.Active, Passive: v.Passive, Eager: v.Eager, Lazy: v.Lazy}})
	case *ViewsReply:
		q := e.views
		if q == nil || m.Nonce != q.nonce {
			e.count().StaleViews++
			return
		}
		if _, ok := q.pending[from]; !ok {
			e.count().StaleViews++
			return
		}
		delete(q.pending, from)
		out.Views = append(out.Views, ViewsAnswer{Nonce: m.Nonce, From: from, Answered: true,
			Views: OverlayViews{Active: m.Active, Passive: m.Passive, Eager: m.Eager, Lazy: m.Lazy}})
		e.closeUnlessNeighbour(from, out)
		e.askNextViews(out)
	}
}

// viewsTimeout gives up on a member that did not answer in time.
func (e *Engine) viewsTimeout(t Timer, out *Ready) {
	q := e.views
	if q == nil || q.nonce != t.b {
		return
	}
	id := peer.ID(t.a)
	if _, ok := q.pending[id]; !ok {
		return
	}
	delete(q.pending, id)
	e.count().ViewsUnanswered++
	out.Views = append(out.Views, ViewsAnswer{Nonce: q.nonce, From: id})
	e.closeUnlessNeighbour(id, out)
	e.askNextViews(out)
}

// clone returns an independent copy.
func (q *viewsQuery) clone() *viewsQuery {
	if q == nil {
		return nil
	}
	c := *q
	c.queue = append([]hyparview.Peer(nil), q.queue...)
	c.pending = make(map[peer.ID]struct{}, len(q.pending))
	for k := range q.pending {
		c.pending[k] = struct{}{}
	}
	return &c
}
