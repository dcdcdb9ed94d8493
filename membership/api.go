package membership

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/transport"
)

// Join connects the node to a cluster through seeds and returns once it has
// a first neighbour, or at once when no seed is given (the first node of a
// cluster). A seed is "key@host:port", as Addr returns, which pins the
// seed's key; or "host:port", whose key is learned when connecting. An
// unpinned seed trusts whoever answers at that address, so use it only
// where that is acceptable: behind transport admission (a cluster CA or an
// allow-list), which still applies, or on a trusted network. Every peer
// learned through the protocol afterwards is pinned. If ctx ends first the
// node keeps trying in the background and Join returns ctx's error; the
// seeds are also what the node retries when it finds itself isolated
// (Config.RejoinInterval).
func (n *Node) Join(ctx context.Context, seeds ...string) error {
	var contacts []hyparview.Peer
	var conns []transport.Conn
	var errs []error
	for _, seed := range seeds {
		key, addr, err := parseAddr(seed)
		if err != nil {
			return err
		}
		if key != nil {
			contacts = append(contacts, peerOf(key, addr))
			continue
		}
		c, err := n.dialUnpinned(ctx, addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("membership: join: seed %s: %w", seed, err))
			continue
		}
		conns = append(conns, c)
		contacts = append(contacts, peerOf(c.RemoteKey(), addr))
	}
	if len(seeds) > 0 && len(contacts) == 0 {
		return errors.Join(errs...)
	}
	joined := make(chan struct{})
	err := n.call(ctx, func() {
		s := n.st
		for _, c := range conns {
			n.adopt(c, true)
		}
		s.seeds, s.pinned = seeds, contacts
		// The first neighbour that comes up ends the wait (carryOut).
		s.joined = append(s.joined, joined)
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.Join(now, contacts, rd) })
		if len(contacts) == 0 || len(s.eng.AppendActive(nil)) > 0 {
			for _, ch := range s.joined {
				close(ch)
			}
			s.joined = nil
		}
	})
	if err != nil {
		for _, c := range conns {
			_ = c.Close("join abandoned")
		}
		return err
	}
	select {
	case <-joined:
		if n.ctx.Err() != nil {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) dialUnpinned(ctx context.Context, addr string) (transport.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	return n.tr.Dial(ctx, addr, nil)
}

// resolveSeeds answers the engine's request to resolve the seeds afresh
// (an isolated node's rejoin tick): each unpinned seed is dialled in the
// background to learn the key it holds now, and the contacts go back to
// the engine as each answers. A round still dialling is not doubled.
func (n *Node) resolveSeeds() {
	s := n.st
	if s.resolving > 0 {
		return
	}
	for _, seed := range s.seeds {
		if key, addr, err := parseAddr(seed); err == nil && key == nil {
			s.resolving++
			n.wg.Add(1)
			go n.relearnSeed(addr)
		}
	}
}

// relearnSeed dials an unpinned seed, records the key it holds now and
// hands the contacts to the engine.
func (n *Node) relearnSeed(addr string) {
	defer n.wg.Done()
	c, err := n.dialUnpinned(n.ctx, addr)
	if err != nil {
		n.log.Debug("seed unreachable", zap.String("seed", addr), zap.Error(err))
		n.post(func() { n.st.resolving-- })
		return
	}
	if !n.post(func() {
		s := n.st
		s.resolving--
		n.adopt(c, true)
		p := peerOf(c.RemoteKey(), addr)
		replaced := false
		for i := range s.pinned {
			if _, a, _ := parseAddr(s.pinned[i].Addr); a == addr {
				s.pinned[i], replaced = p, true
			}
		}
		if !replaced {
			s.pinned = append(s.pinned, p)
		}
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.ContactsResolved(now, s.pinned, rd) })
	}) {
		_ = c.Close("node closed")
	}
}

