package membership

import (
	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
)

// apply carries out one engine output.
func (n *Node) apply(o *gossip.Output) {
	s := n.st
	switch o.Kind {
	case gossip.OutputSend:
		n.send(o.Peer, o.Msg)
	case gossip.OutputClose:
		n.closePeer(o.Peer.ID, "not needed by the protocol")
	case gossip.OutputSetTimer:
		s.sched.add(scheduled{at: nowPlus(o.After), timer: o.Timer})
	case gossip.OutputDeliver:
		n.deliver(o)
	case gossip.OutputEvent:
		n.metrics.IncrCounter([]string{"membership", "events", o.Event.String()}, 1)
		ev := Event{Kind: EventKind(o.Event), Member: memberOf(o.Record)}
		n.log.Debug("member event", zap.Stringer("event", ev))
		for _, w := range s.watch {
			w.f.offer(ev)
		}
	case gossip.OutputNeighborUp:
		n.metrics.IncrCounter([]string{"membership", "neighbor", "up"}, 1)
		n.log.Debug("neighbour up", zap.Uint64("peer", uint64(o.Peer.ID)))
	case gossip.OutputNeighborDown:
		n.metrics.IncrCounter([]string{"membership", "neighbor", "down"}, 1)
		n.log.Debug("neighbour down", zap.Uint64("peer", uint64(o.Peer.ID)), zap.Stringer("reason", o.Reason))
	}
}

// deliver hands an application message to the matching subscriptions.
func (n *Node) deliver(o *gossip.Output) {
	n.metrics.IncrCounter([]string{"membership", "messages", "delivered"}, 1)
	d := &o.Delivery
	m := Message{ID: MessageID(d.ID), Origin: MessageID(d.ID).Origin(), Topic: o.Topic, Payload: d.Payload, Hops: d.Hops}
	if d.From == n.self.ID && n.st.sent != nil {
		*n.st.sent = m.ID
	}
	for _, sub := range n.st.subs {
		if sub.wants(o.Topic) {
			sub.f.offer(m)
		}
	}
}

// flushNotices retries the lag notices of full feeds, so a subscriber
// that catches up learns what it missed without waiting for a new message.
func (n *Node) flushNotices() {
	for _, sub := range n.st.subs {
		sub.f.flush()
	}
	for _, w := range n.st.watch {
		w.f.flush()
	}
}

func (n *Node) dropSubscription(sub *Subscription) {
	s := n.st
	for i, x := range s.subs {
		if x == sub {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			close(sub.f.ch)
			return
		}
	}
}

func (n *Node) dropWatcher(w *Watcher) {
	s := n.st
	for i, x := range s.watch {
		if x == w {
			s.watch = append(s.watch[:i], s.watch[i+1:]...)
			close(w.f.ch)
			return
		}
	}
}
