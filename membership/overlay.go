package membership

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/peer"
)

// Views are one node's overlay views (gossip.OverlayViews): its HyParView
// active and passive views and its Plumtree eager and lazy push peers, by
// ID, each sorted.
type Views struct {
	Active, Passive, Eager, Lazy []uint64
}

// ClusterViews is what OverlayViews gathered: the views of this node and
// of every member that answered, by ID, and the members asked that did
// not answer (a node of an earlier version, one unreachable or too slow),
// sorted.
type ClusterViews struct {
	Views      map[uint64]Views
	Unanswered []uint64
}

// viewsWaiter collects the answers of one OverlayViews query.
type viewsWaiter struct {
	want    int
	answers []gossip.ViewsAnswer
	done    chan struct{}
}

// OverlayViews asks every member listed alive for its views, over the
// cluster's own connections (gossip.Engine.AskViews: at most
// gossip.ViewsFanout requests in flight, gossip.MaxViewsQuery members at
// most), and returns them with this node's. ctx bounds the whole query:
// when it ends first, the members not heard from yet are listed
// unanswered. Each member has gossip.DefaultViewsTimeout to answer, or
// what is left of ctx's deadline if less. Queries of one node begin
// gossip.MinViewsInterval apart: a call sooner waits its turn.
func (n *Node) OverlayViews(ctx context.Context) (ClusterViews, error) {
	for {
		cv, err := n.overlayViews(ctx)
		if !errors.Is(err, gossip.ErrViewsTooSoon) {
			return cv, err
		}
		select {
		case <-time.After(gossip.MinViewsInterval / 10):
		case <-ctx.Done():
			return ClusterViews{}, ctx.Err()
		}
	}
}

func (n *Node) overlayViews(ctx context.Context) (ClusterViews, error) {
	timeout := gossip.DefaultViewsTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	nonce := rand.Uint64() | 1
	w := &viewsWaiter{done: make(chan struct{})}
	out := ClusterViews{Views: map[uint64]Views{}}
	var askErr error
	err := n.call(ctx, func() {
		s := n.st
		out.Views[uint64(n.self.ID)] = viewsOf(s.eng.OwnViews())
		if s.views == nil {
			s.views = map[uint64]*viewsWaiter{}
		}
		s.views[nonce] = w
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) {
			w.want, askErr = e.AskViews(now, nonce, timeout, rd)
		})
		if askErr != nil || len(w.answers) >= w.want {
			delete(s.views, nonce)
			close(w.done)
		}
	})
	if err != nil {
		return ClusterViews{}, err
	}
	if askErr != nil {
		return ClusterViews{}, askErr
	}
	select {
	case <-w.done:
	case <-ctx.Done():
	case <-n.done:
	}
	var answers []gossip.ViewsAnswer
	if err := n.call(context.Background(), func() {
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.EndViews(nonce, rd) })
		delete(n.st.views, nonce)
		answers = w.answers
	}); err != nil {
		return ClusterViews{}, err
	}
	for _, a := range answers {
		if a.Answered {
			out.Views[uint64(a.From)] = viewsOf(a.Views)
		} else {
			out.Unanswered = append(out.Unanswered, uint64(a.From))
		}
	}
	slices.Sort(out.Unanswered)
	return out, nil
}

// viewsAnswered hands the answers of the batch to their queries
// (carryOut).
func (n *Node) viewsAnswered(answers []gossip.ViewsAnswer) {
	s := n.st
	for _, a := range answers {
		w := s.views[a.Nonce]
		if w == nil {
			continue
		}
		w.answers = append(w.answers, a)
		if w.want > 0 && len(w.answers) == w.want {
			close(w.done)
			delete(s.views, a.Nonce)
		}
	}
}

func viewsOf(v gossip.OverlayViews) Views {
	ids := func(l []peer.ID) []uint64 {
		if len(l) == 0 {
			return nil
		}
		out := make([]uint64, len(l))
		for i, id := range l {
			out[i] = uint64(id)
		}
		return out
	}
	return Views{Active: ids(v.Active), Passive: ids(v.Passive), Eager: ids(v.Eager), Lazy: ids(v.Lazy)}
}
