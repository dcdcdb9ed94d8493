package membership_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// startQUICNode starts a node on a real QUIC transport bound to a free
// port of 127.0.0.1, with a new identity. Its certificate is signed by ca
// (the cluster CA) and it admits only peers whose certificate caKey
// signed: the admission gossipd sets up from a cluster secret.
func startQUICNode(ca ed25519.PrivateKey, caKey ed25519.PublicKey) (*membership.Node, error) {
	id, err := transport.GenerateIdentity() // gossipd: transport.LoadOrCreateIdentity(-key-file)
	if err != nil {
		return nil, err
	}
	if id.CACert, err = transport.IssueCertificate(ca, id.Public(), 24*time.Hour); err != nil {
		return nil, err
	}
	tr, err := transport.ListenQUIC(transport.Config{
		Identity:   id,
		ListenAddr: "127.0.0.1:0", // in production a routable address, with AdvertiseAddr if others dial another
		Admission:  transport.Admission{CAKey: caKey},
	})
	if err != nil {
		return nil, err
	}
	n, err := membership.New(membership.Config{Transport: tr})
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	return n, nil
}

// A cluster over QUIC on loopback, admitted by a cluster secret: every
// node derives the cluster CA from the secret, certifies its own key with
// it and admits only peers certified so. The second node joins through
// the first one's address (its public key @ host:port, so the seed is
// pinned to that key); a node given another secret is refused.
func Example_quic() {
	ca, err := transport.ClusterCAFromSecret([]byte("the-secret-every-agent-is-given"))
	if err != nil {
		panic(err)
	}
	caKey := ca.Public().(ed25519.PublicKey)
	a, err := startQUICNode(ca, caKey)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := startQUICNode(ca, caKey)
	if err != nil {
		panic(err)
	}
	defer b.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Join(ctx); err != nil { // the first node: no seed
		panic(err)
	}
	if err := b.Join(ctx, a.Addr()); err != nil { // a.Addr() is "<base64url key>@127.0.0.1:<port>"
		panic(err)
	}
	bothAlive := func(n *membership.Node) bool {
		alive := 0
		for _, m := range n.Members() {
			if m.State == membership.StateAlive {
				alive++
			}
		}
		return alive == 2
	}
	fmt.Println("a and b list each other alive:", waitUntil(func() bool { return bothAlive(a) && bothAlive(b) }))

	sub := a.Subscribe("greetings")
	defer sub.Close()
	if _, err := b.Broadcast(ctx, "greetings", []byte("hello over QUIC")); err != nil {
		panic(err)
	}
	m := <-sub.C()
	fmt.Printf("a received %q on %s from b: %v\n", m.Payload, m.Topic, m.Origin == b.ID())

	// Another secret, another CA: the handshake fails both ways and the
	// join never completes.
	otherCA, err := transport.ClusterCAFromSecret([]byte("a-secret-of-another-cluster"))
	if err != nil {
		panic(err)
	}
	outsider, err := startQUICNode(otherCA, otherCA.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	defer outsider.Close()
	octx, ocancel := context.WithTimeout(ctx, time.Second)
	defer ocancel()
	fmt.Println("the outsider joined:", outsider.Join(octx, a.Addr()) == nil)
	fmt.Println("a lists", len(a.Members()), "members")
	// Output:
	// a and b list each other alive: true
	// a received "hello over QUIC" on greetings from b: true
	// the outsider joined: false
	// a lists 2 members
}
