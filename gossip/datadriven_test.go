package gossip

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
)

// TestTraces runs the scripts in testdata/: engines with the member list
// (ProductionConfig) exchanging messages through one FIFO queue, each
// command followed by every input it caused and the batch each input gave.
// Rewrite the expectations with -rewrite after a deliberate change.
//
// Commands:
//
//	init nodes=N [probes=false]            N engines, ProductionConfig, incarnation 1 (liveness probes off)
//	join node=N [contacts=(A,B,...)]
//	broadcast node=N topic=T payload=P
//	meta node=N meta=M                     UpdateMeta
//	stabilize                              deliver every queued message, in order
//	run for=D                              deliver messages and fire timers in time order for D of virtual time
//	fire node=N timer=KIND                 advance the clock to N's earliest KIND timer and fire it
//	fail node=N peer=P                     N's connection to P fails (P stays alive)
//	crash node=N                           N stops; messages to it fail at their sender
//	partition node=N                       N is cut off: messages to or from it fail at their sender
//	heal node=N                            ends N's partition
//	leave node=N
//	members node=N | views
func TestTraces(t *testing.T) {
	datadriven.Walk(t, "testdata/traces", func(t *testing.T, path string) {
		tr := &tracer{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return tr.run(t, d)
		})
	})
}

// tracer drives the engines of one script.
type tracer struct {
	now     time.Time
	ids     []peer.ID
	eng     map[peer.ID]*Engine
	crashed map[peer.ID]bool
	cut     map[peer.ID]bool
	queue   []msg
	timers  []timer
	buf     strings.Builder
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
		var n int
		d.ScanArgs(t, "nodes", &n)
		tr.now, tr.ids, tr.eng, tr.crashed, tr.queue, tr.timers = t0, nil, map[peer.ID]*Engine{}, map[peer.ID]bool{}, nil, nil
		tr.cut = map[peer.ID]bool{}
		for i := 1; i <= n; i++ {
			id := peer.ID(i)
			cfg := ProductionConfig([]byte(fmt.Sprintf("m%d", i)))
			cfg.Members.Roster.Incarnation = 1
			if d.HasArg("probes") {
				var on bool
				d.ScanArgs(t, "probes", &on)
				if !on {
					cfg.Members.ProbeInterval = -1
				}
			}
			e, err := New(hyparview.Peer{ID: id, Addr: addrOf(id)}, cfg, rand.New(rand.NewPCG(uint64(i), 7)))
			if err != nil {
				t.Fatal(err)
			}
			tr.ids, tr.eng[id] = append(tr.ids, id), e
		}
		return "ok"
	case "join":
		id := node()
		var contacts []hyparview.Peer
		if d.HasArg("contacts") {
			var cs []int
			d.ScanArgs(t, "contacts", &cs)
			for _, c := range cs {
				contacts = append(contacts, hyparview.Peer{ID: peer.ID(c), Addr: addrOf(peer.ID(c))})
			}
		}
		tr.input(t, id, fmt.Sprintf("%d: join %v", id, ids(contacts)), func(e *Engine, out *Ready) { e.Join(tr.now, contacts, out) })
	case "broadcast":
		id := node()
		var topic, payload string
		d.ScanArgs(t, "topic", &topic)
		d.ScanArgs(t, "payload", &payload)
		tr.input(t, id, fmt.Sprintf("%d: broadcast %s %q", id, topic, payload), func(e *Engine, out *Ready) {
			mid, err := e.Broadcast(tr.now, topic, []byte(payload), out)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&tr.buf, "  id %v\n", mid)
		})
	case "meta":
		id := node()
		var meta string
		d.ScanArgs(t, "meta", &meta)
		tr.input(t, id, fmt.Sprintf("%d: update metadata %q", id, meta), func(e *Engine, out *Ready) {
			if err := e.UpdateMeta(tr.now, []byte(meta), out); err != nil {
				t.Fatal(err)
			}
		})
	case "stabilize":
		tr.stabilize(t)
	case "run":
		var arg string
		d.ScanArgs(t, "for", &arg)
		window, err := time.ParseDuration(arg)
		if err != nil {
			t.Fatal(err)
		}
		tr.runFor(t, window)
	case "fire":
		id := node()
		var kind string
		d.ScanArgs(t, "timer", &kind)
		tr.fire(t, id, kind)
	case "fail":
		id := node()
		var p int
		d.ScanArgs(t, "peer", &p)
		tr.input(t, id, fmt.Sprintf("%d: connection to %d failed", id, p), func(e *Engine, out *Ready) { e.ConnectionFailed(tr.now, peer.ID(p), out) })
	case "crash":
		tr.crashed[node()] = true
		return "ok"
	case "partition":
		tr.cut[node()] = true
		return "ok"
	case "heal":
		delete(tr.cut, node())
		return "ok"
	case "leave":
		id := node()
		tr.input(t, id, fmt.Sprintf("%d: leave", id), func(e *Engine, out *Ready) { e.Leave(tr.now, out) })
	case "members":
		for _, r := range tr.eng[node()].Members() {
			fmt.Fprintf(&tr.buf, "%d %v inc=%d meta=%s\n", r.ID, r.State, r.Incarnation, r.Meta)
		}
	case "views":
		for _, id := range tr.ids {
			eager, lazy := tr.eng[id].PushPeers()
			fmt.Fprintf(&tr.buf, "%d: active=%v passive=%v eager=%v lazy=%v\n", id,
				ids(tr.eng[id].AppendActive(nil)), ids(tr.eng[id].Passive()), sorted(eager), sorted(lazy))
		}
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	return tr.buf.String()
}

