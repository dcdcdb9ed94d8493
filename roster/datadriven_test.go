package roster

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
)

// TestTraces runs the scripts in testdata/: a few nodes whose broadcasts
// reach every other live node through a FIFO queue (standing in for
// Plumtree), with a virtual clock. Each command prints the inputs it
// caused and every node's outputs. Rewrite with -rewrite after a
// deliberate change.
//
// Commands:
//
//	init nodes=N [inc=I] [suspicion=D] [retain=D] [sweep=D]
//	announce node=N | leave node=N | meta node=N value=V
//	up node=N peer=P | down node=N peer=P reason=failed|left|...
//	deliver [to=N]      deliver queued broadcasts (to N only: one pass)
//	inject node=N id=I state=S inc=C   N receives I's record, delayed or forged
//	drop to=N           lose the broadcasts queued for N
//	crash node=N        N stops; broadcasts no longer reach it
//	restart node=N inc=I
//	advance by=D        move the clock, firing due timers in order
//	sync a=N b=M        anti-entropy: exchange digests, send, merge
//	members
func TestTraces(t *testing.T) {
	datadriven.Walk(t, "testdata/traces", func(t *testing.T, path string) {
		tr := &tracer{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return tr.run(t, d)
		})
	})
}

type queued struct {
	to  peer.ID
	rec Record
}

type pendingTimer struct {
	at    time.Time
	seq   int
	node  peer.ID
	timer Timer
}

type tracer struct {
	cfg     Config
	now     time.Time
	nodes   map[peer.ID]*Roster
	order   []peer.ID
	crashed map[peer.ID]bool
	queue   []queued
	timers  []pendingTimer
	seq     int
	buf     strings.Builder
}

