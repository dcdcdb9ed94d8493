package membership

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// HyParView over ICE links (docs/nat.md, "HyParView over ICE links").
// With Config.ICE, the connection the node opens to a member whose signed
// record says it cannot be dialled is an ICE negotiation through the
// member's rendezvous instead of a dial (linkOverICE, from sendFrame), and
// every negotiation another member opens is answered (answerICE, from
// signalled). Either way the link is adopted as the peer's one connection,
// by the rules of adopt: the end that began the negotiation counts as the
// one that dialled it, so two negotiations of the same pair at once end on
// the same link at both ends. The engine sees a connection and its end,
// whatever the path; a failed negotiation is a failed dial, which for a
// member that cannot be dialled is no evidence of its failure.

// ICELinks configures the links a node opens and answers through NATs
// (Config.ICE).
type ICELinks struct {
	// Config returns the ice.Config of one negotiation: the node's own
	// identity and admission in Transport, the STUN and TURN servers and
	// the node's credentials for them. It is called for each negotiation,
	// on the negotiation's goroutine, so that the servers and credentials
	// may change. Required.
	Config func() ice.Config
	// MaxRelayed bounds the links this node holds through a TURN relay at
	// once. With the budget spent, a negotiation gathers no relayed
	// candidate of this node's, and one that ends on a relayed path all
	// the same (through the peer's relay) is closed (reason "relay
	// budget") and counts as a failed dial, so HyParView takes another
	// peer. Default DefaultMaxRelayed; negative: no relayed link at all.
	MaxRelayed int
	// Timeout bounds one negotiation, from the first signal to the
	// authenticated QUIC connection. Default DefaultICETimeout.
	Timeout time.Duration
	// UpgradeInterval is how often the node tries again, without relays,
	// each relayed link it began that is still open: a direct path found
	// then replaces it. Default DefaultUpgradeInterval; negative: never.
	UpgradeInterval time.Duration
}

// Defaults of ICELinks.
const (
	DefaultMaxRelayed      = 4
	DefaultICETimeout      = 15 * time.Second
	DefaultUpgradeInterval = time.Minute
)

// ErrICELinks: ConnectICE and AcceptICE are the node's own when Config.ICE
// is set (its links would otherwise be taken by the caller at one end and
// by the node at the other).
var ErrICELinks = errors.New("membership: Config.ICE runs this node's ICE negotiations itself")

// errRelayBudget fails a negotiation that ended on a relayed path beyond
// ICELinks.MaxRelayed.
var errRelayBudget = errors.New("membership: relayed link beyond the relay budget (Config.ICE.MaxRelayed)")

// reasonRelayBudget is the close reason of such a link.
const reasonRelayBudget = "relay budget"

func (c *ICELinks) validate(trustMembers bool) error {
	switch {
	case c.Config == nil:
		return errors.New("membership: Config.ICE.Config is required")
	case c.Timeout < 0:
		return errors.New("membership: Config.ICE.Timeout must not be negative")
	case trustMembers:
		return errors.New("membership: Config.ICE needs signatures (not TrustMembers): whether a member can be dialled, and its rendezvous, are read from its signed record")
	}
	return nil
}

func (c ICELinks) withDefaults() ICELinks {
	if c.MaxRelayed == 0 {
		c.MaxRelayed = DefaultMaxRelayed
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultICETimeout
	}
	if c.UpgradeInterval == 0 {
		c.UpgradeInterval = DefaultUpgradeInterval
	}
	return c
}

// viaICE reports whether the node reaches member id by an ICE negotiation
// rather than a dial: Config.ICE is set and id's record says it cannot be
// dialled (state goroutine).
func (n *Node) viaICE(id peer.ID) bool {
	if n.cfg.ICE == nil {
		return false
	}
	r, ok := n.st.eng.Member(id)
	return ok && r.Rendezvous().Unreachable
}

// linkOverICE negotiates a link to id and hands it to dialDone as a dial's
// connection (its own goroutine).
func (n *Node) linkOverICE(id peer.ID, relays bool) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ICE.Timeout)
	defer cancel()
	l, err := n.connectICE(ctx, uint64(id), n.iceConfig(relays))
	var c transport.Conn
	if err == nil {
		c = l
		n.holdUntilReleased(l)
	}
	if !n.post(func() { n.dialDone(id, c, err) }) && c != nil {
		_ = c.Close("node closed")
	}
}

