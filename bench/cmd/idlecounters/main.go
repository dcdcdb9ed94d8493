// Command idlecounters starts a plumview cluster over QUIC on 127.0.0.1,
// joins it, waits until every member list is complete, and prints what
// the cluster did while idle for a while (and with -join, during the
// join): the engine's counters (HyParView,
// Plumtree, the member list, the composition) and the node's metrics,
// summed over the nodes, each counter that moved with its increase, and
// the nodes' active view sizes at the end. It says what an idle member's
// cost is made of, beside the bench's idle row (cmd/compare), which only
// gives its total. A join that does not complete within -timeout prints
// the metrics that moved until then.
//
//	cd bench && go run ./cmd/idlecounters -nodes 64 -idle 20s [-join] [-sparse]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"time"

	"github.com/hashicorp/go-metrics"

	"github.com/plumview/plumview/bench/systems"
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

func main() {
	nodes := flag.Int("nodes", 64, "cluster size")
	idle := flag.Duration("idle", 20*time.Second, "how long the cluster is watched, idle")
	settle := flag.Duration("settle", 2*time.Second, "wait after the member lists are complete, before watching")
	joinTimeout := flag.Duration("timeout", 3*time.Minute, "bound on the join")
	joinCounters := flag.Bool("join", false, "also print what moved from the start to the end of the settling (the join)")
	flag.BoolVar(&sparse, "sparse", false, "the bench's sparse failure detector (plumview-sparse) instead of the defaults")
	flag.Parse()
	if err := run(*nodes, *idle, *settle, *joinTimeout, *joinCounters); err != nil {
		fmt.Fprintln(os.Stderr, "idlecounters:", err)
		os.Exit(1)
	}
}

