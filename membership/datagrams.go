package membership

import (
	"crypto/ed25519"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// Probes without connections. A liveness probe goes to a member this node
// holds no connection to, once a second; over QUIC a connection of its
// own costs a handshake (a few kilobytes, two key exchanges on each side)
// for two small messages, which made probing most of what an idle member
// cost. So a message the engine marks gossip.Unreliable (a Ping, an Ack)
// travels as one authenticated datagram (transport.Datagrams) when no connection
// to its receiver is open. So does a low-priority NEIGHBOR request, which
// full peers mostly refuse, and its refusal; an acceptance comes over a
// connection the acceptor opens, the one the link lives on
// (linkrequests.go).
//
// Agents of an earlier version do not read datagrams (a protocol version
// below 3), nothing in a member record says which version a member runs,
// and a network may pass QUIC but drop other UDP (a load balancer that
// routes by connection ID). So a probe goes as a datagram to any member
// not known to run an earlier version and, if no datagram has come back
// from it within datagramFallbackAfter, again over a connection, as
// before: a member of this version answers within a round trip; one of
// an earlier version is reached over the connection, whose handshake then
// says not to try datagrams with it again; a lost datagram costs a second
// datagram (to a member that sent us one) or a connection, not a
// suspicion. A message nobody answers (a shuffle's reply) goes as a
// datagram only to a member that sent us one.

// datagramProtocol is the first protocol version whose agents read
// datagrams (transport.ALPN).
const datagramProtocol = 3

// maxDatagramPeers bounds what the node remembers of members' datagram
// support; when full it forgets everything and learns it again.
const maxDatagramPeers = 1 << 16

// maxDatagramSources bounds the remembered addresses datagrams came from.
const maxDatagramSources = 4096

// datagramSourceAge is how long the address of a datagram's sender serves
// to answer it.
const datagramSourceAge = time.Minute

// datagramSource is where a member's last datagram came from: where an
// answer to it goes (behind a NAT, not the address the member advertises).
type datagramSource struct {
	addr string
	key  ed25519.PublicKey
	at   time.Time
}

// datagramState is what the state goroutine knows of datagrams.
type datagramState struct {
	tr transport.Datagrams // nil: the transport has none
	// reads holds, per member, whether it reads datagrams (true) or runs
	// an earlier version (false); absent: not known.
	reads   map[peer.ID]bool
	sources map[peer.ID]datagramSource
	// answering is the member whose datagram is being stepped: an
	// answer to it goes back as a datagram, to where the datagram came
	// from, even if a connection to it is open (it may be one the
	// member has closed or lost already).
	answering peer.ID
	// lastFallbackDial is when a fallback last opened a connection.
	lastFallbackDial time.Time
	// asked holds the NEIGHBOR requests sent as datagrams and not yet
	// answered, by peer (linkrequests.go).
	asked map[peer.ID]askedLink
	// linksOverConns holds the members whose refusal of a request came
	// only over a connection, and when: they are asked over connections
	// for a while (linkrequests.go).
	linksOverConns map[peer.ID]time.Time
}

// datagramFallbackAfter is how long a datagram that is answered (a Ping)
// waits for a datagram back before the message goes again, over a
// connection or, to a member known to read datagrams, first once more as
// a datagram (datagramFallback): a fraction of the probe timeout, so that
// a probe of an agent of an earlier version still ends in time.
func (n *Node) datagramFallbackAfter() time.Duration {
	return n.probeTimeout() / 4
}

// probeTimeout is the engine's probe timeout, default applied.
func (n *Node) probeTimeout() time.Duration {
	if t := n.cfg.Protocol.Members.ProbeTimeout; t > 0 {
		return t
	}
	return gossip.DefaultProbeTimeout
}

// startDatagrams reads the transport's datagrams, if it has any.
func (n *Node) startDatagrams() {
	dg, ok := transport.DatagramsOf(n.tr)
	if !ok {
		return
	}
	n.st.dgram = datagramState{tr: dg, reads: map[peer.ID]bool{}, sources: map[peer.ID]datagramSource{}, asked: map[peer.ID]askedLink{}, linksOverConns: map[peer.ID]time.Time{}}
	n.wg.Add(1)
	go n.readDatagrams(dg)
}

// readDatagrams decodes datagrams and hands them to the state goroutine.
// A datagram carrying anything but an unreliable message is refused and
// counted.
func (n *Node) readDatagrams(dg transport.Datagrams) {
	defer n.wg.Done()
	for {
		d, err := dg.ReceiveDatagram(n.ctx)
		if err != nil {
			return
		}
		at := time.Now()
		msg, err := n.codec.Decode(d.Payload)
		if ok, _ := gossip.Unreliable(msg); err != nil || !ok {
			if !n.post(func() { n.incr(mDatagramsRefused, 1) }) {
				return
			}
			continue
		}
		id := peer.ID(transport.KeyID(d.From))
		if id == n.self.ID {
			continue
		}
		if !n.postUrgent(func() {
			n.datagramFrom(id, d, at)
			n.incr(mDatagramsReceived, 1)
			if nb, ok := msg.(*hyparview.Neighbor); ok && !acceptsLinkDatagram(nb, d.Addr) {
				n.incr(mDatagramsRefused, 1)
				return
			}
			n.st.frameAt, n.st.dgram.answering = at, id
			n.noteLinkDatagram(id, msg)
			n.noteLinkAnswer(id, msg, false)
			n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.Receive(now, id, msg, rd) })
			n.st.frameAt, n.st.dgram.answering = time.Time{}, 0
		}) {
			return
		}
	}
}

