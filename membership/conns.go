package membership

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
	"github.com/plumview/plumview/wire"
)

// maxDialQueue bounds the frames held for a peer while it is dialled.
const maxDialQueue = 1024

// peerConn is one connection to a peer. The node uses one per peer (the
// one in state.conns); a duplicate from simultaneous dials is retired.
type peerConn struct {
	id      peer.ID
	conn    transport.Conn
	dialled bool // we dialled it
	retired bool // no longer in use: its end is not a failure
	ended   bool // its end was handled (connEnded)
	// standby is a connection the peer dialled that was retired in
	// favour of this one: it takes over if the peer closes this one
	// (takeOver).
	standby *peerConn
	// tried is when a relayed ICE link was opened or last tried again
	// for a direct path (icelinks.go).
	tried time.Time
}

// dial is a connection attempt in progress and the frames waiting for it.
type dial struct {
	queue      []queuedFrame
	closeAfter bool // the protocol closed the peer meanwhile
	// held are the engine's timers bounding the peer's answer to a
	// request still in the queue, set again once the connection is up
	// (holdForConnection).
	held []scheduled
}

// queuedFrame is a frame waiting for its connection, and the protocol
// version a peer needs to decode it (gossip.NeedsProtocol).
type queuedFrame struct {
	frame []byte
	needs int
}

func nowPlus(d time.Duration) time.Time { return time.Now().Add(d) }

// send encodes msg and sends it to p, dialling p.Addr if no connection is
// open (an empty Addr means: only over an open connection).
func (n *Node) send(p hyparview.Peer, msg gossip.Message) {
	s := n.st
	frame, err := n.codec.Encode(msg)
	if err != nil {
		n.incr(mUnencodable, 1)
		n.log.Error("cannot encode a message", zap.Error(err))
		return
	}
	if _, undo := msg.(*hyparview.Disconnect); undo && s.conns[p.ID] == nil && s.dials[p.ID] == nil {
		// A link lives on its connection here: with none open or being
		// set up, the peer holds no link to us to undo, and a
		// connection set up only to carry the DISCONNECT would cost a
		// handshake for nothing (hundreds a minute in a 256-node join).
		n.incrLabel(mDropped, "reason", dropNoLink)
		return
	}
	needs := gossip.NeedsProtocol(msg)
	ok, answered := gossip.Unreliable(msg)
	request, _ := msg.(*hyparview.Neighbor)
	if request != nil && !n.linkRequestByDatagram(p) {
		ok = false
	}
	if ok && (p.ID == s.dgram.answering || s.conns[p.ID] == nil && s.dials[p.ID] == nil) &&
		n.sendDatagram(p, frame, needs, answered, request) {
		return
	}
	if request != nil {
		n.askedOverConnection(p.ID)
	}
	n.sendFrame(p, frame, needs)
}

// sendFrame sends an encoded frame to p over its connection, dialling
// p.Addr if none is open (an empty Addr means: only over an open
// connection).
func (n *Node) sendFrame(p hyparview.Peer, frame []byte, needs int) {
	s := n.st
	if pc := s.conns[p.ID]; pc != nil {
		n.sendOn(pc, frame, needs)
		return
	}
	if d := s.dials[p.ID]; d != nil {
		d.closeAfter = false
		if len(d.queue) < maxDialQueue {
			d.queue = append(d.queue, queuedFrame{frame, needs})
		} else {
			n.incrLabel(mDropped, "reason", dropDialling)
		}
		return
	}
	if p.Addr == "" {
		n.incrLabel(mDropped, "reason", dropNoConnection)
		return
	}
	key, addr, err := parseAddr(p.Addr)
	if err != nil || key == nil || peerOf(key, addr).ID != p.ID {
		n.incr(mDialsBadAddr, 1)
		n.log.Warn("peer address is not a pinned key@host:port of that peer", zap.String("addr", p.Addr))
		n.connectionFailed(p.ID)
		return
	}
	s.dials[p.ID] = &dial{queue: []queuedFrame{{frame, needs}}}
	n.wg.Add(1)
	if n.viaICE(p.ID) {
		go n.linkOverICE(p.ID, n.relayRoom())
		return
	}
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DialTimeout)
		defer cancel()
		c, err := n.tr.Dial(ctx, addr, key)
		if !n.post(func() { n.dialDone(p.ID, c, err) }) && c != nil {
			_ = c.Close("node closed")
		}
	}()
}

