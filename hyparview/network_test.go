package hyparview

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/plumview/plumview/peer"
)

// testNet wires cores together in memory: a FIFO queue per ordered pair of
// nodes, a virtual clock with timers, crashes, leaves and broken
// connections, and a scheduler that picks the next delivery with its own
// seeded random source. Delivery takes no virtual time, so timers fire only
// when the network is quiet or when a test fires them.
//
// A connection failure is reported to node B about peer A by a marker in
// A's queue to B: B learns of the failure after whatever A sent before it
// and before anything A sends afterwards, as a driver that serialises a
// peer's events would report it.
type testNet struct {
	cfg    Config
	nodes  []*testNode // index = peer.ID-1
	queues []*pairQueue
	qIndex map[[2]peer.ID]int
	timers []testTimer
	now    time.Time
	seq    uint64
	sched  *rand.Rand
	out    []Output

	// trace, if set, sees every input and the outputs it produced.
	trace func(node peer.ID, in Input, out []Output)
}

type testNode struct {
	id    peer.ID
	st    *State
	down  bool             // crashed or left: the network drops messages to it
	conns map[peer.ID]bool // NeighborUp/Down as the driver sees them
	err   error            // first broken invariant seen after a step
}

type pairQueue struct {
	from, to peer.ID
	msgs     []Message
}

// failureMarker in the queue from A to B reports to B that its connection
// to A failed.
type failureMarker struct{ peer.Sealed }

func (failureMarker) Type() MessageType { return 0 }

type testTimer struct {
	at   time.Time
	seq  uint64
	node peer.ID
	t    Timer
}

// newTestNet creates n nodes with ids 1..n, node i seeded with seed+i.
func newTestNet(n int, cfg Config, seed uint64) *testNet {
	net := &testNet{
		cfg:    cfg,
		qIndex: map[[2]peer.ID]int{},
		now:    time.Unix(0, 0),
		sched:  rand.New(rand.NewPCG(seed, 0x5eed)),
	}
	for i := 1; i <= n; i++ {
		net.addNode(seed)
	}
	return net
}

func (net *testNet) addNode(seed uint64) *testNode {
	id := peer.ID(len(net.nodes) + 1)
	st, err := New(Peer{ID: id, Addr: addrOf(id)}, net.cfg, rand.New(rand.NewPCG(seed, uint64(id))))
	if err != nil {
		panic(err)
	}
	nd := &testNode{id: id, st: st, conns: map[peer.ID]bool{}}
	net.nodes = append(net.nodes, nd)
	return nd
}

func addrOf(id peer.ID) string { return fmt.Sprintf("n%d", id) }

func (net *testNet) node(id peer.ID) *testNode { return net.nodes[id-1] }

func (net *testNet) peer(id peer.ID) Peer { return Peer{ID: id, Addr: addrOf(id)} }

// step hands one input to a live node and routes its outputs.
func (net *testNet) step(id peer.ID, in Input) {
	nd := net.node(id)
	if nd.down {
		return
	}
	net.out = nd.st.Step(in, net.out[:0])
	if net.trace != nil {
		net.trace(id, in, net.out)
	}
	for _, o := range net.out {
		net.route(nd, o)
	}
	if err := nd.check(); err != nil && nd.err == nil {
		nd.err = err
	}
}

func (net *testNet) route(nd *testNode, o Output) {
	switch o.Kind {
	case OutputSend:
		to := net.node(o.Peer.ID)
		if to.down {
			net.enqueue(to.id, nd.id, failureMarker{})
			return
		}
		net.enqueue(nd.id, to.id, o.Msg)
	case OutputSetTimer:
		net.seq++
		net.timers = append(net.timers, testTimer{at: net.now.Add(o.After), seq: net.seq, node: nd.id, t: o.Timer})
	case OutputNeighborUp:
		if nd.conns[o.Peer.ID] && nd.err == nil {
			nd.err = fmt.Errorf("node %d: NeighborUp %d twice", nd.id, o.Peer.ID)
		}
		nd.conns[o.Peer.ID] = true
	case OutputNeighborDown:
		if !nd.conns[o.Peer.ID] && nd.err == nil {
			nd.err = fmt.Errorf("node %d: NeighborDown %d without NeighborUp", nd.id, o.Peer.ID)
		}
		delete(nd.conns, o.Peer.ID)
	case OutputClose:
	}
}

