package faultlab

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// cluster is one scenario's agents, network and records.
type cluster struct {
	bin, dir string
	nw       *network
	rec      *recorder
	hist     *history
	agents   []*agent
	settle   time.Duration // bound of every wait for a condition
	// agentArgs are added to every agent's command line (scenario).
	agentArgs []string
	t0        time.Time // when the scenario started
	ctx       context.Context
	cancel    context.CancelFunc

	driverStop context.CancelFunc
	driverWG   sync.WaitGroup
	samplerWG  sync.WaitGroup
	res        resources
}

// resources are the figures the sampler keeps.
type resources struct {
	mu            sync.Mutex
	maxRSS        int64           // KiB, over every agent and sample
	maxGoroutines int64           // over every agent and sample
	baseline      map[int]int64   // goroutines of each agent once the cluster formed
	last          map[int]int64   // goroutines of each agent at the last sample
	rssBase       map[int]int64   // KiB, once the cluster formed
	rssLast       map[int]int64   // KiB, at the last sample
	samples       map[int][]int64 // goroutines of each agent over time, for a failure report
}

func newCluster(bin string, nw *network, settle time.Duration) (*cluster, error) {
	dir, err := os.MkdirTemp("", "fl")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := crand.Read(secret); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &cluster{bin: bin, dir: dir, nw: nw, rec: newRecorder(), hist: &history{}, settle: settle, ctx: ctx, cancel: cancel}
	c.res.baseline, c.res.last, c.res.samples = map[int]int64{}, map[int]int64{}, map[int][]int64{}
	c.res.rssBase, c.res.rssLast = map[int]int64{}, map[int]int64{}
	now := time.Now()
	for i := range nw.agentNS {
		c.agents = append(c.agents, &agent{c: c, i: i, down: true})
		c.hist.down(i, now) // until its first process is up
	}
	return c, nil
}

// seedsFor returns the seeds agent i joins through: agents 0 and 1 at
// first (agent 0 starts the cluster), two other agents on a restart.
func (c *cluster) seedsFor(i int, restart bool) []string {
	n := len(c.agents)
	switch {
	case restart:
		return []string{c.agents[(i+1)%n].addr(), c.agents[(i+2)%n].addr()}
	case i == 0:
		return nil
	case i == 1:
		return []string{c.agents[0].addr()}
	}
	return []string{c.agents[0].addr(), c.agents[1].addr()}
}

// startAll starts agent 0, then the others side by side.
func (c *cluster) startAll() error {
	if err := c.agents[0].start(nil); err != nil {
		return err
	}
	errs := make(chan error, len(c.agents))
	for _, a := range c.agents[1:] {
		go func() { errs <- a.start(c.seedsFor(a.i, false)) }()
	}
	var first error
	for range c.agents[1:] {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close stops every process and removes the network and the files.
func (c *cluster) close() {
	c.stopDriver()
	c.cancel()
	c.samplerWG.Wait()
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.stopAll() }()
	}
	wg.Wait()
	c.nw.remove()
	_ = os.RemoveAll(c.dir)
}

// startDriver makes every live agent broadcast one message at a time, its
// payload "agent:counter", until stopDriver: each agent at random
// intervals between 2/3 and 4/3 of a mean chosen so that the whole cluster
// broadcasts -faultlab.rate messages a second (at 8 agents and the default
// 27 a second, every 200 to 400 ms). The cluster-wide rate, not each
// agent's, is the same at every size, so that 32 agents on a small
// machine measure the protocol rather than a saturated CPU.
func (c *cluster) startDriver() {
	ctx, stop := context.WithCancel(c.ctx)
	c.driverStop = stop
	mean := time.Duration(float64(len(c.agents)) / *rateFlag * float64(time.Second))
	for _, a := range c.agents {
		a.setDriving(a.live())
		c.driverWG.Add(1)
		go func() {
			defer c.driverWG.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(mean*2/3 + time.Duration(rand.Int64N(int64(mean*2/3)+1))):
				}
				a.broadcastOnce(ctx)
			}
		}()
	}
}

// broadcastOnce broadcasts one message from a if the driver is on for it.
func (a *agent) broadcastOnce(ctx context.Context) {
	a.driveMu.Lock()
	defer a.driveMu.Unlock()
	if !a.driving {
		return
	}
	p := a.cur()
	a.counter++
	key := fmt.Sprintf("%d:%d", a.i, a.counter)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sent := time.Now()
	_, err := p.cl.Broadcast(rctx, &gossipdv1.BroadcastRequest{Topic: "lab", Payload: []byte(key)})
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("driver stopped: %w", err)
	}
	a.c.rec.broadcast(bcast{origin: a.i, proc: p.key.proc, key: key, sent: sent, err: err})
}

func (c *cluster) stopDriver() {
	if c.driverStop != nil {
		c.driverStop()
		c.driverWG.Wait()
		c.driverStop = nil
	}
}

