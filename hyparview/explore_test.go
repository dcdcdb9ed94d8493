package hyparview

import (
	"testing"
	"time"
)

func TestExploreBurst(t *testing.T) {
	bad := 0
	for seed := uint64(0); seed < 200; seed++ {
		for _, size := range []int{3, 4, 5} {
			n := 30 + int(seed%31)
			cfg := Config{ActiveViewSize: size}
			net := newTestNet(n, cfg, seed)
			net.step(1, Input{Kind: InputJoin})
			for i := 2; i <= n; i++ {
				net.step(PeerID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
			}
			if err := net.drain(1e7); err != nil {
				t.Fatal(err)
			}
			before := len(net.components()); if before > 1 { t.Logf("seed %d size %d: %d comps right after joins", seed, size, before) }
			if err := net.runFor(100 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := net.firstError(); err != nil {
				t.Fatal(err)
			}
			if err := net.checkSettled(); err != nil {
				t.Fatalf("seed %d size %d: %v", seed, size, err)
			}
			comps := net.components()
			if len(comps) > 1 {
				bad++
				t.Logf("seed %d n %d size %d: before %d after %d comps: %v", seed, n, size, before, len(comps), comps)
			}
		}
	}
	t.Logf("bad %d", bad)
}

func TestExploreIsland(t *testing.T) {
	seed, n, size := uint64(23), 53, 4
	net := newTestNet(n, Config{ActiveViewSize: size}, seed)
	net.step(1, Input{Kind: InputJoin})
	for i := 2; i <= n; i++ {
		net.step(PeerID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
	}
	net.drain(1e7)
	net.runFor(100 * time.Second)
	full := 0
	for _, nd := range net.live() {
		if len(nd.st.active) == size {
			full++
		}
	}
	t.Logf("full nodes %d of %d", full, n)
	for _, id := range []PeerID{30, 44} {
		st := net.node(id).st
		t.Logf("%d active %v passive %v rejected %v counters %+v", id, st.Active(), st.Passive(), st.rejected, st.Counters())
	}
}

func TestExploreSequential(t *testing.T) {
	bad := 0
	for seed := uint64(0); seed < 200; seed++ {
		for _, size := range []int{3, 4, 5} {
			n := 30 + int(seed%31)
			net := newTestNet(n, Config{ActiveViewSize: size}, seed)
			net.step(1, Input{Kind: InputJoin})
			for i := 2; i <= n; i++ {
				net.step(PeerID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
				net.drain(1e7)
			}
			before := len(net.components())
			net.runFor(100 * time.Second)
			if comps := net.components(); len(comps) > 1 {
				bad++
				t.Logf("seed %d n %d size %d: before %d after %d comps: %v", seed, n, size, before, len(comps), comps)
			}
		}
	}
	t.Logf("bad %d", bad)
}

func TestExploreIsland2(t *testing.T) {
	seed, n, size := uint64(141), 47, 3
	net := newTestNet(n, Config{ActiveViewSize: size}, seed)
	net.step(1, Input{Kind: InputJoin})
	for i := 2; i <= n; i++ {
		net.step(PeerID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
	}
	net.drain(1e7)
	net.runFor(100 * time.Second)
	for _, id := range []PeerID{17, 23, 32, 34, 44} {
		st := net.node(id).st
		t.Logf("%d active %v passive %v rejected %v", id, st.Active(), st.Passive(), st.rejected)
	}
}

func TestExploreChurn(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{30, 5}, {30, 3}, {60, 5}, {10, 5}, {100, 5}, {300, 5}} {
		ups := 0
		var ticks uint64
		var stillBad int
		for seed := uint64(0); seed < 20; seed++ {
			net := newTestNet(tc.n, Config{ActiveViewSize: tc.size}, seed)
			net.step(1, Input{Kind: InputJoin})
			for i := 2; i <= tc.n; i++ {
				net.step(PeerID(i), Input{Kind: InputJoin, Contacts: []Peer{net.peer(1)}})
			}
			net.drain(1e7)
			net.runFor(30 * time.Second)
			if len(net.components()) > 1 {
				stillBad++
			}
			net.runFor(170 * time.Second)
			var base uint64
			for _, nd := range net.nodes {
				base += nd.st.counters.NeighborRequestsSent
				ticks -= nd.st.counters.ShufflesSent
			}
			cnt := 0
			net.trace = func(id PeerID, in Input, out []Output) {
				for _, o := range out {
					if o.Kind == OutputNeighborUp {
						cnt++
					}
				}
			}
			net.runFor(300 * time.Second)
			for _, nd := range net.nodes {
				ticks += nd.st.counters.ShufflesSent
			}
			ups += cnt
		}
		t.Logf("n=%d size=%d: neighbor-ups per node-tick %.4f; unconnected after 3 rounds: %d/20", tc.n, tc.size, float64(ups)/float64(ticks), stillBad)
	}
}