// Broadcast sends payload on topic to every member, itself included (its
// own subscriptions receive it too), and returns the message's ID. The
// payload is copied.
func (n *Node) Broadcast(ctx context.Context, topic string, payload []byte) (MessageID, error) {
	var id MessageID
	var err error
	cerr := n.call(ctx, func() {
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) {
			var mid plumtree.MessageID
			mid, err = e.Broadcast(now, topic, payload, rd)
			id = MessageID(mid)
		})
	})
	if cerr != nil {
		return id, cerr
	}
	if err != nil {
		return id, fmt.Errorf("membership: broadcast: %w", err)
	}
	return id, nil
}

// Subscribe returns a subscription to the broadcasts on topics, or on
// every topic if none is given, delivered from now on.
func (n *Node) Subscribe(topics ...string) *Subscription {
	return &Subscription{newStream(n.messages.Subscribe(topics...), func(k uint64) Message { return Message{Lagged: k} })}
}

// Events returns a watcher of membership events (join, update, suspect,
// fail, leave) from now on, with the same bounded buffer and lag notices as
// a Subscription.
func (n *Node) Events() *Watcher {
	return &Watcher{newStream(n.events.Subscribe(), func(k uint64) Event { return Event{Lagged: k} })}
}

// OnMessage calls fn for every broadcast this node delivers from now on,
// and every gap notice (Message.Gap),
// on the node's goroutine, in delivery order, before the subscriptions
// receive it: a path that never drops, for a caller that numbers or
// retains every delivery (gossipd's Subscribe streams). fn must return
// quickly and must not call the Node's methods; the node waits for it.
// The returned stop unregisters fn: once stop has returned, fn is not
// called again. stop must not be called from fn.
func (n *Node) OnMessage(fn func(Message)) (stop func()) {
	h := &messageHook{fn: fn}
	if n.call(context.Background(), func() { n.st.hooks = append(n.st.hooks, h) }) != nil {
		return func() {}
	}
	return func() {
		if n.call(context.Background(), func() { n.st.hooks = slices.DeleteFunc(n.st.hooks, func(x *messageHook) bool { return x == h }) }) != nil {
			<-n.done // the node stopped: its goroutine calls no hook any more
		}
	}
}

// Members returns the member list, sorted by ID: this node and every
// member it knows of, including those that failed or left (until their
// records expire, Roster.RetainDead). It is nil once the node is closed.
func (n *Node) Members() []Member {
	var out []Member
	_ = n.call(context.Background(), func() {
		for _, r := range n.st.eng.Members() {
			out = append(out, memberOf(r))
		}
	})
	return out
}

// MembersAfter returns a page of the member list: the members with an ID
// above after, sorted by ID, at most limit of them (all if limit <= 0).
// Start from after 0 and pass the last ID of each page to get the next;
// a short page is the last. A cluster of any size can then be read
// without holding its whole list at once.
func (n *Node) MembersAfter(after uint64, limit int) []Member {
	var out []Member
	_ = n.call(context.Background(), func() {
		for _, r := range n.st.eng.MembersAfter(nil, peer.ID(after), limit) {
			out = append(out, memberOf(r))
		}
	})
	return out
}

// MemberCounts returns how many members the list holds in each state,
// this node included.
func (n *Node) MemberCounts() map[State]int {
	out := map[State]int{}
	_ = n.call(context.Background(), func() {
		c := n.st.eng.MemberCounts()
		out[StateAlive], out[StateSuspect], out[StateFailed], out[StateLeft] = c.Alive, c.Suspect, c.Failed, c.Left
	})
	return out
}

// UpdateMetadata replaces this node's metadata and publishes it to the
// cluster.
func (n *Node) UpdateMetadata(ctx context.Context, meta []byte) error {
	var err error
	if cerr := n.call(ctx, func() {
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { err = e.UpdateMeta(now, meta, rd) })
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("membership: update metadata: %w", err)
	}
	return nil
}

