package membership

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// Connections through NATs (docs/nat.md). ConnectICE and AcceptICE run
// ice.Connect with a Signaller over the overlay: each ice.Signal, encoded,
// travels as a gossip.Signal to the peer, through the peer's rendezvous
// when its record names one (Config.BehindNAT), and comes back the same
// way. The engine routes; this file matches the signals that arrive to
// the negotiation they belong to, by peer and session.

// Bounds of the negotiations through the overlay.
const (
	// maxIncomingICE bounds the attempts of other members that no
	// AcceptICE took yet; more are dropped (their signals counted in
	// ice_signals_dropped_total) until one is taken.
	maxIncomingICE = 16
	// signalBuffer bounds the signals of one negotiation waiting for
	// ice.Connect to read them; one attempt sends a few dozen.
	signalBuffer = 256
	// maxICESessions bounds the negotiations in progress, ours and
	// others'.
	maxICESessions = 256
	// incomingTTL is how long another member's attempt waits for an
	// AcceptICE before it is forgotten.
	incomingTTL = 30 * time.Second
)

// Errors of ConnectICE and AcceptICE.
var (
	// ErrICEIdentity: the ice.Config's identity is not this node's.
	ErrICEIdentity = errors.New("membership: the ICE identity is not the node's")
	// ErrUnknownPeer: the member to connect to is not known, or its
	// address carries no key.
	ErrUnknownPeer = errors.New("membership: no key known for that member")
	// ErrTooManyICE: maxICESessions negotiations are in progress.
	ErrTooManyICE = errors.New("membership: too many ICE negotiations in progress")
)

// signalKey names one negotiation: the peer and the session its
// initiator chose.
type signalKey struct {
	peer    peer.ID
	session uint64
}

// overlaySignaller is an ice.Signaller over the overlay for one
// negotiation.
type overlaySignaller struct {
	n      *Node
	key    signalKey
	remote ed25519.PublicKey
	in     chan []byte
	since  time.Time // when its first signal came, for an incoming one
}

// Send encodes s and sends it to the peer through the engine.
func (o *overlaySignaller) Send(ctx context.Context, s ice.Signal) error {
	b, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	var serr error
	if err := o.n.call(ctx, func() {
		o.n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) {
			serr = e.SendSignal(now, o.key.peer, o.key.session, b, rd)
		})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("membership: signal to %s: %w", hexID(uint64(o.key.peer)), serr)
	}
	return nil
}

// Receive returns the peer's next signal.
func (o *overlaySignaller) Receive(ctx context.Context) (ice.Signal, error) {
	select {
	case b := <-o.in:
		return ice.UnmarshalSignal(b)
	case <-ctx.Done():
		return ice.Signal{}, ctx.Err()
	case <-o.n.ctx.Done():
		return ice.Signal{}, ErrClosed
	}
}

// signalled hands a signal the engine delivered to its negotiation, or
// queues a new one for AcceptICE (state goroutine).
func (n *Node) signalled(d gossip.SignalDelivery) {
	s := n.st
	n.expireIncoming(time.Now())
	k := signalKey{d.From, d.Session}
	o := s.signals[k]
	if o == nil {
		// Only credentials, which each side sends first, start an
		// attempt: a late signal of one that ended starts none.
		first, err := ice.UnmarshalSignal(d.Data)
		key, ok := n.keyOf(d.From)
		if err != nil || first.Kind != ice.SignalCredentials || !ok || len(s.incoming)+s.answering >= maxIncomingICE || len(s.signals) >= maxICESessions {
			n.incrLabel(mSignalsDropped, "reason", "unexpected")
			return
		}
		if n.cfg.ICE != nil {
			o = n.newSignaller(k, key)
			s.answering++
			n.wg.Add(1)
			go n.answerICE(o, n.relayRoom())
		} else {
			o = n.newSignaller(k, key)
			o.since = time.Now()
			s.incoming = append(s.incoming, o)
			n.wakeAccept()
		}
	}
	select {
	case o.in <- d.Data:
		n.incr(mSignalsIn, 1)
	default:
		n.incrLabel(mSignalsDropped, "reason", "buffer_full")
	}
}

// expireIncoming forgets the attempts no AcceptICE took within
// incomingTTL (state goroutine).
func (n *Node) expireIncoming(now time.Time) {
	s := n.st
	k := 0
	for _, o := range s.incoming {
		if now.Sub(o.since) < incomingTTL {
			s.incoming[k] = o
			k++
			continue
		}
		delete(s.signals, o.key)
	}
	clear(s.incoming[k:])
	s.incoming = s.incoming[:k]
}