// datagramFrom notes that id sent a datagram from d.Addr: it reads them,
// and an answer goes there.
func (n *Node) datagramFrom(id peer.ID, d transport.Datagram, at time.Time) {
	s := &n.st.dgram
	n.noteDatagramReader(id, true)
	if len(s.sources) >= maxDatagramSources {
		for k, src := range s.sources {
			if at.Sub(src.at) > datagramSourceAge {
				delete(s.sources, k)
			}
		}
		if len(s.sources) >= maxDatagramSources {
			clear(s.sources)
		}
	}
	s.sources[id] = datagramSource{addr: d.Addr, key: d.From, at: at}
}

// noteDatagramReader records whether id reads datagrams.
func (n *Node) noteDatagramReader(id peer.ID, reads bool) {
	s := &n.st.dgram
	if s.tr == nil {
		return
	}
	if _, ok := s.reads[id]; !ok && len(s.reads) >= maxDatagramPeers {
		clear(s.reads)
	}
	s.reads[id] = reads
}

// sendDatagram sends frame, an unreliable message, to p as a datagram if
// it can, and reports whether it did (else the caller sends it over a
// connection). A message the receiver answers (a Ping) goes as a datagram
// to any member not known to run an earlier version, and again over a
// connection datagramFallbackAfter later unless a datagram has come back
// from the member by then (to a member known to read datagrams, first
// once more as a datagram: datagramFallback): a member of an earlier
// version, one whose network drops datagrams but passes QUIC, and a lost
// datagram all cost a connection at most, never a false suspicion. A
// message not answered goes as a datagram only to a member known to read
// them (one sent us a datagram), and never as the transport's tagged try
// (transmitDatagram).
// A NEIGHBOR request (link) is sent again over a connection when its
// timeout falls due unanswered instead (linkrequests.go).
func (n *Node) sendDatagram(p hyparview.Peer, frame []byte, needs int, answered bool, link *hyparview.Neighbor) bool {
	s := &n.st.dgram
	if s.tr == nil || len(frame) > transport.MaxDatagramPayload {
		return false
	}
	reads, known := s.reads[p.ID]
	if known && !reads || !known && !answered {
		return false
	}
	sentAt := time.Now()
	// Only a probe may be the transport's tagged try: a NEIGHBOR request
	// refused that way would wait for its timeout and go again over a
	// connection, and its peer would be asked over connections for
	// minutes (linkrequests.go).
	if !n.transmitDatagram(p, frame, !answered || link != nil) {
		return false
	}
	if link != nil {
		n.askedByDatagram(p, frame, needs, link.Nonce)
		return true
	}
	if answered && p.Addr != "" {
		n.awaitDatagramAnswer(p, frame, needs, sentAt, false)
	}
	return true
}

