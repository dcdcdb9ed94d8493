package scenario

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/sim/engine"
)

// MembersOptions sets up the member-list experiment (ours; the papers keep
// no full member list): nodes join in continuous time with the member list
// on, one node changes its metadata, then a share of the nodes crashes at
// once. Each phase is timed until every live node's list agrees.
type MembersOptions struct {
	Nodes int
	Seed  uint64
	// Latency is the range of one-way link delays.
	Latency engine.Latency
	// JoinEvery spaces the joins (all through node 0).
	JoinEvery time.Duration
	// DetectAfter is when a crashed node's neighbours notice it (a
	// keep-alive timeout); sends to it fail at once too.
	DetectAfter time.Duration
	// Fail is the share of the nodes that crash at once.
	Fail float64
	// Quiet is how long the converged cluster runs with nothing happening,
	// to measure its background traffic.
	Quiet time.Duration
	// Limit bounds each phase: a list that has not converged by then is
	// reported as never.
	Limit time.Duration
	// Roster configures the member list (the zero value: its defaults).
	Roster roster.Config
	// SyncInterval is the member list's periodic anti-entropy
	// (gossip.MembersConfig; zero: its default, 30 s).
	SyncInterval time.Duration
	// RejoinInterval is the member list's partition-healing tick
	// (gossip.MembersConfig; zero: its default, 3 s).
	RejoinInterval time.Duration
	// ProbeInterval is the member list's liveness probe period
	// (gossip.MembersConfig; zero: its default, 1 s; negative: off).
	ProbeInterval time.Duration
	// IslandCheckAge is the age of the marks of the island check
	// (gossip.MembersConfig; zero: its default, 5 s; negative: off).
	IslandCheckAge time.Duration
	Check          bool
	Progress       *Progress
	// AfterJoin, when set, is called once every list is complete after
	// the joins (or the phase's limit passed), where the live heap peaks
	// (the simulator writes a heap profile there); its error ends the run.
	AfterJoin func() error
	// AtEnd, when set, is called once after the last phase while the
	// simulation is still held (the simulator writes a heap profile
	// there); its error ends the run.
	AtEnd func() error
}

// PaperlessMembersOptions returns the default setting: links of 5 to 100 ms
// as in the continuous experiment, joins 5 ms apart, crashes noticed by
// neighbours after 1 s, 10 % of the nodes crashing, the member list's
// defaults (suspicion timeout 5 s, a digest exchange every 30 s) and the
// runtime's Plumtree setting with it (recent broadcasts announced to each
// new neighbour).
func PaperlessMembersOptions(n int) MembersOptions {
	return MembersOptions{
		Nodes:       n,
		Latency:     engine.Latency{Min: 5 * time.Millisecond, Max: 100 * time.Millisecond},
		JoinEvery:   5 * time.Millisecond,
		DetectAfter: time.Second,
		Fail:        0.1,
		Quiet:       30 * time.Second,
		Limit:       5 * time.Minute,
	}
}

// MembersResult is what the member-list experiment measured. Times are -1
// when the lists did not agree within Limit.
type MembersResult struct {
	Nodes, Crashed int
	// Joined is the time from the last join until every node lists every
	// node alive.
	Joined time.Duration
	// MetaSpread is the time from one node's metadata change until every
	// live node holds the new metadata.
	MetaSpread time.Duration
	// Suspected is the time from the crash until no live node lists a
	// crashed node alive; Failed, until every live node lists every crashed
	// node failed and every live node alive.
	Suspected, Failed time.Duration
	// Bytes per node (estimated from the messages' fields, as in the
	// continuous experiment) sent while joining until Joined, per second
	// while nothing happens, and from the crash until Failed.
	JoinBytesPerNode, QuietBytesPerNodeSecond, FailBytesPerNode float64
	// Refuted is the time from a false declaration that a live node
	// failed — a Failed record at its current incarnation, injected at
	// another node as one member that lies would broadcast it — until every
	// live node lists it alive again: the bound on how long one member can
	// show an honest node failed (roster's doc, "Signatures").
	Refuted time.Duration
	// Refutations counts the times a live node had to refute a suspicion
	// of itself, over the whole run and all nodes (the false declaration's
	// included).
	Refutations uint64
	// OverBudget counts the requests live nodes dropped because a peer
	// was over its budget (gossip.Budgets), and Evictions the peers they
	// evicted for it: an honest burst must leave both at zero.
	OverBudget, Evictions uint64
	// OverBudgetBy splits OverBudget by budget (gossip.Budget), so that
	// the table names the one that tripped.
	OverBudgetBy map[gossip.Budget]uint64
	// ProbesPerNodeSecond is the liveness probes a live node started per
	// second of the run (gossip.MembersConfig.ProbeInterval), and
	// ProbesFailed those that ended in a suspicion (members that crashed,
	// or a false one); IndirectPerProbe the PingReqs per probe.
	ProbesPerNodeSecond, IndirectPerProbe float64
	ProbesFailed                          uint64
	// IslandMarksMissed counts the pings whose mark named a broadcast its
	// receiver should have held and did not, and IslandContacts the
	// links asked for on them (gossip's islands.go), over the whole run.
	IslandMarksMissed, IslandContacts uint64
	// QuietProbeBytesPerNodeSecond is the part of
	// QuietBytesPerNodeSecond spent on probes (Ping, PingReq, Ack).
	QuietProbeBytesPerNodeSecond float64
	// JoinCurve is the share of the nodes whose list is complete at each
	// check after the last join (every MemberCheckEvery, from 0), until
	// all are; FailCurve, the share of the live nodes that list every
	// crashed node failed, at each check after the crash.
	JoinCurve, FailCurve []float64
}