// check verifies the core's invariants and that the NeighborUp/Down events
// reproduce its active view exactly.
func (nd *testNode) check() error {
	if err := nd.st.Invariants(); err != nil {
		return err
	}
	act := nd.st.Active()
	if len(act) != len(nd.conns) {
		return fmt.Errorf("node %d: events say %d neighbours, active view has %d", nd.id, len(nd.conns), len(act))
	}
	for _, p := range act {
		if !nd.conns[p.ID] {
			return fmt.Errorf("node %d: %d active without NeighborUp", nd.id, p.ID)
		}
	}
	return nil
}

func (net *testNet) enqueue(from, to peer.ID, m Message) {
	k := [2]peer.ID{from, to}
	i, ok := net.qIndex[k]
	if !ok {
		i = len(net.queues)
		net.qIndex[k] = i
		net.queues = append(net.queues, &pairQueue{from: from, to: to})
	}
	net.queues[i].msgs = append(net.queues[i].msgs, m)
}

// busyQueues returns the indices of non-empty queues, in creation order.
func (net *testNet) busyQueues() []int {
	var idx []int
	for i, q := range net.queues {
		if len(q.msgs) > 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// deliverOne delivers the head of a non-empty queue chosen at random. It
// reports false if there was nothing to deliver.
func (net *testNet) deliverOne() bool {
	busy := net.busyQueues()
	if len(busy) == 0 {
		return false
	}
	net.deliverFrom(net.queues[busy[net.sched.IntN(len(busy))]], 0)
	return true
}

// deliverFrom delivers the i-th message of q.
func (net *testNet) deliverFrom(q *pairQueue, i int) {
	m := q.msgs[i]
	q.msgs = slices.Delete(q.msgs, i, i+1)
	if _, ok := m.(failureMarker); ok {
		net.step(q.to, Input{Kind: InputConnectionFailed, From: q.from})
		return
	}
	net.step(q.to, Input{Kind: InputReceive, From: q.from, Msg: m})
}

// drain delivers until the network is quiet, up to limit events.
func (net *testNet) drain(limit int) error {
	for range limit {
		if !net.deliverOne() {
			return nil
		}
	}
	return errors.New("network did not quiesce")
}

// fireNext advances the clock to the earliest timer and fires it.
func (net *testNet) fireNext() bool {
	if len(net.timers) == 0 {
		return false
	}
	i := 0
	for j, t := range net.timers {
		if t.at.Before(net.timers[i].at) || (t.at.Equal(net.timers[i].at) && t.seq < net.timers[i].seq) {
			i = j
		}
	}
	t := net.timers[i]
	net.timers = slices.Delete(net.timers, i, i+1)
	if t.at.After(net.now) {
		net.now = t.at
	}
	net.step(t.node, Input{Kind: InputTimer, Timer: t.t})
	return true
}

// runFor fires timers in time order for d of virtual time, draining the
// network before each.
func (net *testNet) runFor(d time.Duration) error {
	end := net.now.Add(d)
	for {
		if err := net.drain(1_000_000); err != nil {
			return err
		}
		if len(net.timers) == 0 {
			return nil
		}
		next := slices.MinFunc(net.timers, func(a, b testTimer) int {
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.seq, b.seq))
		})
		if next.at.After(end) {
			net.now = end
			return nil
		}
		net.fireNext()
	}
}

