package plumtree

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumview/plumview/peer"
)

// cluster wires cores in memory: a virtual clock, one event queue ordered by
// (time, sequence number), FIFO delivery per ordered pair of nodes. It checks
// every core's invariants after every step and that no node delivers a
// message twice.
type cluster struct {
	cfg      Config
	now      time.Duration
	nodes    map[peer.ID]*State
	ids      []peer.ID // every node, in creation order
	down     map[peer.ID]bool
	adj      map[peer.ID][]peer.ID // the overlay: NeighborUp was given both ways
	events   eventQueue
	seq      uint64
	latency  func(from, to peer.ID) time.Duration
	linkTail map[[2]peer.ID]time.Duration
	drops    []dropRule
	trace    *strings.Builder // nil: no trace
	fatalf   func(format string, args ...any)
	out      []Output

	delivered map[peer.ID]map[MessageID]int
	payloads  map[MessageID]int // Gossip messages sent, per ID
	steps     int
}

type event struct {
	at    time.Duration
	seq   uint64
	to    peer.ID
	from  peer.ID // 0 for a timer
	msg   Message
	timer Timer
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// dropRule loses the next message of type typ from one node to another.
type dropRule struct {
	from, to peer.ID
	typ      MessageType
}

func newCluster(cfg Config, n int, fatalf func(string, ...any)) *cluster {
	c := &cluster{
		cfg:       cfg,
		nodes:     map[peer.ID]*State{},
		down:      map[peer.ID]bool{},
		adj:       map[peer.ID][]peer.ID{},
		linkTail:  map[[2]peer.ID]time.Duration{},
		latency:   func(peer.ID, peer.ID) time.Duration { return time.Millisecond },
		fatalf:    fatalf,
		delivered: map[peer.ID]map[MessageID]int{},
		payloads:  map[MessageID]int{},
	}
	for i := 1; i <= n; i++ {
		id := peer.ID(i)
		s, err := New(id, cfg)
		if err != nil {
			fatalf("new: %v", err)
		}
		c.nodes[id] = s
		c.ids = append(c.ids, id)
		c.delivered[id] = map[MessageID]int{}
	}
	return c
}

func (c *cluster) tracef(format string, args ...any) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, format, args...)
	}
}

// link makes a and b neighbours (NeighborUp on both ends).
func (c *cluster) link(a, b peer.ID) {
	c.adj[a] = append(c.adj[a], b)
	c.adj[b] = append(c.adj[b], a)
	c.input(a, Input{Kind: InputNeighborUp, Peer: b})
	c.input(b, Input{Kind: InputNeighborUp, Peer: a})
}

// fail crashes node x: its pending messages are lost, and its live
// neighbours learn NeighborDown.
func (c *cluster) fail(x peer.ID) {
	c.down[x] = true
	c.tracef("t=%v %d fails\n", c.now, x)
	for _, y := range c.adj[x] {
		if !c.down[y] {
			c.tracef("t=%v %d neighbor-down %d\n", c.now, y, x)
			c.input(y, Input{Kind: InputNeighborDown, Peer: x})
		}
	}
}

func (c *cluster) broadcast(from peer.ID, payload []byte) MessageID {
	id, out, err := c.nodes[from].Broadcast(t0.Add(c.now), payload, c.out[:0])
	if err != nil {
		c.fatalf("broadcast: %v", err)
	}
	c.tracef("t=%v %d broadcasts %q\n", c.now, from, payload)
	c.after(from, out)
	return id
}

// input steps node with in and handles its outputs.
func (c *cluster) input(node peer.ID, in Input) {
	out, err := c.nodes[node].Step(t0.Add(c.now), in, c.out[:0])
	if err != nil {
		c.fatalf("node %d: step %v: %v", node, in.Kind, err)
	}
	c.after(node, out)
}

func (c *cluster) after(node peer.ID, out []Output) {
	c.steps++
	s := c.nodes[node]
	if err := s.Invariants(); err != nil {
		c.fatalf("node %d at %v: %v", node, c.now, err)
	}
	for _, o := range out {
		switch o.Kind {
		case OutputSend:
			if !isNeighbour(s, o.Peer) {
				c.fatalf("node %d sends to non-neighbour %d", node, o.Peer)
			}
			c.tracef("  -> %d %s\n", o.Peer, fmtMsg(o.Msg))
			c.send(node, o.Peer, o.Msg)
		case OutputDeliver:
			d := o.Delivery
			c.tracef("  deliver %v %q hops=%d from=%d\n", d.ID, d.Payload, d.Hops, d.From)
			c.delivered[node][d.ID]++
			if n := c.delivered[node][d.ID]; n > 1 {
				c.fatalf("node %d delivered %v %d times", node, d.ID, n)
			}
		case OutputSetTimer:
			c.tracef("  set-timer %s +%v\n", fmtTimer(o.Timer), o.After)
			c.push(event{at: c.now + o.After, to: node, timer: o.Timer})
		default:
			c.fatalf("node %d: unknown output %v", node, o.Kind)
		}
	}
	c.out = out[:0]
}