func run(size int, idle, settle, joinTimeout time.Duration, joinCounters bool) error {
	if size < 2 {
		return errors.New("-nodes must be at least 2")
	}
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	mc := metrics.DefaultConfig("plumview")
	mc.EnableRuntimeMetrics, mc.EnableHostname = false, false
	m, err := metrics.New(mc, sink)
	if err != nil {
		return err
	}
	var nodes []*membership.Node
	closeNodes := true
	defer func() {
		for _, n := range nodes {
			if closeNodes {
				_ = n.Close()
			}
		}
	}()
	for i := range size {
		n, err := startNode(i, m)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	if err := join(ctx, nodes); err != nil {
		// What a join that did not converge did is the question then. The
		// metrics are read from the sink; the engines' counters would be
		// asked of the nodes' loops, which a starved cluster answers late,
		// and closing its nodes waits the same way: the process's exit
		// ends them.
		closeNodes = false
		fmt.Printf("-- the join failed (%v); the metrics until then:\n", err)
		printDiff(gossip.Counters{}, gossip.Counters{}, nil, counters(sink))
		return err
	}
	fmt.Printf("%d nodes joined, member lists complete; settling %v, then watching %v\n", size, settle, idle)
	time.Sleep(settle)
	before, metricsBefore := sum(nodes), counters(sink)
	if joinCounters {
		fmt.Println("-- from the start to the end of the settling:")
		printDiff(gossip.Counters{}, before, nil, metricsBefore)
		fmt.Println("-- while idle:")
	}
	time.Sleep(idle)
	after, metricsAfter := sum(nodes), counters(sink)
	printDiff(before, after, metricsBefore, metricsAfter)
	sizes := map[int]int{}
	for _, n := range nodes {
		a, _ := n.Views()
		sizes[len(a)]++
	}
	fmt.Println("active view sizes at the end (size: nodes):", sizes)
	return nil
}

// printDiff prints every engine counter and metric that moved from
// (before, metricsBefore) to (after, metricsAfter), sorted.
func printDiff(before, after gossip.Counters, metricsBefore, metricsAfter map[string]float64) {
	var lines []string
	lines = diff(lines, "engine", reflect.ValueOf(before), reflect.ValueOf(after))
	for k, v := range metricsAfter {
		if d := v - metricsBefore[k]; d != 0 {
			lines = append(lines, fmt.Sprintf("%-62s %12.0f", "metric "+k, d))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

// sparse selects the bench's sparse failure detector (-sparse).
var sparse bool

// startNode starts node i on its own UDP socket of 127.0.0.1, with the
// library's defaults (or the sparse detector), reporting to m.
func startNode(i int, m *metrics.Metrics) (*membership.Node, error) {
	id, err := transport.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	tc := transport.Config{Identity: id, ListenAddr: "127.0.0.1:0"}
	mc := membership.Config{Seed: uint64(i + 1), Metrics: m}
	if sparse {
		systems.SparseTransport(&tc)
		systems.SparseMembers(&mc)
	}
	tr, err := transport.ListenQUIC(tc)
	if err != nil {
		return nil, err
	}
	mc.Transport = tr
	n, err := membership.New(mc)
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	return n, nil
}

// join joins every node through the first and waits until every member
// list holds every node alive.
func join(ctx context.Context, nodes []*membership.Node) error {
	if err := nodes[0].Join(ctx); err != nil {
		return err
	}
	errs := make(chan error, len(nodes))
	for _, n := range nodes[1:] {
		go func() { errs <- n.Join(ctx, nodes[0].Addr()) }()
	}
	for range nodes[1:] {
		if err := <-errs; err != nil {
			return fmt.Errorf("join: %w", err)
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		complete := true
		for _, n := range nodes {
			if n.MemberCounts()[membership.StateAlive] < len(nodes)-1 {
				complete = false
				break
			}
		}
		if complete {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("member lists not complete (%s): %w", incompleteWithin(nodes, 10*time.Second), ctx.Err())
		case <-tick.C:
		}
	}
}

// incompleteWithin is incomplete, or a note that the nodes did not
// answer within d: a starved node answers behind its queue, minutes
// later.
func incompleteWithin(nodes []*membership.Node, d time.Duration) string {
	got := make(chan string, 1)
	go func() { got <- incomplete(nodes) }()
	select {
	case s := <-got:
		return s
	case <-time.After(d):
		return fmt.Sprintf("the nodes did not say which within %v", d)
	}
}

// incomplete says which lists lack members alive: how many nodes, and
// how many members each lists in each state other than alive (the
// members' IDs and incarnations, a few of them).
func incomplete(nodes []*membership.Node) string {
	short, notAlive := 0, map[uint64]string{}
	for _, n := range nodes {
		if n.MemberCounts()[membership.StateAlive] >= len(nodes)-1 {
			continue
		}
		short++
		for _, m := range n.Members() {
			if m.State != membership.StateAlive && len(notAlive) < 8 {
				notAlive[m.ID] = fmt.Sprintf("%x %s inc %d at %x", m.ID, m.State, m.Incarnation, n.ID())
			}
		}
	}
	var named []string
	for _, s := range notAlive {
		named = append(named, s)
	}
	sort.Strings(named)
	return fmt.Sprintf("%d of %d nodes list fewer than %d alive; e.g. %v", short, len(nodes), len(nodes)-1, named)
}

// sum adds up the nodes' engine counters.
func sum(nodes []*membership.Node) gossip.Counters {
	var total gossip.Counters
	tv := reflect.ValueOf(&total).Elem()
	for _, n := range nodes {
		add(tv, reflect.ValueOf(n.Counters()))
	}
	return total
}

// add adds c's counters (uint64 fields, arrays and structs of them) to t.
func add(t, c reflect.Value) {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			add(t.Field(i), c.Field(i))
		}
	case reflect.Array:
		for i := range t.Len() {
			add(t.Index(i), c.Index(i))
		}
	case reflect.Uint64:
		t.SetUint(t.Uint() + c.Uint())
	}
}

// diff appends a line for every counter that moved from a to b.
func diff(lines []string, name string, a, b reflect.Value) []string {
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			lines = diff(lines, name+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	case reflect.Array:
		for i := range a.Len() {
			lines = diff(lines, fmt.Sprintf("%s[%s]", name, indexName(name, i)), a.Index(i), b.Index(i))
		}
	case reflect.Uint64:
		if d := b.Uint() - a.Uint(); d != 0 {
			lines = append(lines, fmt.Sprintf("%-62s %12d", name, d))
		}
	}
	return lines
}

// indexName names the i-th entry of the counter array called name: a
// HyParView message type, a budget, or the index.
func indexName(name string, i int) string {
	switch name {
	case "engine.HyParView.Sent", "engine.HyParView.Received":
		return hyparview.MessageType(i).String()
	case "engine.Engine.OverBudget":
		return gossip.Budget(i).String()
	}
	return fmt.Sprint(i)
}

// counters reads the sink's counters, summed over its intervals.
func counters(sink *metrics.InmemSink) map[string]float64 {
	out := map[string]float64{}
	for _, iv := range sink.Data() {
		for k, c := range iv.Counters {
			out[k] += c.Sum
		}
	}
	return out
}