// Leave leaves the cluster gracefully: the node publishes that it left,
// tells its neighbours, flushes its connections (until ctx ends) and then
// closes as Close does. Other members list it as left, not failed.
func (n *Node) Leave(ctx context.Context) error {
	var open []transport.Conn
	err := n.call(ctx, func() {
		s := n.st
		for _, pc := range s.conns {
			open = append(open, pc.conn) // the protocol closes some of them
		}
		// What is queued (this node's last broadcasts, its Left record)
		// gets the time the caller allows, not only the transport's
		// CloseTimeout, on the connections the protocol closes as it
		// leaves and on the others.
		if dl, ok := ctx.Deadline(); ok {
			s.leaveFlush = time.Until(dl)
		}
		n.step(func(e *gossip.Engine, now time.Time, rd *gossip.Ready) { e.Leave(now, rd) })
		for id := range s.conns {
			n.closePeer(id, "left")
		}
	})
	if err == nil {
		for _, c := range open {
			select {
			case <-c.Done():
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				break
			}
		}
	}
	_ = n.Close()
	return err
}

// DeliveryMarks returns what the node knows of the broadcasts it
// delivered, per origin (gossip.DeliveryMark): a process that saves them
// before it stops and hands them to Config.DeliveryMarks when it starts
// again does not deliver twice what its earlier run delivered. Nil when
// the node is closed.
func (n *Node) DeliveryMarks() []gossip.DeliveryMark {
	var m []gossip.DeliveryMark
	_ = n.call(context.Background(), func() { m = n.st.eng.DeliveryMarks() })
	return m
}

// FreezeDeliveries stops handing deliveries and gap notices to the
// subscriptions and OnMessage functions, for good, and returns the
// delivery marks as of that moment: they cover every broadcast handed out
// until then and none after. A process that saves them on its way out and
// restores them (Config.DeliveryMarks) delivers every broadcast exactly
// once across the restart: what arrives after the freeze is delivered by
// the next run. Nil when the node is closed.
func (n *Node) FreezeDeliveries() []gossip.DeliveryMark {
	var m []gossip.DeliveryMark
	_ = n.call(context.Background(), func() {
		n.st.frozen = true
		m = n.st.eng.DeliveryMarks()
	})
	return m
}

// Incarnation returns the incarnation of this node's own member record,
// which it raises to refute a suspicion, to publish new metadata and on
// every refresh. A process that persists it passes a larger one as
// Config.Roster.Incarnation when it restarts. It is 0 once the node is
// closed.
func (n *Node) Incarnation() uint64 {
	var inc uint64
	_ = n.call(context.Background(), func() { inc = n.st.eng.Incarnation() })
	return inc
}

// NextSequence returns the sequence number of this node's next broadcast:
// every MessageID it named so far has a lower one. A process that persists
// it passes it (or more) as Config.Protocol.Plumtree.FirstSequence when it
// restarts, so that no message ID is ever reused, whatever the wall clock
// says. It is 0 once the node is closed.
func (n *Node) NextSequence() uint64 {
	var seq uint64
	_ = n.call(context.Background(), func() { seq = n.st.eng.NextSequence() })
	return seq
}

// Counters returns what each layer of the node's protocol engine counted:
// HyParView's, Plumtree's and the member list's counters, and the
// engine's own (forged origins, malformed payloads...). It is the zero
// value once the node is closed.
func (n *Node) Counters() gossip.Counters {
	var c gossip.Counters
	_ = n.call(context.Background(), func() { c = n.st.eng.Counters() })
	return c
}

// Views returns the IDs of the node's HyParView active and passive views.
func (n *Node) Views() (active, passive []uint64) {
	_ = n.call(context.Background(), func() {
		for _, p := range n.st.eng.AppendActive(nil) {
			active = append(active, uint64(p.ID))
		}
		for _, p := range n.st.eng.Passive() {
			passive = append(passive, uint64(p.ID))
		}
	})
	return active, passive
}

// Trees returns the IDs of the node's Plumtree eager and lazy push peers.
func (n *Node) Trees() (eager, lazy []uint64) {
	_ = n.call(context.Background(), func() {
		e, l := n.st.eng.PushPeers()
		for _, p := range e {
			eager = append(eager, uint64(p))
		}
		for _, p := range l {
			lazy = append(lazy, uint64(p))
		}
	})
	return eager, lazy
}
