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
		if _, ok := rd.Sends[i].Msg.(*gossip.ReachRequest); ok {
			n.noteReachRequest(rd.Sends[i].To.ID)
		}
		n.send(rd.Sends[i].To, rd.Sends[i].Msg)
	}
	for _, ev := range rd.Evictions {
		n.incr(mEvicted, 1)
		n.log.Warn("peer evicted: over its budget", peerField(ev.Peer), zap.Stringer("budget", ev.Budget))
		n.closePeer(ev.Peer, "evicted: over its "+ev.Budget.String()+" budget")
	}
	for _, id := range rd.Closes {
		n.closePeer(id, "not needed by the protocol")
	}
	for _, t := range rd.Timers {
		s.sched.add(scheduled{at: nowPlus(t.After), timer: t.Timer, after: t.After})
	}
	for i := range rd.Deliveries {
		n.deliver(&rd.Deliveries[i])
	}
	for _, ev := range rd.Events {
		n.incrLabel(mEvents, "kind", ev.Kind.String())
		e := Event{Kind: EventKind(ev.Kind), Member: memberOf(ev.Member)}
		n.log.Debug("member event", zap.Stringer("event", e))
		n.events.Publish(e)
	}
	for _, c := range rd.Neighbors {
		if !c.Up {
			n.incr(mNeighborsDown, 1)
			n.log.Debug("neighbour down", peerField(c.Peer.ID), zap.Stringer("reason", c.Reason))
			continue
		}
		n.incr(mNeighborsUp, 1)
		n.log.Debug("neighbour up", peerField(c.Peer.ID))
		for _, ch := range s.joined { // the first neighbour ends every Join call waiting
			close(ch)
		}
		s.joined = nil
	}
	if rd.ResolveContacts {
		n.resolveSeeds()
	}
	for _, g := range rd.Gaps {
		n.gap(g)
	}
	if len(rd.Views) > 0 {
		n.viewsAnswered(rd.Views)
	}
	for _, sg := range rd.Signals {
		n.signalled(sg)
	}
	for _, d := range rd.DialBacks {
		n.dialBack(d)
	}
	rd.Reset()
}

// deliver hands an application message to the OnMessage hooks and the
// matching subscriptions.
func (n *Node) deliver(d *gossip.Delivery) {
	if n.st.frozen {
		n.incr(mFrozen, 1)
		return
	}
	n.incr(mDelivered, 1)
	if d.From != n.self.ID {
		n.observeDelivery(d.Hops, d.SentAt)
	}
	m := Message{ID: MessageID(d.ID), Origin: MessageID(d.ID).Origin(), Topic: d.Topic, Payload: d.Payload, Hops: d.Hops}
	for _, h := range n.st.hooks {
		h.fn(m)
	}
	n.messages.Publish(m)
}

// gap hands a gap notice to the OnMessage hooks and to every
// subscription, whatever its topics.
func (n *Node) gap(g gossip.Gap) {
	if n.st.frozen {
		return
	}
	n.incr(mGaps, 1)
	n.incr(mMissed, float32(g.Count))
	m := Message{Gap: Gap{Origin: uint64(g.Origin), First: g.First, Last: g.Last, Count: g.Count}}
	n.log.Warn("broadcasts missed for good", zap.Stringer("gap", m.Gap))
	for _, h := range n.st.hooks {
		h.fn(m)
	}
	n.messages.PublishAll(m)
}

// messageHook is one function registered with OnMessage.
type messageHook struct{ fn func(Message) }