// input runs one input on node id, prints what it is and its batch, and
// carries the batch out.
func (tr *tracer) input(t *testing.T, id peer.ID, what string, input func(e *Engine, out *Ready)) {
	t.Helper()
	fmt.Fprintln(&tr.buf, what)
	out := &Ready{}
	input(tr.eng[id], out)
	if err := tr.eng[id].Invariants(); err != nil {
		t.Fatalf("node %d after %s: %v", id, what, err)
	}
	tr.print(out)
	for _, s := range out.Sends {
		tr.queue = append(tr.queue, msg{id, s.To.ID, s.Msg})
	}
	for _, tm := range out.Timers {
		tr.timers = append(tr.timers, timer{tr.now.Add(tm.After), id, tm.Timer, tm.Timer.Kind()})
	}
}

// stabilize delivers every queued message in order; a message to a
// crashed node fails at its sender instead.
func (tr *tracer) stabilize(t *testing.T) {
	for steps := 0; len(tr.queue) > 0; steps++ {
		if steps > 10000 {
			t.Fatal("the messages never settle")
		}
		m := tr.queue[0]
		tr.queue = tr.queue[1:]
		if tr.crashed[m.from] {
			continue
		}
		if tr.crashed[m.to] || tr.cut[m.to] || tr.cut[m.from] {
			tr.input(t, m.from, fmt.Sprintf("%d: connection to %d failed (%s)", m.from, m.to, describe(m.m)),
				func(e *Engine, out *Ready) { e.ConnectionFailed(tr.now, m.to, out) })
			continue
		}
		tr.input(t, m.to, fmt.Sprintf("%d <- %d: %s", m.to, m.from, describe(m.m)),
			func(e *Engine, out *Ready) { e.Receive(tr.now, m.from, m.m, out) })
	}
}

// runFor delivers queued messages and fires timers in time order until
// window of virtual time has passed; messages travel instantly.
func (tr *tracer) runFor(t *testing.T, window time.Duration) {
	end := tr.now.Add(window)
	for steps := 0; ; steps++ {
		if steps > 10000 {
			t.Fatal("the run never settles")
		}
		if len(tr.queue) > 0 {
			tr.stabilize(t)
			continue
		}
		best := -1
		for i, tm := range tr.timers {
			if !tr.crashed[tm.to] && (best < 0 || tm.at.Before(tr.timers[best].at)) {
				best = i
			}
		}
		if best < 0 || tr.timers[best].at.After(end) {
			tr.now = end
			return
		}
		tm := tr.timers[best]
		tr.fire(t, tm.to, tm.kind.String())
	}
}