func (tr *tracer) run(t *testing.T, d *datadriven.TestData) string {
	tr.buf.Reset()
	arg := func(key string) peer.ID {
		var n int
		d.ScanArgs(t, key, &n)
		return peer.ID(n)
	}
	dur := func(key string, v *time.Duration) {
		var s string
		if d.MaybeScanArgs(t, key, &s); s != "" {
			var err error
			if *v, err = time.ParseDuration(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	switch d.Cmd {
	case "init":
		var n, inc int
		d.ScanArgs(t, "nodes", &n)
		d.MaybeScanArgs(t, "inc", &inc)
		tr.cfg = Config{Incarnation: uint64(inc)}
		dur("suspicion", &tr.cfg.SuspicionTimeout)
		dur("retain", &tr.cfg.RetainDead)
		dur("sweep", &tr.cfg.ExpiryInterval)
		tr.now, tr.nodes, tr.crashed = time.Unix(0, 0).UTC(), map[peer.ID]*Roster{}, map[peer.ID]bool{}
		tr.order = nil
		for id := peer.ID(1); id <= peer.ID(n); id++ {
			tr.nodes[id] = newRoster(t, id, uint64(inc), tr.cfg)
			tr.order = append(tr.order, id)
		}
		return "ok"
	case "announce":
		tr.step(t, arg("node"), Input{Kind: InputAnnounce})
	case "leave":
		tr.step(t, arg("node"), Input{Kind: InputLeave})
	case "meta":
		var v string
		d.ScanArgs(t, "value", &v)
		tr.step(t, arg("node"), Input{Kind: InputUpdateMeta, Meta: []byte(v)})
	case "up", "down":
		p := arg("peer")
		in := Input{Kind: InputNeighborUp, Peer: hyparview.Peer{ID: p, Addr: addr(p)}}
		if d.Cmd == "down" {
			var reason string
			d.ScanArgs(t, "reason", &reason)
			in.Kind, in.Reason = InputNeighborDown, parseReason(t, reason)
		}
		tr.step(t, arg("node"), in)
	case "deliver":
		var to int
		d.MaybeScanArgs(t, "to", &to)
		tr.deliver(t, peer.ID(to))
	case "inject":
		var state string
		var inc int
		d.ScanArgs(t, "state", &state)
		d.ScanArgs(t, "inc", &inc)
		st := State(0)
		for s := StateAlive; s <= StateLeft; s++ {
			if s.String() == state {
				st = s
			}
		}
		tr.step(t, arg("node"), receive(rec(arg("id"), st, uint64(inc))))
	case "drop":
		to := arg("to")
		tr.queue = slices.DeleteFunc(tr.queue, func(q queued) bool { return q.to == to })
		fmt.Fprintf(&tr.buf, "broadcasts to %d lost\n", to)
	case "crash":
		id := arg("node")
		tr.crashed[id] = true
		tr.queue = slices.DeleteFunc(tr.queue, func(q queued) bool { return q.to == id })
		fmt.Fprintf(&tr.buf, "%d crashed\n", id)
	case "restart":
		id := arg("node")
		var inc int
		d.ScanArgs(t, "inc", &inc)
		tr.nodes[id] = newRoster(t, id, uint64(inc), tr.cfg)
		delete(tr.crashed, id)
		tr.timers = slices.DeleteFunc(tr.timers, func(p pendingTimer) bool { return p.node == id })
		fmt.Fprintf(&tr.buf, "%d restarted at incarnation %d\n", id, inc)
	case "advance":
		var by time.Duration
		dur("by", &by)
		tr.advance(t, tr.now.Add(by))
	case "sync":
		tr.sync(t, arg("a"), arg("b"))
	case "members":
		for _, id := range tr.order {
			if !tr.crashed[id] {
				var parts []string
				for _, m := range tr.nodes[id].Members() {
					parts = append(parts, m.String())
				}
				fmt.Fprintf(&tr.buf, "%d: %s\n", id, strings.Join(parts, ", "))
			}
		}
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	if tr.buf.Len() == 0 {
		return "(nothing)"
	}
	return tr.buf.String()
}

func parseReason(t *testing.T, s string) hyparview.DownReason {
	for r := hyparview.DownFailed; r <= hyparview.DownDropped; r++ {
		if r.String() == s {
			return r
		}
	}
	t.Fatalf("unknown reason %q", s)
	return 0
}

// step steps node id, prints what happened and routes its outputs.
func (tr *tracer) step(t *testing.T, id peer.ID, in Input) {
	r := tr.nodes[id]
	out, err := r.Step(tr.now, in, nil)
	if err != nil {
		fmt.Fprintf(&tr.buf, "%d: %s: error: %v\n", id, describe(in), err)
		return
	}
	if err := r.Invariants(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&tr.buf, "%d: %s\n", id, describe(in))
	if len(out) == 0 {
		fmt.Fprintf(&tr.buf, "  (no outputs)\n")
	}
	for _, o := range out {
		fmt.Fprintf(&tr.buf, "  %s\n", formatOutput(o))
		switch o.Kind {
		case OutputBroadcast:
			for _, to := range tr.order {
				if to != id && !tr.crashed[to] {
					tr.queue = append(tr.queue, queued{to: to, rec: o.Record})
				}
			}
		case OutputSetTimer:
			tr.seq++
			tr.timers = append(tr.timers, pendingTimer{at: tr.now.Add(o.After), seq: tr.seq, node: id, timer: o.Timer})
		}
	}
}

func describe(in Input) string {
	switch in.Kind {
	case InputReceive, InputMerge:
		var parts []string
		for _, r := range in.Records {
			parts = append(parts, r.String())
		}
		return in.Kind.String() + " " + strings.Join(parts, ", ")
	case InputNeighborUp:
		return fmt.Sprintf("up %d", in.Peer.ID)
	case InputNeighborDown:
		return fmt.Sprintf("down %d (%s)", in.Peer.ID, in.Reason)
	case InputTimer:
		o := formatOutput(Output{Kind: OutputSetTimer, Timer: in.Timer})
		return "timer" + strings.TrimSuffix(strings.TrimPrefix(o, "set timer"), " after 0s")
	case InputUpdateMeta:
		return fmt.Sprintf("update meta %q", in.Meta)
	}
	return in.Kind.String()
}

// deliver hands queued broadcasts to their nodes: all of them, including
// those they cause, or one pass of those queued for to.
func (tr *tracer) deliver(t *testing.T, to peer.ID) {
	if to != 0 {
		var mine []queued
		tr.queue = slices.DeleteFunc(tr.queue, func(q queued) bool {
			if q.to == to {
				mine = append(mine, q)
			}
			return q.to == to
		})
		for _, q := range mine {
			tr.step(t, q.to, receive(q.rec))
		}
		return
	}
	for len(tr.queue) > 0 {
		q := tr.queue[0]
		tr.queue = tr.queue[1:]
		tr.step(t, q.to, receive(q.rec))
	}
}

// advance fires every timer due by until, in time order.
func (tr *tracer) advance(t *testing.T, until time.Time) {
	for {
		slices.SortFunc(tr.timers, func(a, b pendingTimer) int {
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.seq, b.seq))
		})
		if len(tr.timers) == 0 || tr.timers[0].at.After(until) {
			break
		}
		p := tr.timers[0]
		tr.timers = tr.timers[1:]
		tr.now = p.at
		if !tr.crashed[p.node] {
			fmt.Fprintf(&tr.buf, "[%v] ", tr.now.Sub(time.Unix(0, 0)))
			tr.step(t, p.node, fire(p.timer))
		}
	}
	tr.now = until
}

// sync runs one anti-entropy exchange between a and b.
func (tr *tracer) sync(t *testing.T, a, b peer.ID) {
	ra, rb := tr.nodes[a], tr.nodes[b]
	sendB, _ := rb.Diff(ra.Digest())
	sendA, _ := ra.Diff(rb.Digest())
	fmt.Fprintf(&tr.buf, "%d digest %v\n%d digest %v\n", a, ra.Digest(), b, rb.Digest())
	if len(sendA) > 0 {
		tr.step(t, b, Input{Kind: InputMerge, Records: sendA})
	}
	if len(sendB) > 0 {
		tr.step(t, a, Input{Kind: InputMerge, Records: sendB})
	}
}