// transmitDatagram sends frame to p as a datagram, to where p's last
// datagram came from or else to its advertised address, and reports
// whether it left. With answer set (a frame nobody sends again when it
// is lost: an Ack, a shuffle's reply, a refusal; and a NEIGHBOR request,
// whose loss costs a connection) it goes by
// transport.Datagrams.SendDatagramAnswer, so that it is never the tagged
// datagram the transport tries once a minute on an agent that signs its
// own, which that agent refuses (an Ack refused leaves the prober
// unanswered).
func (n *Node) transmitDatagram(p hyparview.Peer, frame []byte, answer bool) bool {
	s := &n.st.dgram
	var key ed25519.PublicKey
	var addr string
	if src, ok := s.sources[p.ID]; ok && time.Since(src.at) < datagramSourceAge {
		key, addr = src.key, src.addr
	} else if p.Addr != "" {
		k, a, err := parseAddr(p.Addr)
		if err != nil || k == nil || peerOf(k, a).ID != p.ID {
			return false // the dial path reports the bad address
		}
		key, addr = k, a
	} else {
		return false
	}
	send := s.tr.SendDatagram
	if answer {
		send = s.tr.SendDatagramAnswer
	}
	if err := send(addr, key, frame); err != nil {
		n.log.Debug("datagram not sent", peerField(p.ID), zap.Error(err))
		return false
	}
	n.incr(mDatagramsSent, 1)
	return true
}

// awaitDatagramAnswer calls datagramFallback datagramFallbackAfter from
// now unless the node stops first.
func (n *Node) awaitDatagramAnswer(p hyparview.Peer, frame []byte, needs int, sentAt time.Time, resent bool) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTimer(n.datagramFallbackAfter())
		defer t.Stop()
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
		n.post(func() { n.datagramFallback(p, frame, needs, sentAt, resent) })
	}()
}

// datagramFallback sends again a frame that went as a datagram and
// expects an answer, unless a datagram has come from its receiver since:
// over a connection, or first once more as a datagram (below).
//
// A fallback that would open a connection is one QUIC handshake at each
// end, and while a cluster is young (every probe to a member never heard
// from) or its hosts are starved (every answer late), every probe would
// fall back: a handshake per probe, taking the CPU the answers need, so
// that more answers come late (docs/benchmarks.md, "256 nodes: the join
// that does not converge"). So at most one fallback per fallbackDialGap
// opens a connection; the others are skipped, counted, and the probe goes
// on as without an answer (through neighbours, whose connections reach a
// member of an earlier version).
//
// To a member known to read datagrams (one came from it) and no
// connection to it open or being opened, the frame goes first once more
// as a datagram (resent), and over a connection only after a second
// datagramFallbackAfter: what was lost is more likely that one datagram
// than the member's whole path, and an agent of the version before
// tagged datagrams refuses the tagged datagram the transport sends it
// once a minute to learn whether it was upgraded (transport's signed
// datagrams), after which the transport signs again. Those minutes start
// at first contact, so in a cluster started together the tries to one
// such agent fell due together, a prober's and its relays', all refused,
// the fallbacks over connections skipped here, and the agent was
// suspected. (Answers are never that try: transmitDatagram.) The price:
// to such a member whose path has come to drop datagrams, the
// connection leaves at half the probe timeout rather than a quarter.
func (n *Node) datagramFallback(p hyparview.Peer, frame []byte, needs int, sentAt time.Time, resent bool) {
	s := &n.st.dgram
	if src, ok := s.sources[p.ID]; ok && !src.at.Before(sentAt) {
		return
	}
	if s.reads[p.ID] && !resent && n.st.conns[p.ID] == nil && n.st.dials[p.ID] == nil && n.transmitDatagram(p, frame, false) {
		n.incr(mDatagramsResent, 1)
		n.awaitDatagramAnswer(p, frame, needs, sentAt, true)
		return
	}
	if n.st.conns[p.ID] == nil && n.st.dials[p.ID] == nil {
		if now := time.Now(); now.Sub(s.lastFallbackDial) < fallbackDialGap {
			n.incr(mDatagramsFallbacksSkipped, 1)
			return
		} else {
			s.lastFallbackDial = now
		}
	}
	n.incr(mDatagramsFallbacks, 1)
	n.sendFrame(p, frame, needs)
}

// fallbackDialGap is the least time between two fallbacks that open a
// connection (datagramFallback).
const fallbackDialGap = 5 * time.Second
