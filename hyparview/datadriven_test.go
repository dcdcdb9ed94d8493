package hyparview

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/plumview/plumview/peer"
)

// TestTraces runs the scripts in testdata/: multi-node scenarios on the
// in-memory network, each command followed by the inputs it caused and the
// outputs of every core. Nonces are shown as #1, #2, ... in order of first
// appearance. Rewrite the expectations with -rewrite after a deliberate
// change.
//
// Commands:
//
//	init nodes=N [active=A] [passive=P] [seed=S] [early-ticks=true]
//	    (without early-ticks, the nodes run WithoutEarlyTicks: tick fires
//	    a full shuffle tick from the first on; doc.go, deviation 14)
//	join node=N [contacts=(A,B,...)]
//	deliver [from=A] [to=B] [type=T] [n=K]   the first matching queued message (out of order with type=)
//	report                                    deliver every queued connection-failure report
//	stabilize                                 deliver everything, in the scheduler's order
//	tick node=N                               fire N's shuffle timer
//	timeout node=N peer=P                     fire N's request timer for P
//	crash node=N | leave node=N
//	views | queue | check
func TestTraces(t *testing.T) {
	datadriven.Walk(t, "testdata/traces", func(t *testing.T, path string) {
		tr := &tracer{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return tr.run(t, d)
		})
	})
}

type tracer struct {
	net    *testNet
	nonces map[uint64]int
	buf    strings.Builder
}

