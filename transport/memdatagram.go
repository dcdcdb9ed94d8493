package transport

import (
	"context"
	"crypto/ed25519"
	"time"
)

var _ Datagrams = (*memTransport)(nil)

// SendDatagram implements Datagrams on a MemNetwork: the datagram meets
// the network's delay, loss, hook and partitions as a frame would, and
// vanishes if nobody listens at addr.
func (t *memTransport) SendDatagram(addr string, key ed25519.PublicKey, payload []byte) error {
	return t.sendDatagram(addr, key, payload, true)
}

// SendDatagramAnswer implements Datagrams on a MemNetwork.
func (t *memTransport) SendDatagramAnswer(addr string, key ed25519.PublicKey, payload []byte) error {
	return t.sendDatagram(addr, key, payload, false)
}

func (t *memTransport) sendDatagram(addr string, key ed25519.PublicKey, payload []byte, mayTry bool) error {
	if t.isClosed() {
		return ErrClosed
	}
	if !t.datagramsOn() {
		return errDatagramsOff
	}
	pkt, err := t.datagrams.seal(key, payload, mayTry)
	if err != nil {
		return err
	}
	t.openMapping(addr)
	n := t.net
	n.mu.Lock()
	dst := n.nodes[addr]
	reachable := n.reachableLocked(t.addr, addr)
	n.mu.Unlock()
	if dst == nil || !reachable || !dst.mappedFor(t.addr) {
		t.stats.framesDropped.Add(1)
		return nil
	}
	n.mu.Lock()
	delay, lost, hook := n.faultsLocked(n.dgramRng)
	n.mu.Unlock()
	if lost || (hook != nil && !hook(t.addr, addr, payload)) {
		t.stats.framesDropped.Add(1)
		return nil
	}
	from := t.addr
	deliver := func() {
		n.mu.Lock()
		ok := n.nodes[addr] == dst && n.reachableLocked(from, addr)
		n.mu.Unlock()
		if ok && !dst.isClosed() && dst.datagramsOn() {
			dst.datagrams.received(pkt, from)
		}
	}
	if delay <= 0 {
		deliver()
		return nil
	}
	time.AfterFunc(delay, deliver)
	return nil
}

// ReceiveDatagram implements Datagrams.
func (t *memTransport) ReceiveDatagram(ctx context.Context) (Datagram, error) {
	return t.datagrams.receive(ctx)
}

func (t *memTransport) datagramsOn() bool {
	return datagramsOn(t.cfg.MaxProtocol) && datagramsFit(t.id)
}

// natMappingLife is how long a transport behind a NAT accepts datagrams
// from an address it sent one to, as a NAT keeps a UDP mapping.
const natMappingLife = 30 * time.Second

// openMapping notes, behind a NAT, that a datagram left for addr.
func (t *memTransport) openMapping(addr string) {
	if !t.cfg.BehindNAT {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mappings == nil {
		t.mappings = map[string]time.Time{}
	}
	now := time.Now()
	if len(t.mappings) >= 1024 {
		for a, at := range t.mappings {
			if now.Sub(at) > natMappingLife {
				delete(t.mappings, a)
			}
		}
	}
	t.mappings[addr] = now
}

// mappedFor reports whether a datagram from addr gets through: always,
// but behind a NAT, where only answers to what left for addr do (an
// address-restricted NAT).
func (t *memTransport) mappedFor(addr string) bool {
	if !t.cfg.BehindNAT {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.mappings[addr]
	return ok && time.Since(at) <= natMappingLife
}