// dialDone adopts a dialled connection and flushes the frames that waited
// for it, or reports the failure to the engine.
func (n *Node) dialDone(id peer.ID, c transport.Conn, err error) {
	s := n.st
	d := s.dials[id]
	delete(s.dials, id)
	if d == nil {
		d = &dial{}
	}
	if err == nil && !n.relayAllowed(c) {
		_ = c.Close(reasonRelayBudget)
		err = errRelayBudget
	}
	var pc *peerConn
	if err == nil {
		pc = n.adopt(c, true)
	} else {
		n.incr(mDialsFailed, 1)
		n.log.Debug("dial failed", peerField(id), zap.Error(err))
		pc = s.conns[id] // the peer may have connected to us meanwhile
		if pc == nil {
			n.connectionFailed(id)
			return
		}
	}
	if pc == nil {
		return
	}
	for _, q := range d.queue {
		n.sendOn(pc, q.frame, q.needs)
	}
	for _, t := range d.held {
		s.sched.add(scheduled{at: nowPlus(t.after), timer: t.timer, after: t.after})
	}
	if d.closeAfter {
		n.closePeer(id, "not needed by the protocol")
	}
}

// holdForConnection keeps t, a timer due now, from firing while the
// connection to the peer whose answer it bounds is still being set up (a
// handshake, an ICE negotiation): the request has not left yet, and its
// timeout counts from when it does (gossip.Timer.Awaits). dialDone sets it
// again for its whole period; a failed dial reports the failure instead.
func (n *Node) holdForConnection(t scheduled) bool {
	id, ok := t.timer.Awaits()
	if !ok {
		return false
	}
	d := n.st.dials[id]
	if d == nil {
		return false
	}
	d.held = append(d.held, t)
	n.incr(mTimersHeld, 1)
	return true
}

// adopt starts reading c and makes it the peer's connection unless one is
// already in use. Of two connections dialled by both ends at once, both
// ends keep the one dialled by the smaller ID; of two dialled by the same
// end, the newer. The end that dialled a retired duplicate closes it after
// flushing it; the other end reads it until then.
func (n *Node) adopt(c transport.Conn, dialled bool) *peerConn {
	s := n.st
	id := peer.ID(transport.KeyID(c.RemoteKey()))
	if id == n.self.ID {
		_ = c.Close("connected to itself")
		return nil
	}
	pc := &peerConn{id: id, conn: c, dialled: dialled, tried: time.Now()}
	n.incr(mConnsOpened, 1)
	if c.Protocol() < datagramProtocol {
		n.noteDatagramReader(id, false) // it reads none; that it reads them, only its own datagrams tell
	}
	n.wg.Add(1)
	go n.read(pc)
	old := s.conns[id]
	if old == nil {
		s.conns[id] = pc
		return pc
	}
	if pc.dialled == old.dialled || n.keeps(pc) {
		s.conns[id] = pc
		n.retire(old)
		return pc
	}
	n.retire(pc)
	if !pc.dialled {
		old.standby = pc
	}
	return old
}

// keeps reports whether pc was dialled by the smaller of the two IDs.
func (n *Node) keeps(pc *peerConn) bool {
	return pc.dialled == (n.self.ID < pc.id)
}

// reasonDuplicate is the reason a node gives when it closes a duplicate
// it dialled: it keeps another connection to the peer, which may still be
// on its way to the peer (a dial the peer has not yet seen complete).
const reasonDuplicate = "duplicate connection"

// retire marks pc as a duplicate; the end that dialled it closes it.
func (n *Node) retire(pc *peerConn) {
	pc.retired = true
	n.incr(mConnsDuplicate, 1)
	if pc.dialled {
		_ = pc.conn.Close(reasonDuplicate)
	}
}

// read decodes the peer's frames and hands them to the state goroutine.
// A malformed frame ends the connection; a message of an extension this
// node does not know (a later version's, gossip's overlay query for one)
// is counted and skipped, so that a newer peer's request leaves the link
// alone and simply goes unanswered.
func (n *Node) read(pc *peerConn) {
	defer n.wg.Done()
	for {
		f, err := pc.conn.Receive(n.ctx)
		at := time.Now()
		if err != nil {
			if n.ctx.Err() != nil {
				// The node is closing: shutdown closes the connections in
				// use, this closes the rest (a duplicate the peer dialled,
				// a dial back set aside), which an ICE link needs: its
				// QUIC endpoint is its own, not the transport's.
				_ = pc.conn.Close("node closed")
				return
			}
			n.post(func() { n.connEnded(pc, err) })
			return
		}
		msg, err := n.codec.Decode(f)
		if err != nil && unknownExtension(f, err) {
			if !n.post(func() { n.incr(mUnknown, 1) }) {
				return
			}
			continue
		}
		if err != nil {
			n.post(func() { n.malformed(pc, err) })
			return
		}
		if !n.postFrame(frame{pc: pc, msg: msg, at: at}) {
			return
		}
	}
}

// unknownExtension reports whether the codec refused frame f only for
// its extension tag: a message of a later version.
func unknownExtension(f []byte, err error) bool {
	return errors.Is(err, wire.ErrUnknownTag) && len(f) >= 2 && f[0] == wire.Version && f[1] >= wire.FirstExtensionTag
}

