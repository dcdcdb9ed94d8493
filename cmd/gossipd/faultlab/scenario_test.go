package faultlab

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// scene is one scenario in progress: what its fault phase measured.
type scene struct {
	t      *testing.T
	c      *cluster
	f      *figures
	soak   time.Duration
	detect string    // why the fault was not detected, "" if it was (or not asked)
	healAt time.Time // when the fault ended
}

// scenario is one fault: joinLoss, if set, is the input loss in place on
// every agent while the cluster forms; fault injects the fault while the
// driver broadcasts, holds it, and heals it.
type scenario struct {
	name     string
	joinLoss float64
	fault    func(r *scene)
	// agentArgs are added to every agent's command line; soak, when
	// set, replaces -faultlab.soak for this scenario.
	agentArgs []string
	soak      time.Duration
}

// runScenario starts a fresh cluster, waits for it to form, drives
// broadcasts through the scenario's fault and after it, settles, and runs
// the oracle.
func runScenario(t *testing.T, bin string, k int, sc scenario) {
	n := *nFlag
	start := time.Now()
	nw, err := newNetwork(k, n)
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	c, err := newCluster(bin, nw, *settleFlag)
	if err != nil {
		nw.remove()
		t.Fatal(err)
	}
	c.t0, c.agentArgs = start, sc.agentArgs
	t.Cleanup(c.close)
	f := newFigures(sc.name, n)
	if sc.joinLoss > 0 {
		for i := range n {
			if err := nw.setChain(i, "LAB_IN", lossRule(sc.joinLoss)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.startAll(); err != nil {
		t.Fatalf("start: %v", err)
	}
	d, why := c.waitConverged()
	f.join = took(d, why)
	if why != "" {
		f.failed = append(f.failed, "join")
		t.Errorf("join: the member lists did not converge within %v of the start: %s", c.settle, why)
	}
	c.startSampler()
	c.startDriver()
	// Traffic before the fault: every agent has been heard by every
	// other (a receiver follows an origin's sequence from the first
	// broadcast it delivered, so what an origin sends before any of its
	// broadcasts reached an agent cannot be reported to that agent as a
	// gap), and at least a second of it.
	time.Sleep(time.Second) // not an assertion
	if _, why := c.waitFor(c.settle, c.everyOriginHeard); why != "" {
		t.Fatalf("before the fault: %s", why)
	}
	r := &scene{t: t, c: c, f: f, soak: cmp.Or(sc.soak, *soakFlag)}
	sc.fault(r)
	if r.healAt.IsZero() {
		r.healAt = time.Now()
	}
	_, why = c.waitConverged()
	f.reconv = took(time.Since(r.healAt), why)
	final := ""
	if why != "" {
		final = fmt.Sprintf("%.0fs after the fault ended the member lists still differ: %s", time.Since(r.healAt).Seconds(), why)
	}
	time.Sleep(2 * time.Second) // traffic after healing; not an assertion
	c.stopDriver()
	c.waitFor(c.settle, func() string { return c.deliveriesOwed() })
	time.Sleep(time.Second) // room for a late duplicate or event to show; not an assertion
	c.sampleOnce()
	f.wall = time.Since(start)
	checks := evaluate(c, f, final)
	if r.detect != "" {
		checks = append([]check{{"detection", r.detect}}, checks...)
	}
	for _, ch := range checks {
		if ch.failure != "" {
			f.failed = append(f.failed, ch.name)
			t.Errorf("%s: %s", ch.name, ch.failure)
		}
	}
	if f.falseSuspect > 0 {
		t.Logf("%d false suspect events (counted, not a failure): %s", f.falseSuspect, f.suspects)
	}
	if f.eventsLagged > 0 || f.unknownEvents > 0 {
		t.Logf("the member watchers missed %d events (lag notices) and saw %d about members the lab does not know: the false event counts may be low",
			f.eventsLagged, f.unknownEvents)
	}
	row := f.row()
	t.Logf("\n%s%s", tableHeader, row)
	if err := results.add(row); err != nil {
		t.Errorf("-faultlab.out: %v", err)
	}
	if (t.Failed() || *allLogsFlag) && *logsFlag != "" {
		dir := filepath.Join(*logsFlag, sc.name)
		_ = os.MkdirAll(dir, 0o755)
		for _, a := range c.agents {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("agent%d.log", a.i)), []byte(a.logs()), 0o644)
		}
		t.Logf("agent logs in %s", dir)
	}
}

// deliveriesOwed returns "" once every live agent delivered, or was told
// it missed, every broadcast it owes; otherwise how many are missing.
func (c *cluster) deliveriesOwed() string {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	f := newFigures("", 0)
	if deliveryCheck(c, f); f.unexplained > 0 {
		return fmt.Sprintf("%d deliveries missing", f.unexplained)
	}
	return ""
}

func lossRule(p float64) string {
	return fmt.Sprintf("-m statistic --mode random --probability %g -j DROP", p)
}

// sleepUntil waits until t; the lab holds faults for a time this way, but
// never asserts on time.
func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
