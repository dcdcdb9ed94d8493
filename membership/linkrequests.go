package membership

import (
	"net"
	"net/netip"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// Link requests without connections. A node short of neighbours asks its
// passive peers for a link with a low-priority NEIGHBOR (S1 §4.3), and in
// a settled cluster most of them are full and refuse: each request used
// to cost a QUIC connection dialled for it and closed after the refusal
// (in an idle 64-node cluster, three quarters of the connections opened).
// Such a request now travels as an authenticated datagram when no connection to
// the peer is open, and a refusal comes back as one (gossip.Unreliable).
// An acceptance does not: the acceptor dials the requester and sends it
// over the connection the link then lives on, so that the reply and what
// the link carries after it arrive in order, and a link still always has
// its connection (send drops a DISCONNECT to a peer without one).
//
// The acceptor dials the address the request names, so a request that
// arrives as a datagram is dropped, and counted, unless that address is
// the one the datagram came from: a datagram, unlike a connection, does
// not prove that its sender receives at its source address, and the
// acceptor would otherwise dial wherever a request told it to.
//
// The request's answer may never come as the datagram went: it was lost,
// dropped as above, or the peer runs a version that drops it unread. So
// when the request's timeout falls due and neither a refusal datagram nor
// a NeighborReply over a connection has come, and the core still waits
// for it (gossip.Engine.AwaitsNeighborReply), the request goes again over
// a connection, as every request did before, and its timeout starts again
// once that connection is up (gossip.Timer.Awaits): the peer is counted
// unreachable only when it fails to answer there too (hyparview/doc.go,
// deviation 6). A peer whose answer came only that way is asked over
// connections from then on (an agent of the version before; its
// datagrams counter shows one refusal).
//
// Requests that need a connection anyway go over one at once: a
// high-priority request, always accepted (S1 §4.3), and any request whose
// acceptance could not reach the requester by a dial: from a node behind a
// NAT (told, found by its reachability check, or not yet checked), or to
// a member reached through ICE.

// maxAskedLinks bounds the requests awaiting an answer as datagrams; the
// core keeps at most 2·ActiveViewSize in flight (hyparview/doc.go,
// deviation 10), so the bound is only a backstop: when it is reached the
// entries are forgotten, and their requests time out in the core.
const maxAskedLinks = 1024

// askedLink is a NEIGHBOR request sent as a datagram, kept until it is
// answered or its timeout falls due after it was sent again.
type askedLink struct {
	peer    hyparview.Peer
	frame   []byte
	needs   int
	nonce   uint64
	retried bool // sent again over a connection
}

// linkRequestByDatagram reports whether a NEIGHBOR to p may travel as a
// datagram: not if its acceptance could not reach this node by a dial,
// nor if this node's address is a name (a request datagram must name the
// address it comes from, an IP address and port), nor to a peer that
// lately answered a request only over a connection.
func (n *Node) linkRequestByDatagram(p hyparview.Peer) bool {
	m := n.cfg.Protocol.Members
	if m.BehindNAT || n.askOverConnection(p.ID) || !addressedByIP(n.self.Addr) {
		return false
	}
	if m.CheckReachability {
		if r := n.st.eng.Reachability(); !r.Checked || !r.Reachable {
			return false
		}
	}
	return !n.viaICE(p.ID) && !n.ownRecordUnreachable()
}

// linksOverConnsFor is how long a peer that answered a request only over
// a connection is asked over connections: long enough that an agent of
// the version before costs one timeout now and then, short enough that
// it is asked by datagram again soon after it is upgraded, or after a
// lost datagram made it look like one.
const linksOverConnsFor = 10 * time.Minute

// askOverConnection reports whether p answered a request only over a
// connection less than linksOverConnsFor ago.
func (n *Node) askOverConnection(p peer.ID) bool {
	at, ok := n.st.dgram.linksOverConns[p]
	if ok && time.Since(at) >= linksOverConnsFor {
		delete(n.st.dgram.linksOverConns, p)
		return false
	}
	return ok
}

// addressedByIP reports whether addr ("key@host:port", or a transport's
// own form without a port, such as the in-memory network's names) does
// not name its host by a DNS name: a request datagram carries the
// address, and the receiver compares it with the datagram's source.
func addressedByIP(addr string) bool {
	if _, a, err := parseAddr(addr); err == nil {
		addr = a
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // no port: not a host:port to resolve
	}
	_, err = netip.ParseAddr(host)
	return err == nil
}

// ownRecordUnreachable reports whether this node's own record says it
// cannot be dialled.
func (n *Node) ownRecordUnreachable() bool {
	r, ok := n.st.eng.Member(n.self.ID)
	return ok && r.Rendezvous().Unreachable
}

// askedByDatagram notes the request with nonce sent to p as frame.
func (n *Node) askedByDatagram(p hyparview.Peer, frame []byte, needs int, nonce uint64) {
	s := &n.st.dgram
	if len(s.asked) >= maxAskedLinks {
		for id, r := range s.asked {
			if !n.st.eng.AwaitsNeighborReply(id, r.nonce) {
				delete(s.asked, id)
			}
		}
		if len(s.asked) >= maxAskedLinks {
			clear(s.asked)
		}
	}
	s.asked[p.ID] = askedLink{peer: p, frame: frame, needs: needs, nonce: nonce}
}

// askedOverConnection notes a NEIGHBOR sent to id over a connection: it
// supersedes any request sent as a datagram before.
func (n *Node) askedOverConnection(id peer.ID) {
	delete(n.st.dgram.asked, id)
}

// forgetLinkRequest drops the request to id sent as a datagram, if any:
// the connection to id failed (a failed dial of the request's retry
// among others), which ends the request in the core.
func (n *Node) forgetLinkRequest(id peer.ID) {
	if len(n.st.dgram.asked) > 0 {
		delete(n.st.dgram.asked, id)
	}
}

// noteLinkAnswer notes msg from id, received as a datagram or over a
// connection: a NeighborReply answers the request of its nonce.
func (n *Node) noteLinkAnswer(id peer.ID, msg gossip.Message, overConnection bool) {
	s := &n.st.dgram
	if len(s.asked) == 0 {
		return
	}
	r, ok := msg.(*hyparview.NeighborReply)
	if !ok {
		return
	}
	a, ok := s.asked[id]
	if !ok || a.nonce != r.Nonce {
		return
	}
	delete(s.asked, id)
	if a.retried && overConnection && !r.Accepted {
		// A refusal, which would have come as a datagram, came only
		// over the connection: the peer drops request datagrams (an
		// agent of the version before), or one was lost. An acceptance
		// comes over a connection anyway, perhaps late.
		if len(s.linksOverConns) >= maxDatagramPeers {
			clear(s.linksOverConns)
		}
		s.linksOverConns[id] = time.Now()
	}
}

// noteLinkDatagram notes a link request or refusal that came from id as
// a datagram: id handles them, whatever it answered before.
func (n *Node) noteLinkDatagram(id peer.ID, msg gossip.Message) {
	switch msg.(type) {
	case *hyparview.Neighbor, *hyparview.NeighborReply:
		delete(n.st.dgram.linksOverConns, id)
	}
}

// acceptsLinkDatagram reports whether a NEIGHBOR that came as a datagram
// from src may be handled: its address must be the one it came from
// (acceptance dials it).
func acceptsLinkDatagram(m *hyparview.Neighbor, src string) bool {
	_, addr, err := parseAddr(m.Addr)
	return err == nil && sameAddr(addr, src)
}

// sameAddr reports whether two host:port addresses are the same: equal
// strings, or equal IP addresses (an IPv4-mapped IPv6 address equal to
// its IPv4 form) and ports.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := netip.ParseAddrPort(a)
	y, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && x.Addr().Unmap().WithZone("") == y.Addr().Unmap().WithZone("") && x.Port() == y.Port()
}

// retryLinkRequest handles t, a timer due now, if it bounds a request
// sent as a datagram and not answered, which the core still waits for:
// the request goes again over a connection and the timer is held until
// it is up (holdForConnection), or set again for its whole period when
// one is open already. It reports whether it took the timer.
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
	if r.retried || !n.st.eng.AwaitsNeighborReply(to, nonce) {
		delete(s.asked, to) // unanswered over the connection too, or given up: the core times it out
		return false
	}
	r.retried = true
	s.asked[to] = r
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
	delete(s.asked, to)
	return false // not sent (no usable address): the core times it out
}