func (tr *tracer) run(t *testing.T, d *datadriven.TestData) string {
	tr.buf.Reset()
	node := func() peer.ID {
		var n int
		d.ScanArgs(t, "node", &n)
		return peer.ID(n)
	}
	switch d.Cmd {
	case "init":
		var n, active, passive, seed int
		var early bool
		d.ScanArgs(t, "nodes", &n)
		d.MaybeScanArgs(t, "active", &active)
		d.MaybeScanArgs(t, "passive", &passive)
		d.MaybeScanArgs(t, "seed", &seed)
		d.MaybeScanArgs(t, "early-ticks", &early)
		cfg := Config{ActiveViewSize: active, PassiveViewSize: passive, WithoutEarlyTicks: !early}
		tr.net = newTestNet(n, cfg, uint64(seed))
		tr.net.trace = tr.trace
		tr.nonces = map[uint64]int{}
		return "ok"
	case "join":
		var contacts []int
		d.MaybeScanArgs(t, "contacts", &contacts)
		var ps []Peer
		for _, c := range contacts {
			ps = append(ps, tr.net.peer(peer.ID(c)))
		}
		tr.net.step(node(), Input{Kind: InputJoin, Contacts: ps})
	case "deliver":
		tr.deliver(t, d)
	case "report":
		for _, q := range tr.net.queues {
			for i := 0; i < len(q.msgs); {
				if _, ok := q.msgs[i].(failureMarker); ok {
					tr.net.deliverFrom(q, i)
					continue
				}
				i++
			}
		}
	case "stabilize":
		if err := tr.net.drain(10_000); err != nil {
			t.Fatal(err)
		}
	case "tick":
		tr.fire(t, node(), func(tt testTimer) bool { return tt.t.Kind == TimerShuffle })
	case "timeout":
		var p int
		d.ScanArgs(t, "peer", &p)
		tr.fire(t, node(), func(tt testTimer) bool { return tt.t.Kind != TimerShuffle && tt.t.Peer == peer.ID(p) })
	case "crash":
		tr.net.crash(node())
		fmt.Fprintf(&tr.buf, "%d crashed\n", node())
	case "leave":
		tr.net.leave(node())
	case "views":
		tr.views()
	case "queue":
		tr.queue()
	case "check":
		if err := tr.net.firstError(); err != nil {
			return err.Error()
		}
		if err := tr.net.checkSettled(); err != nil {
			return err.Error()
		}
		return "ok"
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	if tr.buf.Len() == 0 {
		return "(nothing)"
	}
	return tr.buf.String()
}

func (tr *tracer) deliver(t *testing.T, d *datadriven.TestData) {
	var from, to, n int
	var typ string
	d.MaybeScanArgs(t, "from", &from)
	d.MaybeScanArgs(t, "to", &to)
	d.MaybeScanArgs(t, "type", &typ)
	n = 1
	d.MaybeScanArgs(t, "n", &n)
	for range n {
		found := false
		for _, q := range tr.net.queues {
			if (from != 0 && q.from != peer.ID(from)) || (to != 0 && q.to != peer.ID(to)) {
				continue
			}
			for i, m := range q.msgs {
				if typ == "" || m.Type().String() == typ {
					tr.net.deliverFrom(q, i)
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			t.Fatalf("no queued message matches %s", d.Pos)
		}
	}
}

// fire fires the latest timer of node matching ok.
func (tr *tracer) fire(t *testing.T, node peer.ID, ok func(testTimer) bool) {
	for i := len(tr.net.timers) - 1; i >= 0; i-- {
		tt := tr.net.timers[i]
		if tt.node == node && ok(tt) {
			tr.net.timers = slices.Delete(tr.net.timers, i, i+1)
			tr.net.step(node, Input{Kind: InputTimer, Timer: tt.t})
			return
		}
	}
	t.Fatalf("node %d has no such timer", node)
}

func (tr *tracer) trace(id peer.ID, in Input, out []Output) {
	switch in.Kind {
	case InputJoin:
		fmt.Fprintf(&tr.buf, "%d: join contacts=%v\n", id, ids(in.Contacts))
	case InputLeave:
		fmt.Fprintf(&tr.buf, "%d: leave\n", id)
	case InputReceive:
		fmt.Fprintf(&tr.buf, "%d <- %d: %s\n", id, in.From, tr.msg(in.Msg))
	case InputTimer:
		fmt.Fprintf(&tr.buf, "%d: timer %s\n", id, tr.timer(in.Timer))
	case InputConnectionFailed:
		fmt.Fprintf(&tr.buf, "%d: connection to %d failed\n", id, in.From)
	}
	for _, o := range out {
		switch o.Kind {
		case OutputSend:
			fmt.Fprintf(&tr.buf, "  -> %d: %s\n", o.Peer.ID, tr.msg(o.Msg))
		case OutputClose:
			fmt.Fprintf(&tr.buf, "  close %d\n", o.Peer.ID)
		case OutputNeighborUp:
			fmt.Fprintf(&tr.buf, "  up %d\n", o.Peer.ID)
		case OutputNeighborDown:
			fmt.Fprintf(&tr.buf, "  down %d (%s)\n", o.Peer.ID, o.Reason)
		case OutputSetTimer:
			fmt.Fprintf(&tr.buf, "  set timer %s after %s\n", tr.timer(o.Timer), o.After.Round(time.Millisecond))
		}
	}
}

func (tr *tracer) nonce(n uint64) string {
	if _, ok := tr.nonces[n]; !ok {
		tr.nonces[n] = len(tr.nonces) + 1
	}
	return fmt.Sprintf("#%d", tr.nonces[n])
}

func (tr *tracer) timer(t Timer) string {
	if t.Kind == TimerShuffle {
		return "shuffle"
	}
	return fmt.Sprintf("%s peer=%d %s", t.Kind, t.Peer, tr.nonce(t.Nonce))
}

func (tr *tracer) msg(m Message) string {
	switch m := m.(type) {
	case *Join:
		return "Join " + tr.nonce(m.Nonce)
	case *ForwardJoin:
		return fmt.Sprintf("ForwardJoin new=%d ttl=%d", m.NewNode.ID, m.TTL)
	case *Neighbor:
		return fmt.Sprintf("Neighbor %s %s", m.Priority, tr.nonce(m.Nonce))
	case *NeighborReply:
		verdict := "refused"
		if m.Accepted {
			verdict = "accepted"
		}
		return fmt.Sprintf("NeighborReply %s %s", verdict, tr.nonce(m.Nonce))
	case *Disconnect:
		kind := "left"
		if m.Alive {
			kind = "alive"
		}
		return fmt.Sprintf("Disconnect %s %s", kind, tr.nonce(m.Nonce))
	case *Shuffle:
		return fmt.Sprintf("Shuffle origin=%d ttl=%d peers=%v", m.Origin.ID, m.TTL, ids(m.Peers))
	case *ShuffleReply:
		return fmt.Sprintf("ShuffleReply peers=%v", ids(m.Peers))
	case failureMarker:
		return "(connection failed)"
	}
	return fmt.Sprintf("%T", m)
}

func (tr *tracer) views() {
	for _, nd := range tr.net.nodes {
		if nd.down {
			fmt.Fprintf(&tr.buf, "%d: down\n", nd.id)
			continue
		}
		fmt.Fprintf(&tr.buf, "%d: active=%v passive=%v", nd.id, activeIDs(nd.st), passiveIDs(nd.st))
		if n := nd.st.Pending(); n > 0 {
			fmt.Fprintf(&tr.buf, " pending=%d", n)
		}
		tr.buf.WriteString("\n")
	}
}

func (tr *tracer) queue() {
	for _, q := range tr.net.queues {
		for _, m := range q.msgs {
			fmt.Fprintf(&tr.buf, "%d -> %d: %s\n", q.from, q.to, tr.msg(m))
		}
	}
}
