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
		n.events.Publish(ev)
	case gossip.OutputNeighborUp:
		n.metrics.IncrCounter([]string{"membership", "neighbor", "up"}, 1)
		n.log.Debug("neighbour up", zap.Uint64("peer", uint64(o.Peer.ID)))
	case gossip.OutputNeighborDown:
		n.metrics.IncrCounter([]string{"membership", "neighbor", "down"}, 1)
		n.log.Debug("neighbour down", zap.Uint64("peer", uint64(o.Peer.ID)), zap.Stringer("reason", o.Reason))
	}
}

// deliver hands an application message to the OnMessage hooks and the
// matching subscriptions.
func (n *Node) deliver(o *gossip.Output) {
	n.metrics.IncrCounter([]string{"membership", "messages", "delivered"}, 1)
	d := &o.Delivery
	m := Message{ID: MessageID(d.ID), Origin: MessageID(d.ID).Origin(), Topic: o.Topic, Payload: d.Payload, Hops: d.Hops}
	if d.From == n.self.ID && n.st.sent != nil {
		*n.st.sent = m.ID
	}
	for _, h := range n.st.hooks {
		h.fn(m)
	}
	n.messages.Publish(m)
}

// messageHook is one function registered with OnMessage.
type messageHook struct{ fn func(Message) }