// newSignaller registers a negotiation (state goroutine).
func (n *Node) newSignaller(k signalKey, remote ed25519.PublicKey) *overlaySignaller {
	if n.st.signals == nil {
		n.st.signals = map[signalKey]*overlaySignaller{}
	}
	o := &overlaySignaller{n: n, key: k, remote: remote, in: make(chan []byte, signalBuffer)}
	n.st.signals[k] = o
	return o
}

// keyOf returns the public key of member id from its address (state
// goroutine).
func (n *Node) keyOf(id peer.ID) (ed25519.PublicKey, bool) {
	r, ok := n.st.eng.Member(id)
	if !ok {
		return nil, false
	}
	key, _, err := parseAddr(r.Addr)
	if err != nil || key == nil || peer.ID(transport.KeyID(key)) != id {
		return nil, false
	}
	return key, true
}

// checkICE checks that cfg runs under this node's identity.
func (n *Node) checkICE(cfg ice.Config) error {
	if !cfg.Transport.Identity.Public().Equal(n.tr.PublicKey()) {
		return ErrICEIdentity
	}
	return nil
}

// ConnectICE opens a link to member id through NATs: ice.Connect with
// cfg (which must carry this node's identity), its signals carried by the
// overlay, through id's rendezvous when its record names one. The member
// must answer with AcceptICE. ctx bounds the whole negotiation.
func (n *Node) ConnectICE(ctx context.Context, id uint64, cfg ice.Config) (*ice.Link, error) {
	if n.cfg.ICE != nil {
		return nil, ErrICELinks
	}
	return n.connectICE(ctx, id, cfg)
}

// connectICE is ConnectICE.
func (n *Node) connectICE(ctx context.Context, id uint64, cfg ice.Config) (*ice.Link, error) {
	if err := n.checkICE(cfg); err != nil {
		return nil, err
	}
	var o *overlaySignaller
	var err error
	var sb [8]byte
	_, _ = rand.Read(sb[:])
	session := binary.BigEndian.Uint64(sb[:]) | 1
	if cerr := n.call(ctx, func() {
		key, ok := n.keyOf(peer.ID(id))
		switch {
		case !ok:
			err = fmt.Errorf("%w: %s", ErrUnknownPeer, hexID(id))
		case len(n.st.signals) >= maxICESessions:
			err = ErrTooManyICE
		default:
			o = n.newSignaller(signalKey{peer.ID(id), session}, key)
		}
	}); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	defer n.endSignaller(o)
	return n.runICE(ctx, cfg, o)
}

// AcceptICE waits for another member's ConnectICE to this node and
// answers it: ice.Connect with cfg (which must carry this node's
// identity) over the overlay. ctx bounds the wait and the negotiation.
func (n *Node) AcceptICE(ctx context.Context, cfg ice.Config) (*ice.Link, error) {
	if n.cfg.ICE != nil {
		return nil, ErrICELinks
	}
	if err := n.checkICE(cfg); err != nil {
		return nil, err
	}
	for {
		var o *overlaySignaller
		if err := n.call(ctx, func() {
			if len(n.st.incoming) > 0 {
				o = n.st.incoming[0]
				n.st.incoming = n.st.incoming[1:]
				if len(n.st.incoming) > 0 {
					n.wakeAccept() // for the next caller
				}
			}
		}); err != nil {
			return nil, err
		}
		if o != nil {
			defer n.endSignaller(o)
			return n.runICE(ctx, cfg, o)
		}
		select {
		case <-n.iceWake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// wakeAccept tells a waiting AcceptICE that a negotiation is waiting.
func (n *Node) wakeAccept() {
	select {
	case n.iceWake <- struct{}{}:
	default:
	}
}

// runICE runs one negotiation and logs its outcome.
func (n *Node) runICE(ctx context.Context, cfg ice.Config, o *overlaySignaller) (*ice.Link, error) {
	l, err := ice.Connect(ctx, cfg, o.remote, o)
	if err != nil {
		n.incrLabel(mICE, "outcome", "failed")
		n.log.Info("ICE negotiation failed", peerField(o.key.peer), zap.Error(err))
		return nil, err
	}
	n.incrLabel(mICE, "outcome", l.Path().Kind().String())
	n.log.Debug("ICE link", peerField(o.key.peer), zap.Stringer("path", l.Path()), zap.Duration("elapsed", l.Elapsed()))
	return l, nil
}

// endSignaller forgets a negotiation once it is over.
func (n *Node) endSignaller(o *overlaySignaller) {
	n.post(func() {
		if n.st.signals[o.key] == o {
			delete(n.st.signals, o.key)
		}
	})
}
