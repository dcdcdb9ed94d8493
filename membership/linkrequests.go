package membership

import (
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// Link requests without connections. A node short of neighbours asks its
// passive peers for a link with a low-priority NEIGHBOR (S1 §4.3), and in
// a settled cluster most of them are full and refuse: each request used
// to cost a QUIC connection dialled for it and closed after the refusal
// (in an idle 64-node cluster, three quarters of the connections opened).
// Such a request now travels as a signed datagram when no connection to
// the peer is open, and a refusal comes back as one (gossip.Unreliable).
// An acceptance does not: the acceptor dials the requester and sends it
// over the connection the link then lives on, so that the reply and what
// the link carries after it arrive in order, and a link still always has
// its connection (send drops a DISCONNECT to a peer without one).
//
// The request's answer may never come as the datagram went: it was lost,
// or the peer runs a version that drops it unread. So when the request's
// timeout falls due and neither a refusal datagram nor a NeighborReply
// over a connection has come, the request goes again over a connection,
// as every request did before, and its timeout starts again once that
// connection is up (gossip.Timer.Awaits): the peer is counted unreachable
// only when it fails to answer there too (hyparview/doc.go, deviation 6).
// A request that the core has given up on in the meantime (the timer
// names another nonce) is not sent again.
//
// Requests that need a connection anyway go over one at once: a
// high-priority request, always accepted (S1 §4.3), and any request whose
// acceptance could not reach the requester by a dial: from a node whose
// own record says it cannot be dialled, or to a member reached through
// ICE.

// maxAskedLinks bounds the requests awaiting an answer as datagrams; the
// core keeps at most 2·ActiveViewSize in flight (hyparview/doc.go,
// deviation 10), so the bound is only a backstop: when it is reached the
// entries are forgotten, and their requests time out in the core.
const maxAskedLinks = 1024

// askedLink is a NEIGHBOR request sent as a datagram, kept until it is
// answered or its timeout falls due.
type askedLink struct {
	peer  hyparview.Peer
	frame []byte
	needs int
	nonce uint64
}

// linkRequestByDatagram reports whether a NEIGHBOR to p may travel as a
// datagram: not if its acceptance could not reach this node by a dial.
func (n *Node) linkRequestByDatagram(p hyparview.Peer) bool {
	return !n.viaICE(p.ID) && !n.ownRecordUnreachable()
}

// ownRecordUnreachable reports whether this node's own record says it
// cannot be dialled (Config.CheckReachability found it behind a NAT).
func (n *Node) ownRecordUnreachable() bool {
	r, ok := n.st.eng.Member(n.self.ID)
	return ok && r.Rendezvous().Unreachable
}

// askedByDatagram notes the request with nonce sent to p as frame.
func (n *Node) askedByDatagram(p hyparview.Peer, frame []byte, needs int, nonce uint64) {
	s := &n.st.dgram
	if len(s.asked) >= maxAskedLinks {
		clear(s.asked)
	}
	s.asked[p.ID] = askedLink{peer: p, frame: frame, needs: needs, nonce: nonce}
}

// noteLinkAnswer notes msg from id, received as a datagram or over a
// connection: a NeighborReply answers the request of its nonce.
func (n *Node) noteLinkAnswer(id peer.ID, msg gossip.Message) {
	s := &n.st.dgram
	if len(s.asked) == 0 {
		return
	}
	if r, ok := msg.(*hyparview.NeighborReply); ok && s.asked[id].nonce == r.Nonce {
		delete(s.asked, id)
	}
}

// retryLinkRequest handles t, a timer due now, if it bounds a request
// sent as a datagram and not answered: the request goes again over a
// connection and the timer is held until it is up (holdForConnection),
// or set again for its whole period when one is open already. It reports
// whether it took the timer.
func (n *Node) retryLinkRequest(t scheduled) bool {
	to, nonce, ok := t.timer.NeighborRequest()
	if !ok {
		return false
	}
	s := &n.st.dgram
	r, ok := s.asked[to]
	if !ok || r.nonce != nonce {
		return false
	}
	delete(s.asked, to)
	n.incr(mDatagramsFallbacks, 1)
	n.sendFrame(r.peer, r.frame, r.needs)
	if n.holdForConnection(t) {
		return true
	}
	if n.st.conns[to] != nil {
		n.st.sched.add(scheduled{at: nowPlus(t.after), timer: t.timer, after: t.after})
		n.incr(mTimersHeld, 1)
		return true
	}
	return false // not sent (no usable address): the core times it out
}