// startSampler samples every live agent's memory and goroutines every
// 500 ms; the first sample of each agent is its baseline.
func (c *cluster) startSampler() {
	c.samplerWG.Add(1)
	go func() {
		defer c.samplerWG.Done()
		for {
			c.sampleOnce()
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

func (c *cluster) sampleOnce() {
	for _, a := range c.agents {
		rss, g := a.sample()
		if rss == 0 {
			continue
		}
		r := &c.res
		r.mu.Lock()
		r.maxRSS, r.maxGoroutines = max(r.maxRSS, rss), max(r.maxGoroutines, g)
		if _, ok := r.baseline[a.i]; !ok {
			r.baseline[a.i], r.rssBase[a.i] = g, rss
		}
		r.last[a.i], r.rssLast[a.i] = g, rss
		r.samples[a.i] = append(r.samples[a.i], g)
		r.mu.Unlock()
	}
}

// everyOriginHeard reports, for waitFor, an agent none of whose accepted
// broadcasts every live agent has delivered yet ("" when there is none).
func (c *cluster) everyOriginHeard() string {
	live := c.liveAgents()
	r := c.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	got := map[string]map[int]bool{} // payload key: agents that delivered it
	for _, d := range r.deliveries {
		if got[d.key] == nil {
			got[d.key] = map[int]bool{}
		}
		got[d.key][d.agent] = true
	}
	heard := map[int]bool{}
	for _, b := range r.bcasts {
		if b.err != nil || heard[b.origin] {
			continue
		}
		all := true
		for _, a := range live {
			all = all && got[b.key][a.i]
		}
		heard[b.origin] = all
	}
	for _, a := range live {
		if !heard[a.i] {
			return fmt.Sprintf("no broadcast of agent %d has reached every agent yet", a.i)
		}
	}
	return ""
}

// liveAgents returns the agents that run and are not paused.
func (c *cluster) liveAgents() []*agent {
	var out []*agent
	for _, a := range c.agents {
		if a.live() {
			out = append(out, a)
		}
	}
	return out
}

// snapshot is every live agent's member list.
type snapshot map[int]map[string]gossipdv1.MemberState

func (c *cluster) snapshot() snapshot {
	s := snapshot{}
	for _, a := range c.liveAgents() {
		if m, err := a.members(); err == nil {
			s[a.i] = m
		}
	}
	return s
}

// converged returns "" when every live agent lists exactly the live agents
// alive and every other member it lists as failed or left, and otherwise
// what differs.
func (c *cluster) converged(s snapshot) string {
	live := c.liveAgents()
	want := map[string]bool{}
	for _, a := range live {
		want[a.id] = true
	}
	var diffs []string
	for _, o := range live {
		got, ok := s[o.i]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("agent %d: no member list", o.i))
			continue
		}
		var wrong []string
		for _, a := range c.agents {
			st, listed := got[a.id]
			switch {
			case want[a.id] && st != gossipdv1.MemberState_MEMBER_STATE_ALIVE:
				wrong = append(wrong, fmt.Sprintf("%d:%s", a.i, stateName(st, listed)))
			case !want[a.id] && listed && (st == gossipdv1.MemberState_MEMBER_STATE_ALIVE || st == gossipdv1.MemberState_MEMBER_STATE_SUSPECT):
				wrong = append(wrong, fmt.Sprintf("%d:%s(down)", a.i, stateName(st, listed)))
			}
		}
		if extra := len(got) - countKnown(c, got); extra > 0 {
			wrong = append(wrong, fmt.Sprintf("%d unknown members", extra))
		}
		if len(wrong) > 0 {
			diffs = append(diffs, fmt.Sprintf("agent %d lists %s", o.i, strings.Join(wrong, " ")))
		}
	}
	return strings.Join(diffs, "; ")
}

func countKnown(c *cluster, got map[string]gossipdv1.MemberState) int {
	n := 0
	for _, a := range c.agents {
		if _, ok := got[a.id]; ok {
			n++
		}
	}
	return n
}

func stateName(st gossipdv1.MemberState, listed bool) string {
	if !listed {
		return "absent"
	}
	return strings.ToLower(strings.TrimPrefix(st.String(), "MEMBER_STATE_"))
}

// notAlive returns "" when every observer lists every target as failed,
// left or not at all, and otherwise who still lists whom otherwise, counted
// by observer group.
func (c *cluster) notAlive(s snapshot, observers, targets []int) string {
	var diffs []string
	for _, o := range observers {
		got, ok := s[o]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("agent %d: no member list", o))
			continue
		}
		var still []string
		for _, t := range targets {
			st, listed := got[c.agents[t].id]
			if listed && (st == gossipdv1.MemberState_MEMBER_STATE_ALIVE || st == gossipdv1.MemberState_MEMBER_STATE_SUSPECT) {
				still = append(still, fmt.Sprintf("%d:%s", t, stateName(st, true)))
			}
		}
		if len(still) > 0 {
			sort.Strings(still)
			diffs = append(diffs, fmt.Sprintf("agent %d lists %s", o, strings.Join(still, " ")))
		}
	}
	return strings.Join(diffs, "; ")
}

// waitFor polls cond (which returns "" once it holds, else what is still
// missing) until it holds or d passes. It returns how long it took and,
// on a timeout, the last thing cond said.
func (c *cluster) waitFor(d time.Duration, cond func() string) (time.Duration, string) {
	start := time.Now()
	for {
		why := cond()
		if why == "" {
			return time.Since(start), ""
		}
		if time.Since(start) > d {
			return time.Since(start), why
		}
		select {
		case <-c.ctx.Done():
			return time.Since(start), "lab stopped: " + why
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitConverged waits (bounded by the settle time) until the member lists
// converge.
func (c *cluster) waitConverged() (time.Duration, string) {
	return c.waitFor(c.settle, func() string { return c.converged(c.snapshot()) })
}

func indices(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
