package membership

import (
	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
)

// carryOut carries out the engine's batch, in the order Ready gives, and
// empties it.
func (n *Node) carryOut() {
	s := n.st
	rd := &s.rd
	for i := range rd.Sends {
		n.send(rd.Sends[i].To, rd.Sends[i].Msg)
	}
	for _, id := range rd.Closes {
		n.closePeer(id, "not needed by the protocol")
	}
	for _, t := range rd.Timers {
		s.sched.add(scheduled{at: nowPlus(t.After), timer: t.Timer})
	}
	for i := range rd.Deliveries {
		n.deliver(&rd.Deliveries[i])
	}
	for _, ev := range rd.Events {
		n.metrics.IncrCounter([]string{"membership", "events", ev.Kind.String()}, 1)
		e := Event{Kind: EventKind(ev.Kind), Member: memberOf(ev.Member)}
		n.log.Debug("member event", zap.Stringer("event", e))
		for _, w := range s.watch {
			w.f.offer(e)
		}
	}
	for _, c := range rd.Neighbors {
		if !c.Up {
			n.metrics.IncrCounter([]string{"membership", "neighbor", "down"}, 1)
			n.log.Debug("neighbour down", zap.Uint64("peer", uint64(c.Peer.ID)), zap.Stringer("reason", c.Reason))
			continue
		}
		n.metrics.IncrCounter([]string{"membership", "neighbor", "up"}, 1)
		n.log.Debug("neighbour up", zap.Uint64("peer", uint64(c.Peer.ID)))
		for _, ch := range s.joined { // the first neighbour ends every Join call waiting
			close(ch)
		}
		s.joined = nil
	}
	if rd.ResolveContacts {
		n.resolveSeeds()
	}
	rd.Reset()
}

// deliver hands an application message to the matching subscriptions.
func (n *Node) deliver(d *gossip.Delivery) {
	n.metrics.IncrCounter([]string{"membership", "messages", "delivered"}, 1)
	m := Message{ID: MessageID(d.ID), Origin: MessageID(d.ID).Origin(), Topic: d.Topic, Payload: d.Payload, Hops: d.Hops}
	for _, sub := range n.st.subs {
		if sub.wants(d.Topic) {
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
