package membership

import (
	"cmp"
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// Reachability (docs/nat.md, "Reachability"). The engine decides when to
// ask a neighbour to dial this node back and what to answer a neighbour
// that asks (gossip/reach.go); this file makes the dials it asks for
// (Ready.DialBacks): a fresh connection to the requester's address, the
// one its own signed record holds, pinned to its key, closed as soon as
// it is up, never one of the node's connections and never adopted as
// one. On the requester's side that connection arrives as an inbound one
// from the neighbour it asked while it already holds a connection to
// it: it is set aside (read until the neighbour closes it) rather than
// made the peer's connection, which the neighbour's close would
// otherwise end.

// Bounds of the dials back.
const (
	// maxDialBacks bounds the dials back in progress at once; a request
	// beyond is answered ReachRefused (it decides nothing, and the
	// requester asks again later).
	maxDialBacks = 8
	// reasonReachCheck is the reason a dial back's connection is closed
	// with.
	reasonReachCheck = "reachability check"
)

// Reachability is what a node learned of its own reachability
// (Config.CheckReachability).
type Reachability struct {
	// Checked says whether a check ended with a result; Reachable is the
	// last one, By the neighbour that dialled it back (hex ID), At when
	// it answered.
	Checked, Reachable bool
	By                 uint64
	At                 time.Time
	// Asking names the neighbour asked now, 0 for none.
	Asking uint64
}

// Reachability returns what this node learned of its own reachability
// (the zero value without Config.CheckReachability).
func (n *Node) Reachability() Reachability {
	var r gossip.Reachability
	if err := n.call(context.Background(), func() { r = n.st.eng.Reachability() }); err != nil {
		return Reachability{}
	}
	return Reachability{Checked: r.Checked, Reachable: r.Reachable, By: uint64(r.By), At: r.At, Asking: uint64(r.InFlight)}
}

// dialBackDone is a dial back's outcome waiting to be reported.
type dialBackDone struct {
	d   gossip.DialBack
	res gossip.ReachResult
}

// dialBack dials a neighbour back as the engine asked (state goroutine,
// while a batch is carried out: an answer at once waits for step).
func (n *Node) dialBack(d gossip.DialBack) {
	if n.st.dialBacks >= maxDialBacks {
		n.incrLabel(mDialBacks, "outcome", "busy")
		n.st.dialedBack = append(n.st.dialedBack, dialBackDone{d, gossip.ReachRefused})
		return
	}
	key, addr, err := parseAddr(d.Addr)
	if err != nil || key == nil || peerOf(key, addr).ID != d.ID {
		// The requester signed an address that is not its own: it
		// cannot be dialled there.
		n.incrLabel(mDialBacks, "outcome", "failed")
		n.st.dialedBack = append(n.st.dialedBack, dialBackDone{d, gossip.ReachFailed})
		return
	}
	n.st.dialBacks++
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DialTimeout)
		c, err := n.tr.Dial(ctx, addr, key)
		cancel()
		res := gossip.ReachDialled
		if err != nil {
			res = gossip.ReachFailed
		} else {
			_ = c.Close(reasonReachCheck)
		}
		n.post(func() {
			n.st.dialBacks--
			n.incrLabel(mDialBacks, "outcome", res.String())
			n.log.Debug("dialled back", peerField(d.ID), zap.Stringer("result", res), zap.Error(err))
			n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.DialedBack(now, d, res, rd) })
		})
	}()
}

// noteReachRequest remembers the neighbour this node asked to dial it
// back (state goroutine): its connection is set aside on arrival.
func (n *Node) noteReachRequest(to peer.ID) {
	n.st.reachAsked, n.st.reachAskedAt = to, time.Now()
}

// isDialBack reports whether c, an inbound connection, is the dial back
// of the neighbour this node asked, which must not replace the
// connection it holds to it (state goroutine).
func (n *Node) isDialBack(c transport.Conn) bool {
	s := n.st
	id := peer.ID(transport.KeyID(c.RemoteKey()))
	if id == 0 || id != s.reachAsked || s.conns[id] == nil {
		return false
	}
	return time.Since(s.reachAskedAt) < 2*cmp.Or(n.cfg.Protocol.Members.ReachTimeout, gossip.DefaultReachTimeout)+n.cfg.DialTimeout
}

// setAside reads a dial back's connection until the neighbour closes it,
// without making it the peer's connection.
func (n *Node) setAside(c transport.Conn) {
	n.incr(mDialBacksIn, 1)
	pc := &peerConn{id: peer.ID(transport.KeyID(c.RemoteKey())), conn: c, retired: true}
	n.wg.Add(1)
	go n.read(pc)
}

// NeighbourPath is how this node reaches one active neighbour.
type NeighbourPath struct {
	ID uint64
	// Kind is "direct" for a QUIC connection dialled to or from the
	// neighbour's address, the ICE path's kind ("host", "srflx" or
	// "relay", ice.PathKind) for a link negotiated through NATs
	// (Config.ICE), "none" while no connection is open.
	Kind string
	// Dialled says that this node dialled the connection.
	Dialled bool
}

// Paths returns how this node reaches each active neighbour.
func (n *Node) Paths() []NeighbourPath {
	var out []NeighbourPath
	_ = n.call(context.Background(), func() {
		for _, p := range n.st.eng.AppendActive(nil) {
			np := NeighbourPath{ID: uint64(p.ID), Kind: "none"}
			if pc := n.st.conns[p.ID]; pc != nil {
				np.Kind, np.Dialled = pathKind(pc.conn), pc.dialled
			}
			out = append(out, np)
		}
	})
	return out
}

// OwnRendezvous returns what this node's record says about reaching it:
// its rendezvous (0 for none) and whether it says it cannot be dialled.
func (n *Node) OwnRendezvous() (id uint64, unreachable bool) {
	_ = n.call(context.Background(), func() {
		if r, ok := n.st.eng.Member(n.self.ID); ok {
			rv := r.Rendezvous()
			id, unreachable = uint64(rv.ID), rv.Unreachable
		}
	})
	return id, unreachable
}

// ChecksReachability reports whether the node checks its reachability
// (Config.CheckReachability).
func (n *Node) ChecksReachability() bool { return n.cfg.CheckReachability }
