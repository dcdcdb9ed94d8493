package membership_test

import (
	"context"
	"fmt"
	"time"

	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// startNode starts a node named name on an in-memory network. In
// production the transport is transport.ListenQUIC.
func startNode(net *transport.MemNetwork, name string) *membership.Node {
	id, err := transport.GenerateIdentity()
	if err != nil {
		panic(err)
	}
	tr, err := net.Listen(name, id, transport.MemConfig{})
	if err != nil {
		panic(err)
	}
	n, err := membership.New(membership.Config{Transport: tr})
	if err != nil {
		panic(err)
	}
	return n
}

// waitUntil polls cond for up to ten seconds.
func waitUntil(cond func() bool) bool {
	for range 1000 {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Two nodes form a cluster; one broadcasts on a topic, the other receives.
func Example() {
	net := transport.NewMemNetwork(1)
	a, b := startNode(net, "a"), startNode(net, "b")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	if err := a.Join(ctx); err != nil { // the first node joins no one
		panic(err)
	}
	if err := b.Join(ctx, a.Addr()); err != nil {
		panic(err)
	}
	sub := b.Subscribe("greetings")
	defer sub.Close()
	if _, err := a.Broadcast(ctx, "greetings", []byte("hello")); err != nil {
		panic(err)
	}
	m := <-sub.C()
	fmt.Printf("%s: %s (from a: %v, hops %d)\n", m.Topic, m.Payload, m.Origin == a.ID(), m.Hops)
	// Output: greetings: hello (from a: true, hops 1)
}

// Every node keeps the full member list, with each member's metadata.
func ExampleNode_Members() {
	net := transport.NewMemNetwork(1)
	a, b := startNode(net, "a"), startNode(net, "b")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	_ = a.Join(ctx)
	_ = b.Join(ctx, a.Addr())
	_ = b.UpdateMetadata(ctx, []byte("zone=eu"))
	waitUntil(func() bool {
		for _, m := range a.Members() {
			if m.ID == b.ID() && string(m.Meta) == "zone=eu" {
				return true
			}
		}
		return false
	})
	for _, m := range a.Members() {
		fmt.Printf("self=%v state=%s meta=%q\n", m.ID == a.ID(), m.State, m.Meta)
	}
	// Unordered output:
	// self=true state=alive meta=""
	// self=false state=alive meta="zone=eu"
}

// A node that leaves gracefully is listed as left, and watchers see a
// leave event.
func ExampleNode_Leave() {
	net := transport.NewMemNetwork(1)
	a, b := startNode(net, "a"), startNode(net, "b")
	defer a.Close()
	ctx := context.Background()
	_ = a.Join(ctx)
	w := a.Events()
	defer w.Close()
	_ = b.Join(ctx, a.Addr())
	if err := b.Leave(ctx); err != nil {
		panic(err)
	}
	for e := range w.C() {
		fmt.Println(e.Kind, e.Member.ID == b.ID())
		if e.Kind == membership.EventLeave {
			break
		}
	}
	for _, m := range a.Members() {
		if m.ID == b.ID() {
			fmt.Println("listed as", m.State)
		}
	}
	// Output:
	// join true
	// leave true
	// listed as left
}
