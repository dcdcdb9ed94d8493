package faultlab

import (
	"fmt"
	"sort"
	"strings"
	"time"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// eventGrace is how far back before a failure event the oracle looks for
// a fault that excuses it: the event travels from the agent to the lab,
// and an agent acts on what it learnt a moment earlier.
const eventGrace = 2 * time.Second

// Bounds on resources: an agent of a cluster this size must stay well
// under maxRSSKiB, and at the end of a scenario its goroutines and memory
// must not exceed twice what they were once the cluster formed plus a
// margin: a leak per connection, per message or per event would show.
const (
	maxRSSKiB        = 256 << 10
	goroutineMargin  = 64
	rssGrowthKiBSlop = 64 << 10
)

// check is one oracle check's verdict: "" when it passed.
type check struct{ name, failure string }

// evaluate runs the oracle on what the cluster recorded, filling f's
// figures, and returns every check with its verdict.
func evaluate(c *cluster, f *figures, final string) []check {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	checks := []check{
		{"deliveries", deliveryCheck(c, f)},
		{"membership", final},
		{"false events", eventCheck(c, f)},
		{"resources", resourceCheck(c, f)},
		{"processes", strings.Join(c.rec.problems, "\n")},
	}
	return checks
}

// deliveryCheck checks that every broadcast an agent accepted is
// delivered exactly once by every agent live at the end, or reported
// missed to that agent's subscriber, and that no agent delivers a message
// twice, neither within one process (f.dups) nor across a restart
// (f.redelivered). A broadcast whose origin was then killed is owed only if
// some agent live at the end delivered it: a crashed sender's last
// message may die with it, and reliable broadcast's agreement property
// (Hadzilacos and Toueg, "A Modular Approach to Fault-Tolerant
// Broadcasts and Related Problems", 1994, section 2) asks only that what
// one correct process delivers, all do.
func deliveryCheck(c *cluster, f *figures) string {
	r := c.rec
	type dk struct {
		agent int
		key   string
	}
	perProc := map[dk]map[int]int{}
	first := map[dk]time.Time{}
	last := map[dk]time.Time{}
	for _, d := range r.deliveries {
		k := dk{d.agent, d.key}
		if perProc[k] == nil {
			perProc[k] = map[int]int{}
			first[k] = d.at
		}
		perProc[k][d.proc]++
		last[k] = d.at
	}
	var problems []string
	asked := map[string]bcast{}
	for _, b := range r.bcasts {
		asked[b.key] = b
		if b.err == nil {
			f.accepted++
		} else {
			f.refused++
		}
	}
	for k, procs := range perProc {
		if _, ok := asked[k.key]; !ok && len(problems) < 5 {
			problems = append(problems, fmt.Sprintf("agent %d delivered %q, which the driver never broadcast", k.agent, k.key))
		}
		for proc, n := range procs {
			if n > 1 {
				f.dups += n - 1
				if len(problems) < 10 {
					problems = append(problems, fmt.Sprintf("agent %d (process %d) delivered %s %d times, the last %.1fs after the first",
						k.agent, proc, k.key, n, last[k].Sub(first[k]).Seconds()))
				}
			}
		}
		if len(procs) > 1 {
			f.redelivered += len(procs) - 1
			if f.redelivered == len(procs)-1 {
				problems = append(problems, fmt.Sprintf("agent %d delivered %s in %d of its processes (a restart redelivers; "+
					"a sidecar's application, which outlives the agent, sees it twice)", k.agent, k.key, len(procs)))
			}
		}
	}
	if f.redelivered > 0 {
		problems = append(problems, fmt.Sprintf("%d deliveries repeated by restarted agents' new processes", f.redelivered))
	}
	live := c.liveAgents()
	var lat []time.Duration
	for _, b := range r.bcasts {
		if b.err != nil {
			continue
		}
		origin := c.agents[b.origin]
		owed := true
		if !origin.killed.IsZero() && origin.killed.After(b.sent) {
			owed = false
			for _, a := range live {
				if a.i != b.origin && perProc[dk{a.i, b.key}] != nil {
					owed = true
				}
			}
		}
		if !owed {
			f.lostWithOrigin++
			continue
		}
		for _, a := range live {
			f.expected++
			k := dk{a.i, b.key}
			if perProc[k] == nil {
				f.missing[a.i]++
				if f.missingByOrigin[a.i] == nil {
					f.missingByOrigin[a.i] = map[string]int{}
				}
				f.missingByOrigin[a.i][origin.id]++
				continue
			}
			f.delivered++
			if a.i != b.origin {
				lat = append(lat, first[k].Sub(b.sent))
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		f.p50, f.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for _, a := range live {
		reported := map[string]uint64{}
		for k, m := range r.missed {
			if k.agent == a.i {
				for o, n := range m {
					reported[o] += n
				}
			}
		}
		generic := reported[""]
		f.reported += int(generic)
		unexplained := 0
		for o, n := range f.missingByOrigin[a.i] {
			f.reported += int(min(uint64(n), reported[o]))
			unexplained += n - int(min(uint64(n), reported[o]))
		}
		unexplained -= int(min(uint64(unexplained), generic))
		f.unexplained += unexplained
		if unexplained > 0 {
			problems = append(problems, fmt.Sprintf("agent %d is missing %d owed broadcasts (%d reported missed to its subscriber)%s",
				a.i, f.missing[a.i], generic, missingSample(c, a.i)))
		}
	}
	return strings.Join(problems, "\n")
}

// missingSample names a few broadcasts agent i never delivered, with the
// time they were sent relative to the scenario's start.
func missingSample(c *cluster, i int) string {
	var out []string
	seen := map[string]bool{}
	byOrigin := map[string]bool{} // delivered by its origin's own process
	for _, d := range c.rec.deliveries {
		if d.agent == i {
			seen[d.key] = true
		}
		if strings.HasPrefix(d.key, fmt.Sprint(d.agent, ":")) {
			byOrigin[d.key] = true
		}
	}
	for _, b := range c.rec.bcasts {
		if b.err == nil && !seen[b.key] {
			s := fmt.Sprintf("%s@+%.1fs", b.key, b.sent.Sub(c.t0).Seconds())
			if b.proc > 0 || !byOrigin[b.key] {
				// where a restart's loss happens: which process of the
				// origin accepted it, and whether it delivered it itself
				s += fmt.Sprintf("(process %d, delivered by its origin: %v)", b.proc, byOrigin[b.key])
			}
			out = append(out, s)
		}
	}
	if len(out) > 8 {
		out = append(out[:4], "...", out[len(out)-3], out[len(out)-2], out[len(out)-1])
	}
	return ": " + strings.Join(out, " ")
}

// eventCheck counts the fail and suspect events an observer emitted about
// a member that, over the eventGrace before the event, ran, was not
// paused and was not cut from the observer by the scenario's rules. A
// false fail event fails the check; false suspect events are counted
// apart (f.falseSuspect), since a suspicion is the protocol's question,
// which the member answers by refuting it.
func eventCheck(c *cluster, f *figures) string {
	byID := map[string]int{}
	for _, a := range c.agents {
		byID[a.id] = a.i
	}
	var fails, suspects []string
	for _, e := range c.rec.events {
		if e.kind != gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_FAIL && e.kind != gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_SUSPECT {
			continue
		}
		m, ok := byID[e.member]
		if !ok {
			f.unknownEvents++
			continue
		}
		if c.hist.unreachable(e.agent, m, e.at.Add(-eventGrace), e.at) {
			continue
		}
		ex := fmt.Sprintf("+%.1fs agent %d: %s %d", e.at.Sub(c.t0).Seconds(), e.agent,
			strings.ToLower(strings.TrimPrefix(e.kind.String(), "MEMBER_EVENT_KIND_")), m)
		if e.kind == gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_FAIL {
			f.falseFail++
			fails = append(fails, ex)
		} else {
			f.falseSuspect++
			suspects = append(suspects, ex)
		}
	}
	f.eventsLagged = int(c.rec.eventsLagged)
	f.suspects = sample(suspects, 12)
	if f.falseFail == 0 {
		return ""
	}
	return fmt.Sprintf("%d false fail events (observer: kind member): %s; and %d false suspect events: %s",
		f.falseFail, sample(fails, 12), f.falseSuspect, sample(suspects, 6))
}

// sample joins v, or its first and last few if it is longer than n.
func sample(v []string, n int) string {
	if len(v) > n {
		v = append(append(v[:n/2:n/2], "..."), v[len(v)-n/2:]...)
	}
	return strings.Join(v, ", ")
}

// resourceCheck checks the bounds on memory and goroutines.
func resourceCheck(c *cluster, f *figures) string {
	r := &c.res
	r.mu.Lock()
	defer r.mu.Unlock()
	f.maxRSS, f.maxGoroutines = r.maxRSS, r.maxGoroutines
	var problems []string
	if r.maxRSS > maxRSSKiB {
		problems = append(problems, fmt.Sprintf("an agent reached %d MiB resident (bound %d MiB)", r.maxRSS>>10, maxRSSKiB>>20))
	}
	for _, a := range c.liveAgents() {
		base, last := r.baseline[a.i], r.last[a.i]
		if base > 0 && last > 2*base+goroutineMargin {
			problems = append(problems, fmt.Sprintf("agent %d: %d goroutines at the end, %d once the cluster formed (samples %v)",
				a.i, last, base, tailInts(r.samples[a.i], 12)))
		}
		if rb, rl := r.rssBase[a.i], r.rssLast[a.i]; rb > 0 && rl > 2*rb+rssGrowthKiBSlop {
			problems = append(problems, fmt.Sprintf("agent %d: %d MiB resident at the end, %d MiB once the cluster formed", a.i, rl>>10, rb>>10))
		}
	}
	return strings.Join(problems, "\n")
}

func tailInts(v []int64, n int) []int64 {
	if len(v) > n {
		return v[len(v)-n:]
	}
	return v
}