// crash stops a node: messages to it are lost, and every live node holding
// a connection to it (an active link, a request, or messages in flight)
// learns of the failure after the messages the node sent before crashing.
func (net *testNet) crash(id peer.ID) {
	nd := net.node(id)
	if nd.down {
		return
	}
	nd.down = true
	net.dropTo(id)
	for _, o := range net.nodes {
		if !o.down && (o.st.IsActive(id) || o.st.pendingIndex(id) >= 0) {
			net.enqueue(id, o.id, failureMarker{})
		}
	}
}

// leave makes a node leave gracefully; afterwards it is down like a crashed
// node, but its Disconnects are on their way.
func (net *testNet) leave(id peer.ID) {
	if net.node(id).down {
		return
	}
	net.step(id, Input{Kind: InputLeave})
	net.node(id).down = true
	net.dropTo(id)
}

// dropTo loses the messages queued to a node that went down; each sender
// learns that its connection failed.
func (net *testNet) dropTo(id peer.ID) {
	for _, q := range net.queues {
		if q.to == id && len(q.msgs) > 0 {
			q.msgs = nil
			net.enqueue(id, q.from, failureMarker{})
		}
	}
}

// breakLink breaks the connection between two live nodes: the messages in
// flight between them are lost and both learn of the failure at once,
// before they send anything else to each other, as the driver contract
// requires (doc.go).
func (net *testNet) breakLink(a, b peer.ID) {
	if a == b || net.node(a).down || net.node(b).down {
		return
	}
	for _, k := range [][2]peer.ID{{a, b}, {b, a}} {
		if i, ok := net.qIndex[k]; ok {
			net.queues[i].msgs = nil
		}
	}
	net.step(a, Input{Kind: InputConnectionFailed, From: b})
	net.step(b, Input{Kind: InputConnectionFailed, From: a})
}

func (net *testNet) live() []*testNode {
	var l []*testNode
	for _, nd := range net.nodes {
		if !nd.down {
			l = append(l, nd)
		}
	}
	return l
}

// firstError returns the first invariant broken at any node.
func (net *testNet) firstError() error {
	for _, nd := range net.nodes {
		if nd.err != nil {
			return nd.err
		}
	}
	return nil
}

// checkSettled verifies a quiet network: no request pending, every active
// link between live nodes, symmetric, and named alike at both ends.
func (net *testNet) checkSettled() error {
	for _, nd := range net.live() {
		if n := nd.st.Pending(); n != 0 {
			return fmt.Errorf("node %d: %d requests pending in a quiet network", nd.id, n)
		}
		for _, l := range nd.st.active {
			o := net.node(l.peer.ID)
			if o.down {
				return fmt.Errorf("node %d: down node %d in the active view", nd.id, o.id)
			}
			i := o.st.activeIndex(nd.id)
			if i < 0 {
				return fmt.Errorf("node %d has %d active, not the reverse", nd.id, o.id)
			}
			if !o.st.active[i].matches(l.disconnectNonce()) {
				return fmt.Errorf("link %d-%d: nonces disagree (%x/%x vs %x/%x)",
					nd.id, o.id, l.nonce, l.alt, o.st.active[i].nonce, o.st.active[i].alt)
			}
		}
	}
	return nil
}

// components returns the connected components of the live nodes' active
// view graph, each sorted, in order of their smallest id.
func (net *testNet) components() [][]peer.ID {
	seen := map[peer.ID]bool{}
	var comps [][]peer.ID
	for _, nd := range net.live() {
		if seen[nd.id] {
			continue
		}
		comp := []peer.ID{nd.id}
		seen[nd.id] = true
		for k := 0; k < len(comp); k++ {
			for _, p := range net.node(comp[k]).st.Active() {
				if !seen[p.ID] && !net.node(p.ID).down {
					seen[p.ID] = true
					comp = append(comp, p.ID)
				}
			}
		}
		slices.Sort(comp)
		comps = append(comps, comp)
	}
	return comps
}
