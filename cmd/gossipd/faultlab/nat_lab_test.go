package faultlab

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// natSettle bounds every wait of the NAT lab for a condition: generous,
// so that a loaded machine slows the test down without failing it. The
// longest wait is the agents' reachability checks: an agent that its seed drops
// before the dial back answers asks a public member for a link on a
// rejoin tick and asks it, or waits out ReachTimeout (15 s) for an
// answer that does not come.
const natSettle = 90 * time.Second

// natJSON is what the lab reads of an agent's /debug/nat.json.
type natJSON struct {
	Self struct {
		ID           string `json:"id"`
		Reachability string `json:"reachability"`
		Rendezvous   string `json:"rendezvous"`
		Unreachable  bool   `json:"unreachable"`
		Asking       string `json:"asking"`
	} `json:"self"`
	Neighbours []struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	} `json:"neighbours"`
}

// natLab is the NAT lab's cluster with an HTTP client per agent.
type natLab struct {
	*cluster
	http []*http.Client
}

func (l *natLab) nat(i int) (natJSON, error) {
	var v natJSON
	body, err := get(l.http[i], "/debug/nat.json")
	if err == nil {
		err = json.Unmarshal([]byte(body), &v)
	}
	return v, err
}

// TestNATLab runs seven gossipd agents with -nat auto: two on a public
// segment (the seed, and a relay serving STUN and TURN), five on three
// LANs behind iptables NATs, and checks that the cluster forms, that
// each agent learns whether it can be dialled, that broadcasts reach
// every agent exactly once, that links between agents behind NATs take
// the path their NATs allow, and that the relay's death leaves the
// hole-punched links and the broadcasts alone.
func TestNATLab(t *testing.T) {
	requireLab(t)
	if removed := removeStale(); len(removed) > 0 {
		t.Logf("removed %d namespaces left by an earlier run: %v", len(removed), removed)
	}
	bin := binary(t)
	t.Cleanup(func() { reg.removeAll(false) })
	start := time.Now()
	nw, err := newNATNetwork()
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	c, err := newCluster(bin, nw, natSettle)
	if err != nil {
		nw.remove()
		t.Fatal(err)
	}
	c.t0 = start
	t.Cleanup(c.close)
	l := &natLab{cluster: c}
	t.Cleanup(func() {
		for _, h := range l.http {
			h.CloseIdleConnections() // a socket keeps its namespace alive
		}
	})
	relayAddr := fmt.Sprintf("%s:%d", nw.ips[natRelay], relayPort)
	for _, a := range c.agents {
		// -log-level debug: each ICE link is logged with its peer (relayLoss).
		a.args = []string{"-nat", "auto", "-metrics-addr", httpAddr, "-ice-servers", "turn:" + relayAddr, "-log-level", "debug"}
		l.http = append(l.http, nsHTTP(a.ns()))
	}
	c.agents[natRelay].args = append(c.agents[natRelay].args, "-relay", relayAddr)
	defer func() {
		if t.Failed() {
			for _, a := range c.agents {
				t.Log(a.logs())
			}
		}
	}()
	phase := func(name string, cond func() string) {
		t.Helper()
		last := time.Now()
		d, why := l.waitFor(natSettle, func() string {
			if p := l.problems(); p != "" {
				t.Fatalf("%s: %s", name, p)
			}
			w := cond()
			if w != "" && time.Since(last) > 10*time.Second {
				last = time.Now()
				t.Logf("+%.1fs, still waiting: %s", time.Since(start).Seconds(), w)
			}
			return w
		})
		if why != "" {
			t.Fatalf("%s: not within %v: %s", name, d.Round(time.Second), why)
		}
		t.Logf("%s: %.1fs (at +%.1fs)", name, d.Seconds(), time.Since(start).Seconds())
	}

	// 1. Every agent starts and joins; the member lists agree. The seed
	// first, then all the others at once: two agents of one LAN may
	// become neighbours before either knows it sits behind a NAT, and
	// the one's dial back over the LAN decides nothing for the other
	// (docs/nat.md, "Reachability", 6).
	for _, wave := range [][]int{{natSeed}, {natRelay, 2, 3, 4, 5, 6}} {
		errs := make(chan error, len(wave))
		for _, i := range wave {
			var seeds []string
			if i != natSeed {
				seeds = []string{c.agents[natSeed].addr()}
			}
			go func() { errs <- c.agents[i].start(seeds) }()
		}
		for range wave {
			if err := <-errs; err != nil {
				t.Fatalf("start: %v", err)
			}
		}
		phase(fmt.Sprintf("agents %v started, those behind NATs know it", wave), func() string { return l.reachability(wave, true) })
	}
	phase("every member list lists the 7 agents alive", func() string { return c.converged(c.snapshot()) })

	// 2. The public agents can be dialled; the others cannot, and each
	// names a public agent its rendezvous.
	phase("every agent knows whether it can be dialled", func() string { return l.reachability(indices(0, natAgents), false) })

	// 3. Broadcasts from every agent, NATed ones included.
	for _, a := range c.agents {
		a.setDriving(true)
		a.broadcastOnce(c.ctx)
	}
	phase("every broadcast delivered by every agent", c.deliveriesOwed)
	l.exactlyOnce(t)

	// 4. The paths between neighbours.
	var before map[int]map[int]string
	phase("every link up, a hole punched and a link relayed", func() string {
		var why string
		before, why = l.settledPaths()
		return why
	})
	l.checkPaths(t, before)

	// 5. The relay dies: the hole-punched links stay, broadcasts still
	// reach everyone.
	l.relayLoss(t, before)
	c.agents[2].broadcastOnce(c.ctx)
	phase("a broadcast from LAN1 delivered by every live agent", c.deliveriesOwed)
	l.exactlyOnce(t)
	if p := l.problems(); p != "" {
		t.Error(p)
	}
	t.Logf("the NAT lab took %.1fs", time.Since(start).Seconds())
}