// fire advances the clock to node id's earliest timer of one kind and
// fires it.
func (tr *tracer) fire(t *testing.T, id peer.ID, kind string) {
	best := -1
	for i, tm := range tr.timers {
		if tm.to == id && tm.kind.String() == kind && (best < 0 || tm.at.Before(tr.timers[best].at)) {
			best = i
		}
	}
	if best < 0 {
		t.Fatalf("node %d has no %s timer", id, kind)
	}
	tm := tr.timers[best]
	tr.timers = slices.Delete(tr.timers, best, best+1)
	tr.now = later(tr.now, tm.at)
	tr.input(t, id, fmt.Sprintf("%d: %s timer fires at %v", id, kind, tr.now.Sub(t0)), func(e *Engine, out *Ready) { e.TimerFired(tr.now, tm.tm, out) })
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// print writes a batch, one line per item, in the order Ready gives.
func (tr *tracer) print(out *Ready) {
	for _, s := range out.Sends {
		fmt.Fprintf(&tr.buf, "  -> %d: %s\n", s.To.ID, describe(s.Msg))
	}
	for _, id := range out.Closes {
		fmt.Fprintf(&tr.buf, "  close %d\n", id)
	}
	for _, tm := range out.Timers {
		fmt.Fprintf(&tr.buf, "  timer %v after %v\n", tm.Timer.Kind(), tm.After.Round(time.Millisecond))
	}
	for _, dv := range out.Deliveries {
		fmt.Fprintf(&tr.buf, "  deliver %v topic=%s %q hops=%d from %d\n", dv.ID, dv.Topic, dv.Payload, dv.Hops, dv.From)
	}
	for _, ev := range out.Events {
		fmt.Fprintf(&tr.buf, "  event %v %d inc=%d\n", ev.Kind, ev.Member.ID, ev.Member.Incarnation)
	}
	for _, c := range out.Neighbors {
		if c.Up {
			fmt.Fprintf(&tr.buf, "  up %d\n", c.Peer.ID)
		} else {
			fmt.Fprintf(&tr.buf, "  down %d (%v)\n", c.Peer.ID, c.Reason)
		}
	}
	if out.ResolveContacts {
		fmt.Fprintln(&tr.buf, "  resolve contacts")
	}
	for _, g := range out.Gaps {
		fmt.Fprintf(&tr.buf, "  gap origin=%d %x..%x count=%d\n", g.Origin, g.First, g.Last, g.Count)
	}
}

// describe shows a message in one short line; a Plumtree payload shows
// its envelope.
func describe(m Message) string {
	switch m := m.(type) {
	case *hyparview.Join:
		return "Join"
	case *hyparview.ForwardJoin:
		return fmt.Sprintf("ForwardJoin %d ttl=%d", m.NewNode.ID, m.TTL)
	case *hyparview.Neighbor:
		return fmt.Sprintf("Neighbor %v", m.Priority)
	case *hyparview.NeighborReply:
		if m.Accepted {
			return "NeighborReply accepted"
		}
		return "NeighborReply refused"
	case *hyparview.Disconnect:
		return fmt.Sprintf("Disconnect alive=%v", m.Alive)
	case *hyparview.Shuffle:
		return fmt.Sprintf("Shuffle %v", ids(m.Peers))
	case *hyparview.ShuffleReply:
		return fmt.Sprintf("ShuffleReply %v", ids(m.Peers))
	case *plumtree.Gossip:
		return fmt.Sprintf("Gossip round=%d %s", m.Round, envelope(m.Payload))
	case *plumtree.IHave:
		return fmt.Sprintf("IHave %d", len(m.Entries))
	case *plumtree.Graft:
		return fmt.Sprintf("Graft round=%d", m.Round)
	case *plumtree.Prune:
		return "Prune"
	case *Digest:
		return fmt.Sprintf("Digest %d entries", len(m.Entries))
	case *Records:
		return fmt.Sprintf("Records %s want=%v", records(m.Records), m.Want)
	case *Heads:
		hs := make([]string, len(m.Heads))
		for i, h := range m.Heads {
			hs[i] = fmt.Sprintf("%d:%d+%d", h.Origin, h.Run, h.Seq-h.Run)
		}
		return fmt.Sprintf("Heads %v", hs)
	case *Ping:
		return "Ping"
	case *PingReq:
		return fmt.Sprintf("PingReq target=%d", m.Target)
	case *Ack:
		return "Ack"
	}
	return fmt.Sprintf("%T", m)
}

func envelope(b []byte) string {
	e, err := DecodeEnvelope(b)
	switch {
	case err != nil:
		return "malformed"
	case e.Kind == EnvelopeApp:
		return fmt.Sprintf("app topic=%s %q", e.Topic, e.Data)
	}
	return "records " + records(e.Records)
}

func records(rs []roster.Record) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d:%v/%d", r.ID, r.State, r.Incarnation))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func ids(ps []hyparview.Peer) []peer.ID {
	var out []peer.ID
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return sorted(out)
}

func sorted(ids []peer.ID) []peer.ID {
	slices.Sort(ids)
	return ids
}

func addrOf(id peer.ID) string { return fmt.Sprintf("n%d", id) }