// MaxMembersNodes bounds the member-list experiment: every node holds a
// record of every node, so its memory grows with the square of the nodes
// (docs/benchmarks.md, "Member list memory, per pair of nodes" and "...,
// shared records": 124 to 139 bytes per pair at the peak of the live heap
// from 2,000 to 5,000 nodes since the nodes share the records' bodies, so
// about 13 GB at 10,000, under the simulator's soft memory limit on 24
// GiB; 20,000 would need 30 to 38 GB by the same accounting).
const MaxMembersNodes = 10_000

// MemberCheckEvery is how often the member-list experiment compares the
// lists.
const MemberCheckEvery = 100 * time.Millisecond

// RunMembers runs the member-list experiment.
func RunMembers(o MembersOptions) (MembersResult, error) {
	if o.Nodes > MaxMembersNodes {
		return MembersResult{}, fmt.Errorf("scenario: the member-list run holds every node's record at every node, memory that grows with the square of the nodes: at most %d nodes (about 20 GB), got %d", MaxMembersNodes, o.Nodes)
	}
	if o.Nodes < 4 || !(o.Fail > 0 && o.Fail < 1) || o.Limit <= 0 || o.Quiet <= 0 {
		return MembersResult{}, fmt.Errorf("scenario: the member-list run needs at least 4 nodes, a failing share in (0, 1) and positive limit and quiet time")
	}
	res := MembersResult{Nodes: o.Nodes, Joined: -1, MetaSpread: -1, Suspected: -1, Failed: -1}
	counter, err := newByteCounter()
	if err != nil {
		return res, err
	}
	// What a deployment runs (the runtime starts from the same function),
	// with views sized for the simulated cluster as in the papers and the
	// production join eviction budget kept.
	cfg := gossip.ProductionConfig(nil)
	hv := hyparview.ConfigForClusterSize(o.Nodes)
	hv.JoinEvictionsPerShuffle = cfg.HyParView.JoinEvictionsPerShuffle
	cfg.HyParView = hv
	cfg.Members.Roster = o.Roster
	if o.SyncInterval != 0 {
		cfg.Members.SyncInterval = o.SyncInterval
	}
	if o.RejoinInterval != 0 {
		cfg.Members.RejoinInterval = o.RejoinInterval
	}
	if o.ProbeInterval != 0 {
		cfg.Members.ProbeInterval = o.ProbeInterval
	}
	cfg.Members.IslandCheckAge = o.IslandCheckAge
	s, err := engine.New(engine.Config{
		Seed:            o.Seed,
		Engine:          cfg,
		CheckInvariants: o.Check,
		Addresses:       true,
		Network:         engine.NetworkConfig{Latency: o.Latency, DetectOnSend: true, DetectAfter: o.DetectAfter},
		EventMeter:      o.Progress.Meter(),
		Hook: func(_ time.Duration, _, _ int, msg gossip.Message) engine.Verdict {
			counter.add(msg)
			return engine.Verdict{}
		},
	})
	if err != nil {
		return res, err
	}
	if err := joinOneByOne(s, o.Nodes, o.Progress, "members: joining", func() error { return s.Run(s.Now() + o.JoinEvery) }); err != nil {
		return res, err
	}

	// now is the experiment's clock (Run leaves s.Now() at its target).
	now := s.Now()
	// phase runs until share() is 1 or Limit has passed, and returns the
	// time it took (-1: never) and share() at each check.
	phase := func(name string, share func() float64) (time.Duration, []float64, error) {
		start := now
		var curve []float64
		o.Progress.Start("members: "+name, int(o.Limit/MemberCheckEvery))
		defer o.Progress.Done()
		for t := time.Duration(0); t <= o.Limit; t += MemberCheckEvery {
			now = start + t
			if err := s.Run(now); err != nil {
				return -1, curve, err
			}
			curve = append(curve, share())
			if curve[len(curve)-1] == 1 {
				return t, curve, nil
			}
			o.Progress.Tick(int(t/MemberCheckEvery)+1, s)
		}
		return -1, curve, nil
	}
	// liveShare is the share of the live nodes whose list satisfies ok.
	liveShare := func(ok func(e *gossip.Engine) bool) func() float64 {
		return func() float64 {
			yes := 0
			for n := 0; n < s.Len(); n++ {
				if s.Alive(n) && ok(s.Engine(n)) {
					yes++
				}
			}
			return float64(yes) / float64(s.LiveCount())
		}
	}

	joinStart := counter.total
	if res.Joined, res.JoinCurve, err = phase("converging", liveShare(func(e *gossip.Engine) bool {
		return e.MemberCounts().Alive == o.Nodes
	})); err != nil {
		return res, err
	}
	res.JoinBytesPerNode = float64(counter.total-joinStart) / float64(o.Nodes)
	if o.AfterJoin != nil {
		if err := o.AfterJoin(); err != nil {
			return res, err
		}
	}

	quietFrom, quietProbes := counter.total, counter.probes
	now += o.Quiet
	if err := s.Run(now); err != nil {
		return res, err
	}
	res.QuietBytesPerNodeSecond = float64(counter.total-quietFrom) / float64(o.Nodes) / o.Quiet.Seconds()
	res.QuietProbeBytesPerNodeSecond = float64(counter.probes-quietProbes) / float64(o.Nodes) / o.Quiet.Seconds()

	changer := s.LiveNode(s.Rand().IntN(s.LiveCount()))
	id := s.Engine(changer).Self().ID
	meta := []byte("zone=b")
	if err := s.UpdateMeta(changer, meta); err != nil {
		return res, err
	}
	if res.MetaSpread, _, err = phase("spreading metadata", liveShare(func(e *gossip.Engine) bool {
		rec, ok := e.Member(id)
		return ok && bytes.Equal(rec.Meta, meta)
	})); err != nil {
		return res, err
	}

	if res.Refuted, err = refuteFalseFailure(s, phase, liveShare); err != nil {
		return res, err
	}

	perm := s.Rand().Perm(o.Nodes)
	for _, n := range perm[:int(o.Fail*float64(o.Nodes)+0.5)] {
		s.Crash(n)
		res.Crashed++
	}
	failStart, failFrom := now, counter.total
	allFailed := liveShare(func(e *gossip.Engine) bool {
		c := e.MemberCounts()
		return c.Alive == s.LiveCount() && c.Failed == res.Crashed
	})
	suspected := liveShare(func(e *gossip.Engine) bool {
		return e.MemberCounts().Alive == s.LiveCount()
	})
	// The failure curve runs from the crash, through both phases; the
	// second phase's first check is the first's last.
	if res.Suspected, _, err = phase("suspecting", func() float64 {
		res.FailCurve = append(res.FailCurve, allFailed())
		return suspected()
	}); err != nil {
		return res, err
	}
	failed, rest, err := phase("declaring failed", allFailed)
	if err != nil {
		return res, err
	}
	res.FailCurve = append(res.FailCurve, rest[1:]...)
	if failed >= 0 {
		res.Failed = now - failStart // counted from the crash, not from Suspected
	}
	res.FailBytesPerNode = float64(counter.total-failFrom) / float64(s.LiveCount())

	for n := 0; n < s.Len(); n++ {
		if !s.Alive(n) {
			// A crashed node's refutations count too: the victim of the
			// false declaration may be among the crashed.
			res.Refutations += s.Engine(n).Counters().Roster.Refutations
		}
		if s.Alive(n) {
			c := s.Engine(n).Counters()
			res.Refutations += c.Roster.Refutations
			for k, v := range c.Engine.OverBudget {
				res.OverBudget += v
				if v > 0 {
					if res.OverBudgetBy == nil {
						res.OverBudgetBy = map[gossip.Budget]uint64{}
					}
					res.OverBudgetBy[gossip.Budget(k)] += v
				}
			}
			res.Evictions += c.Engine.Evictions
			res.IslandMarksMissed += c.Engine.IslandMarksMissed
			res.IslandContacts += c.Engine.IslandContacts
			res.ProbesPerNodeSecond += float64(c.Engine.Probes)
			res.IndirectPerProbe += float64(c.Engine.IndirectProbes)
			res.ProbesFailed += c.Engine.ProbesFailed
		}
	}
	if res.ProbesPerNodeSecond > 0 {
		res.IndirectPerProbe /= res.ProbesPerNodeSecond
	}
	res.ProbesPerNodeSecond /= float64(s.LiveCount()) * now.Seconds()
	if o.AtEnd != nil {
		if err := o.AtEnd(); err != nil {
			return res, err
		}
		runtime.KeepAlive(s)
	}
	return res, nil
}