// answerICE answers another member's negotiation and adopts its link (its
// own goroutine, started by signalled).
func (n *Node) answerICE(o *overlaySignaller, relays bool) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ICE.Timeout)
	defer cancel()
	l, err := n.runICE(ctx, n.iceConfig(relays), o)
	n.endSignaller(o)
	if err == nil {
		n.holdUntilReleased(l)
	}
	if !n.post(func() {
		n.st.answering--
		if err != nil {
			return
		}
		if !n.relayAllowed(l) {
			_ = l.Close(reasonRelayBudget)
			return
		}
		n.adopt(l, false)
	}) && err == nil {
		_ = l.Close("node closed")
	}
}

// holdUntilReleased makes Close wait until l's QUIC endpoint and ICE
// agent are released: they are the link's own, not the transport's.
func (n *Node) holdUntilReleased(l *ice.Link) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		<-l.Released()
	}()
}

// iceConfig is the configuration of one negotiation: ICELinks.Config,
// without TURN servers unless relays.
func (n *Node) iceConfig(relays bool) ice.Config {
	cfg := n.cfg.ICE.Config()
	if !relays {
		cfg.TURN = nil
	}
	return cfg
}

// relayRoom reports whether the node may open one more relayed link:
// fewer than ICELinks.MaxRelayed are open (state goroutine).
func (n *Node) relayRoom() bool {
	held := 0
	for _, pc := range n.st.conns {
		if relayed(pc.conn) {
			held++
		}
	}
	return held < n.cfg.ICE.MaxRelayed
}

// relayAllowed reports whether the node may hold c: it is not relayed, or
// there is room for it (state goroutine).
func (n *Node) relayAllowed(c transport.Conn) bool {
	if !relayed(c) || n.relayRoom() {
		return true
	}
	n.incr(mRelayBudget, 1)
	n.log.Debug("relayed link beyond the relay budget", zap.Int("max", n.cfg.ICE.MaxRelayed))
	return false
}

// relayed reports whether c runs through a TURN relay.
func relayed(c transport.Conn) bool {
	l, ok := c.(*ice.Link)
	return ok && l.Path().Kind() == ice.PathRelay
}

// pathKind names the path of a peer's connection: "direct" for a QUIC
// connection dialled to or from the peer's address, else the ICE path's
// kind (host, srflx, relay).
func pathKind(c transport.Conn) string {
	if l, ok := c.(*ice.Link); ok {
		return l.Path().Kind().String()
	}
	return "direct"
}

// upgradeRelayed tries again, for a direct path, each relayed link this
// node began that was opened or last tried ICELinks.UpgradeInterval ago
// (state goroutine, on the metrics tick). The new negotiation gathers no
// relayed candidate of this node's; its link, whatever its path, replaces
// the old one at both ends (adopt: of two links begun by the same end, the
// newer), so that a negotiation that ends relayed again through the peer's
// relay changes nothing but the link.
func (n *Node) upgradeRelayed(now time.Time) {
	if n.cfg.ICE == nil || n.cfg.ICE.UpgradeInterval < 0 {
		return
	}
	s := n.st
	for id, pc := range s.conns {
		if !pc.dialled || s.upgrading[id] || now.Sub(pc.tried) < n.cfg.ICE.UpgradeInterval || !relayed(pc.conn) {
			continue
		}
		if s.upgrading == nil {
			s.upgrading = map[peer.ID]bool{}
		}
		s.upgrading[id] = true
		pc.tried = now
		n.wg.Add(1)
		go n.upgradeOverICE(id)
	}
}

// upgradeOverICE negotiates a new link to id without relayed candidates
// of this node's and adopts it (its own goroutine).
func (n *Node) upgradeOverICE(id peer.ID) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ICE.Timeout)
	defer cancel()
	cfg := n.iceConfig(false)
	cfg.RelayOnly = false
	l, err := n.connectICE(ctx, uint64(id), cfg)
	if err == nil {
		n.holdUntilReleased(l)
	}
	if !n.post(func() {
		delete(n.st.upgrading, id)
		if err != nil {
			n.incrLabel(mICEUpgrades, "outcome", "failed")
			return
		}
		outcome := "direct"
		if relayed(l) {
			outcome = "relay"
		}
		n.incrLabel(mICEUpgrades, "outcome", outcome)
		n.log.Debug("relayed link tried again", peerField(id), zap.Stringer("path", l.Path()))
		n.adopt(l, true)
	}) && err == nil {
		_ = l.Close("node closed")
	}
}