// problems returns what went wrong with the agents' processes (an
// unexpected exit), "" if nothing did.
func (l *natLab) problems() string {
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	return strings.Join(l.rec.problems, "\n")
}

// reachability returns "" once every agent of who says what it must of
// itself: a public agent that it can be dialled (unless natOnly), an agent
// behind a NAT that it cannot, naming a public agent its rendezvous.
func (l *natLab) reachability(who []int, natOnly bool) string {
	public := map[string]bool{l.agents[natSeed].id: true, l.agents[natRelay].id: true}
	var wrong []string
	for _, i := range who {
		if natOnly && lanOf(i) < 0 {
			continue
		}
		v, err := l.nat(i)
		switch {
		case err != nil:
			wrong = append(wrong, fmt.Sprintf("agent %d: %v", i, err))
		case lanOf(i) < 0 && (v.Self.Reachability != "reachable" || v.Self.Unreachable || v.Self.Rendezvous != ""):
			wrong = append(wrong, fmt.Sprintf("public agent %d: %s, rendezvous %q", i, v.Self.Reachability, v.Self.Rendezvous))
		case lanOf(i) >= 0 && (v.Self.Reachability != "unreachable" || !v.Self.Unreachable || !public[v.Self.Rendezvous]):
			wrong = append(wrong, fmt.Sprintf("agent %d on %s: %s (asking %q), rendezvous %q, neighbours %v",
				i, natLANs[lanOf(i)].name, v.Self.Reachability, v.Self.Asking, v.Self.Rendezvous, v.Neighbours))
		}
	}
	return strings.Join(wrong, "; ")
}

// exactlyOnce checks that every broadcast so far was delivered by every
// live agent once, none reported missed, none twice. A late duplicate
// would come within the second it waits.
func (l *natLab) exactlyOnce(t *testing.T) {
	t.Helper()
	time.Sleep(time.Second) // room for a late duplicate to show; not an assertion
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	f := newFigures("", 0)
	if why := deliveryCheck(l.cluster, f); why != "" || f.delivered != f.expected || f.accepted == 0 || f.refused > 0 {
		t.Fatalf("broadcasts: %d accepted, %d refused, %d of %d deliveries, %d reported missed: %s",
			f.accepted, f.refused, f.delivered, f.expected, f.reported, why)
	}
	t.Logf("broadcasts: %d accepted, each delivered once by each of the %d live agents", f.accepted, len(l.liveAgents()))
}
