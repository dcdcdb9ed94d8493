package membership

import (
	"time"

	"github.com/plumview/plumview/gossip"
)

// Frames taken in batches. A connection's reader decodes each frame on
// its own goroutine and queues it in the inbox; the state goroutine takes
// a frame together with those queued right behind it (at most
// maxFrameBatch, up to the first other work), so that the engine checks
// their origin signatures in one batch (gossip's PrepareBatch, batch.go),
// then steps each frame alone, in the order read, the urgent lane's work
// between them (postUrgent). A node that keeps up finds no frame behind
// the first and steps it as before; one under load, with frames queued,
// pays about half per signature. The order of everything in the inbox is
// unchanged: work queued behind the frames runs after them.

// maxFrameBatch bounds the frames the state goroutine takes at once.
const maxFrameBatch = 64

// work is one item of the inbox: a function for the state goroutine, or,
// with f nil, a frame read from a peer.
type work struct {
	f     func()
	frame frame
}

// frame is a message read from a connection, and when.
type frame struct {
	pc  *peerConn
	msg gossip.Message
	at  time.Time
}

// postFrame queues a frame for the state goroutine; it reports false once
// the node is closed.
func (n *Node) postFrame(f frame) bool {
	select {
	case n.inbox <- work{frame: f}:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// takeFrames steps first and the frames queued right behind it, their
// origin signatures checked in one batch, then runs the work that ended
// the batch, if any.
func (n *Node) takeFrames(first frame) {
	s := n.st
	batch := append(s.frames[:0], first)
	var next func()
	for next == nil && len(batch) < maxFrameBatch {
		select {
		case w := <-n.inbox:
			if w.f != nil {
				next = w.f
			} else {
				batch = append(batch, w.frame)
			}
			continue
		default:
		}
		break
	}
	if len(batch) > 1 {
		recv := s.received[:0]
		for _, f := range batch {
			recv = append(recv, gossip.Received{From: f.pc.id, Msg: f.msg})
		}
		s.eng.PrepareBatch(time.Now(), recv)
		clear(recv)
		s.received = recv[:0]
	}
	for i, f := range batch {
		if i > 0 {
			n.runUrgent()
		}
		n.stepFrame(f)
		batch[i] = frame{}
	}
	if len(batch) > 1 {
		s.eng.EndBatch()
	}
	s.frames = batch[:0]
	if next != nil {
		next()
	}
}

// runUrgent runs the work waiting in the urgent lane (postUrgent).
func (n *Node) runUrgent() {
	for {
		select {
		case f := <-n.urgent:
			f()
		default:
			return
		}
	}
}

// stepFrame hands one frame to the engine.
func (n *Node) stepFrame(f frame) {
	n.st.frameAt = f.at
	n.noteLinkAnswer(f.pc.id, f.msg, true)
	n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.Receive(now, f.pc.id, f.msg, rd) })
	n.st.frameAt = time.Time{}
}
