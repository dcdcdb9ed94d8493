package plumtree

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/plumview/plumview/peer"
)

// TestTrace runs the scripts in testdata/: small clusters wired in memory,
// each step printed, so a reviewer can read the protocol's behaviour.
//
// Commands:
//
//	cluster nodes=N [lazy-delay=D] [threshold=K] [timeout1=D] [timeout2=D]
//	link A-B ...            NeighborUp on both ends (latency 1ms each way)
//	latency A-B=D ...       one-way latency of a link, both directions
//	broadcast node=A payload=P
//	drop from=A to=B type=T the next message of type T from A to B is lost
//	fail node=A             A crashes; its neighbours get NeighborDown
//	run                     process events until none is left
//	views                   every node's eager and lazy peers
//	payloads id=O-S         payload messages sent for one broadcast and who delivered it
func TestTrace(t *testing.T) {
	datadriven.Walk(t, "testdata/traces", runTrace)
}

func runTrace(t *testing.T, path string) {
	var c *cluster
	lat := map[[2]peer.ID]time.Duration{}
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		fatalf := func(f string, a ...any) { t.Fatalf("%s: %s", d.Pos, fmt.Sprintf(f, a...)) }
		if d.Cmd != "cluster" && c == nil {
			fatalf("no cluster yet")
		}
		var trace strings.Builder
		if c != nil {
			c.trace, c.fatalf = &trace, fatalf
		}
		switch d.Cmd {
		case "cluster":
			var n int
			d.ScanArgs(t, "nodes", &n)
			cfg := Config{
				LazyPushDelay:         durArg(t, d, "lazy-delay"),
				GraftTimeout1:         durArg(t, d, "timeout1"),
				GraftTimeout2:         durArg(t, d, "timeout2"),
				OptimizationThreshold: intArg(t, d, "threshold"),
			}
			c = newCluster(cfg, n, fatalf)
			lat = map[[2]peer.ID]time.Duration{}
			c.latency = func(a, b peer.ID) time.Duration {
				if l, ok := lat[[2]peer.ID{a, b}]; ok {
					return l
				}
				return time.Millisecond
			}
			return ""
		case "link":
			for _, a := range d.CmdArgs {
				x, y := parseLink(t, a.Key)
				c.link(x, y)
			}
		case "latency":
			for _, a := range d.CmdArgs {
				x, y := parseLink(t, a.Key)
				l, err := time.ParseDuration(a.SingleVal(t))
				if err != nil {
					t.Fatal(err)
				}
				lat[[2]peer.ID{x, y}], lat[[2]peer.ID{y, x}] = l, l
			}
			return ""
		case "broadcast":
			var node int
			var payload string
			d.ScanArgs(t, "node", &node)
			d.ScanArgs(t, "payload", &payload)
			c.broadcast(peer.ID(node), []byte(payload))
		case "drop":
			var from, to int
			var typ string
			d.ScanArgs(t, "from", &from)
			d.ScanArgs(t, "to", &to)
			d.ScanArgs(t, "type", &typ)
			r := dropRule{from: peer.ID(from), to: peer.ID(to)}
			for mt := MessageGossip; mt <= MessagePrune; mt++ {
				if mt.String() == typ {
					r.typ = mt
				}
			}
			if r.typ == 0 {
				t.Fatalf("unknown message type %q", typ)
			}
			c.drops = append(c.drops, r)
			return ""
		case "fail":
			var node int
			d.ScanArgs(t, "node", &node)
			c.fail(peer.ID(node))
		case "run":
			c.run(100_000)
		case "views":
			return c.views()
		case "payloads":
			var s string
			d.ScanArgs(t, "id", &s)
			origin, seq := parseLink(t, s)
			id := OriginSequenceID(origin, uint64(seq))
			var got []string
			for _, n := range c.live() {
				if c.delivered[n][id] > 0 {
					got = append(got, strconv.Itoa(int(n)))
				}
			}
			return fmt.Sprintf("%v: %d payload messages, delivered by %s\n", id, c.payloads[id], strings.Join(got, " "))
		default:
			t.Fatalf("unknown command %q", d.Cmd)
		}
		return trace.String()
	})
}

func parseLink(t *testing.T, s string) (peer.ID, peer.ID) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad pair %q", s)
	}
	return peer.ID(x), peer.ID(y)
}

func durArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	a, ok := d.Arg(key)
	if !ok {
		return 0
	}
	l, err := time.ParseDuration(a.SingleVal(t))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func intArg(t *testing.T, d *datadriven.TestData, key string) int {
	var v int
	if d.HasArg(key) {
		d.ScanArgs(t, key, &v)
	}
	return v
}