// overBudgetBy names the budgets requests went over, with their counts,
// in the budgets' order: " (forward-join 12, records 3)", or "" if none.
func overBudgetBy(by map[gossip.Budget]uint64) string {
	keys := slices.Sorted(maps.Keys(by))
	if len(keys) == 0 {
		return ""
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, by[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// WriteMembersTable prints the member-list experiment's result.
func WriteMembersTable(w io.Writer, o MembersOptions, r MembersResult) error {
	fmt.Fprintf(w, "Member list: %d nodes join %v apart through one contact over links of %v..%v, one changes its metadata, then %d crash at once\n",
		o.Nodes, o.JoinEvery, o.Latency.Min, o.Latency.Max, r.Crashed)
	fmt.Fprintf(w, "(times until every live node's list agrees, checked every %v; bytes as the runtime encodes and frames them)\n\n", MemberCheckEvery)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(what string, d time.Duration, extra string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", what, never(d), extra)
	}
	fmt.Fprintf(tw, "phase\ttime\ttraffic\t\n")
	row("every node lists every node alive, after the last join", r.Joined, fmt.Sprintf("%.0f B/node", r.JoinBytesPerNode))
	fmt.Fprintf(tw, "nothing happening\t-\t%.0f B/node/s\t\n", r.QuietBytesPerNodeSecond)
	row("a metadata change reaches every live node", r.MetaSpread, "")
	row("a false failure declaration is refuted everywhere", r.Refuted, "")
	row(fmt.Sprintf("no live node lists the %d crashed alive", r.Crashed), r.Suspected, "")
	row("every live node lists them failed", r.Failed, fmt.Sprintf("%.0f B/node", r.FailBytesPerNode))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "refutations of false suspicions: %d\nrequests over a peer's budget: %d%s; peers evicted: %d\n", r.Refutations, r.OverBudget, overBudgetBy(r.OverBudgetBy), r.Evictions)
	if err != nil || r.ProbesPerNodeSecond == 0 {
		return err
	}
	_, err = fmt.Fprintf(w, "liveness probes: %.2f per node per second (%.0f B/node/s of the quiet traffic), %.3f indirect pings per probe, %d unanswered (directly and through neighbours)\n",
		r.ProbesPerNodeSecond, r.QuietProbeBytesPerNodeSecond, r.IndirectPerProbe, r.ProbesFailed)
	if err != nil || o.IslandCheckAge < 0 {
		return err
	}
	_, err = fmt.Fprintf(w, "island check: %d pings named a broadcast their receiver lacked; %d links asked for\n", r.IslandMarksMissed, r.IslandContacts)
	return err
}

// refuteFalseFailure plays one member that lies: a broadcast that declares
// the second live node failed, at its current incarnation, reaches the
// first from one of its neighbours, the liar; it returns the time until
// every live node lists the victim alive again.
// The simulator runs without signatures, but a signed declaration at the
// victim's incarnation is just as valid, so the time is the same.
func refuteFalseFailure(s *engine.Sim, phase func(string, func() float64) (time.Duration, []float64, error),
	liveShare func(func(*gossip.Engine) bool) func() float64) (time.Duration, error) {
	first, victim := s.LiveNode(0), s.LiveNode(1)
	rec, ok := s.Engine(first).Member(s.Engine(victim).Self().ID)
	active := s.Engine(first).AppendActive(nil)
	if !ok || len(active) == 0 {
		return -1, fmt.Errorf("members: node %d does not list node %d or has no neighbour", first, victim)
	}
	liar := int(active[0].ID) - 1 // the simulator numbers node n as peer n+1
	rec.State = roster.StateFailed
	payload, err := gossip.EncodeEnvelope(&gossip.Envelope{Kind: gossip.EnvelopeRecords, Records: []roster.Record{rec}})
	if err != nil {
		return -1, err
	}
	if err := s.Inject(first, liar, &plumtree.Gossip{ID: plumtree.ContentHashID(payload), Payload: payload}); err != nil {
		return -1, err
	}
	refuted, _, err := phase("refuting a false failure", liveShare(func(e *gossip.Engine) bool {
		r, ok := e.Member(rec.ID)
		return ok && r.State == roster.StateAlive && r.Incarnation > rec.Incarnation
	}))
	return refuted, err
}

// never renders a phase time, or "never" for -1.
func never(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.String()
}