// connEnded reports a connection that ended without our asking.
func (n *Node) connEnded(pc *peerConn, err error) {
	pc.ended = true
	inUse := n.st.conns[pc.id] == pc
	if inUse {
		delete(n.st.conns, pc.id)
	}
	if pc.retired {
		return
	}
	var ce *transport.CloseError
	if errors.As(err, &ce) && ce.Remote {
		// The peer closed it deliberately, with a reason: it is alive,
		// and reporting a failure would make us suspect a live member.
		// If it kept another connection to us (a duplicate), nothing
		// changed; otherwise a link we held over it ends as a disconnect
		// does (Engine.ConnectionClosed), and a later send dials anew.
		// A duplicate's close says the peer keeps the other connection,
		// even if our end has not adopted it yet (our dial to it still in
		// flight): no link of ours ends.
		n.incr(mConnsClosed, 1)
		n.log.Debug("connection closed by the peer", peerField(pc.id), zap.String("reason", ce.Reason))
		if inUse && n.takeOver(pc) {
			return
		}
		if n.st.conns[pc.id] == nil && ce.Reason != reasonDuplicate {
			n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.ConnectionClosed(now, pc.id, rd) })
		}
		return
	}
	n.incr(mConnsFailed, 1)
	n.log.Debug("connection ended", peerField(pc.id), zap.Error(err))
	n.connectionFailed(pc.id)
}

// takeOver makes pc's standby, a connection the peer dialled and we
// retired in favour of pc, the peer's connection now that the peer closed
// pc, and reports whether it did. Two connections dialled by the two ends
// are taken for a simultaneous dial, and both ends keep the one the
// smaller ID dialled (adopt); but the peer may have closed that one and
// dialled anew before this end saw the close, and then it sends over the
// new one and reads nothing on the old: without the takeover this end
// would hold no connection to a peer that holds one to it, and its next
// frames would go to a new dial the peer retires in turn.
func (n *Node) takeOver(pc *peerConn) bool {
	sb := pc.standby
	if sb == nil || sb.ended || n.st.conns[pc.id] != nil {
		return false
	}
	sb.retired = false
	n.st.conns[pc.id] = sb
	n.incr(mConnsTakenOver, 1)
	return true
}

// malformed drops a peer that sent a frame the codec refused.
func (n *Node) malformed(pc *peerConn, err error) {
	n.incr(mMalformed, 1)
	n.log.Warn("malformed frame: closing the connection", peerField(pc.id), zap.Error(err))
	n.fail(pc, "malformed frame")
}

// fail closes pc for a reason of ours and reports it to the engine.
func (n *Node) fail(pc *peerConn, reason string) {
	if n.st.conns[pc.id] == pc {
		delete(n.st.conns, pc.id)
	}
	wasRetired := pc.retired
	pc.retired = true
	_ = pc.conn.Close(reason)
	if !wasRetired {
		n.connectionFailed(pc.id)
	}
}

// sendOn queues frame on pc, unless the peer speaks a protocol version
// older than the frame needs (an agent not yet upgraded: it would close
// the connection on a message it cannot decode), in which case the frame
// is dropped and counted. A full queue means the peer cannot keep up: the
// connection is dropped as failed.
func (n *Node) sendOn(pc *peerConn, frame []byte, needs int) {
	if pc.conn.Protocol() < needs {
		n.incrLabel(mDropped, "reason", dropOldProtocol)
		return
	}
	err := pc.conn.Send(frame)
	switch {
	case err == nil:
	case errors.Is(err, transport.ErrSendQueueFull):
		n.incr(mQueueFull, 1)
		n.log.Warn("send queue full: dropping the connection", peerField(pc.id))
		n.fail(pc, "send queue full")
	default:
		n.incrLabel(mDropped, "reason", dropClosed) // connEnded reports the failure
	}
}

// closePeer closes the connection to id once what was sent is flushed:
// within the transport's CloseTimeout, or the time Leave's caller allows
// (state.leaveFlush).
func (n *Node) closePeer(id peer.ID, reason string) {
	s := n.st
	flush := s.leaveFlush
	if d := s.dials[id]; d != nil {
		d.closeAfter = true
		return
	}
	if pc := s.conns[id]; pc != nil {
		delete(s.conns, id)
		pc.retired = true
		if flush > 0 {
			_ = pc.conn.CloseWithin(reason, flush)
			return
		}
		_ = pc.conn.Close(reason)
	}
}

// acceptLoop hands inbound connections to the state goroutine.
func (n *Node) acceptLoop() {
	defer n.wg.Done()
	for {
		c, err := n.tr.Accept(n.ctx)
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, transport.ErrClosed) {
				return
			}
			n.log.Warn("accept failed", zap.Error(err))
			continue
		}
		if !n.post(func() {
			if n.isDialBack(c) {
				n.setAside(c)
				return
			}
			n.adopt(c, false)
		}) {
			_ = c.Close("node closed")
			return
		}
	}
}