func (c *cluster) send(from, to peer.ID, m Message) {
	if _, ok := m.(*Gossip); ok {
		c.payloads[m.(*Gossip).ID]++
	}
	at := c.now + c.latency(from, to)
	link := [2]peer.ID{from, to}
	at = max(at, c.linkTail[link]) // FIFO per pair
	c.linkTail[link] = at
	c.push(event{at: at, to: to, from: from, msg: m})
}

func (c *cluster) push(e event) {
	c.seq++
	e.seq = c.seq
	heap.Push(&c.events, e)
}

// next processes the earliest event; it reports false when none is left.
func (c *cluster) next() bool {
	if len(c.events) == 0 {
		return false
	}
	e := heap.Pop(&c.events).(event)
	c.now = max(c.now, e.at)
	if c.down[e.to] || (e.from != 0 && c.down[e.from]) {
		return true
	}
	if e.msg == nil {
		c.tracef("t=%v %d timer %s\n", c.now, e.to, fmtTimer(e.timer))
		c.input(e.to, Input{Kind: InputTimer, Timer: e.timer})
		return true
	}
	for i, r := range c.drops {
		if r.from == e.from && r.to == e.to && r.typ == e.msg.Type() {
			c.drops = slices.Delete(c.drops, i, i+1)
			c.tracef("t=%v %d <- %d %s (lost)\n", c.now, e.to, e.from, fmtMsg(e.msg))
			return true
		}
	}
	c.tracef("t=%v %d <- %d %s\n", c.now, e.to, e.from, fmtMsg(e.msg))
	c.input(e.to, Input{Kind: InputReceive, Peer: e.from, Msg: e.msg})
	return true
}

// run processes events until none is left, or at most limit of them.
func (c *cluster) run(limit int) {
	for i := 0; i < limit && c.next(); i++ {
	}
	if len(c.events) > 0 {
		c.fatalf("still %d events after %d steps", len(c.events), limit)
	}
}

// live returns the nodes that have not failed, in order.
func (c *cluster) live() []peer.ID {
	var out []peer.ID
	for _, id := range c.ids {
		if !c.down[id] {
			out = append(out, id)
		}
	}
	return out
}

// checkDeliveredByAll requires every live node to have delivered id once.
func (c *cluster) checkDeliveredByAll(id MessageID) {
	for _, n := range c.live() {
		if got := c.delivered[n][id]; got != 1 {
			c.fatalf("node %d delivered %v %d times, want 1", n, id, got)
		}
	}
}

func fmtMsg(m Message) string {
	switch m := m.(type) {
	case *Gossip:
		return fmt.Sprintf("GOSSIP %v r=%d", m.ID, m.Round)
	case *IHave:
		parts := make([]string, len(m.Entries))
		for i, e := range m.Entries {
			parts[i] = fmt.Sprintf("%v r=%d", e.ID, e.Round)
		}
		return "IHAVE [" + strings.Join(parts, ", ") + "]"
	case *Graft:
		if !m.HasID {
			return fmt.Sprintf("GRAFT null r=%d", m.Round)
		}
		return fmt.Sprintf("GRAFT %v r=%d", m.ID, m.Round)
	case *Prune:
		return "PRUNE"
	}
	return fmt.Sprintf("%T", m)
}

func fmtTimer(t Timer) string {
	if t.Kind == TimerDispatch {
		return "dispatch"
	}
	return fmt.Sprintf("%v %v", t.Kind, t.ID)
}

// views prints every node's eager and lazy peers.
func (c *cluster) views() string {
	var b strings.Builder
	for _, id := range c.ids {
		if c.down[id] {
			fmt.Fprintf(&b, "%d: down\n", id)
			continue
		}
		s := c.nodes[id]
		fmt.Fprintf(&b, "%d: eager=%v lazy=%v\n", id, s.EagerPeers(), s.LazyPeers())
	}
	return b.String()
}
