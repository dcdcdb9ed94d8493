package scenario

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/sim/engine"
)

// Condition is one network condition of the continuous-time experiment.
type Condition struct {
	Name string
	// Loss is the probability that any one message is lost.
	Loss float64
	// Partition splits the nodes into two halves for PartitionFor, starting
	// when the measured phase starts.
	Partition    bool
	PartitionFor time.Duration
	// ChurnEvery crashes one random node and restarts one crashed node at
	// this interval during the measured phase; zero means no churn.
	ChurnEvery time.Duration
}

// ContinuousOptions sets up the continuous-time experiment: real timers,
// per-link latency, and the conditions above.
type ContinuousOptions struct {
	Nodes int
	Seed  uint64
	// Latency is the range of one-way link delays.
	Latency engine.Latency
	// JoinEvery spaces the joins (all through node 0).
	JoinEvery time.Duration
	// Settle is how long the overlay runs after the last join before the
	// measured phase.
	Settle time.Duration
	// Duration of the measured phase, during which Rate broadcasts per
	// second start at random live nodes.
	Duration time.Duration
	Rate     float64
	// Drain is how long the run goes on after the last broadcast.
	Drain      time.Duration
	Conditions []Condition
	// Plumtree configures the broadcast core (the zero value: its defaults).
	Plumtree plumtree.Config
	Check    bool
	Progress *Progress
}

// PaperlessContinuousOptions returns the default conditions: no loss, 1 %
// and 5 % loss, a partition into halves that heals after 30 s, and steady
// churn. The papers run no continuous-time experiment; these settings are
// ours.
func PaperlessContinuousOptions(n int) ContinuousOptions {
	return ContinuousOptions{
		Nodes:     n,
		Latency:   engine.Latency{Min: 5 * time.Millisecond, Max: 100 * time.Millisecond},
		JoinEvery: 5 * time.Millisecond,
		Settle:    60 * time.Second,
		Duration:  60 * time.Second,
		Rate:      5,
		Drain:     30 * time.Second,
		Conditions: []Condition{
			{Name: "no loss"},
			{Name: "1% loss", Loss: 0.01},
			{Name: "5% loss", Loss: 0.05},
			{Name: "partition 30s", Partition: true, PartitionFor: 30 * time.Second},
			{Name: "churn", ChurnEvery: 500 * time.Millisecond},
		},
	}
}

// ContinuousRow is the outcome of one condition.
type ContinuousRow struct {
	Condition Condition
	// Broadcasts started during the measured phase.
	Broadcasts int
	// DeliveryRatio is deliveries divided by the nodes live at each
	// broadcast's start, summed over the broadcasts.
	DeliveryRatio float64
	// Latency percentiles of the deliveries (origin excluded), from the
	// broadcast's start to the delivery.
	P50, P90, P99, Max time.Duration
	// BytesPerDelivery is the wire bytes of every message sent
	// during the measured phase and drain, per delivery.
	BytesPerDelivery float64
	// PayloadBytes is the size of each broadcast's payload.
	PayloadBytes int
	// Connected is the time from the last join until the active views
	// first formed one connected overlay (checked every second); -1 if they
	// never did within Settle. Bursts of joins through one contact leave
	// islands that HyParView's repair merges over a few shuffle periods.
	Connected time.Duration
	// Components is the number of connected components of the overlay when
	// the measured phase starts.
	Components int
	// RMR is the mean RMR of the broadcasts.
	RMR float64
	// ViewsHealed is, for a partition, the time from the heal until the
	// active views form one connected overlay again (checked every
	// second); -1 if they did not by the end of the run.
	ViewsHealed time.Duration
	// TreesSettled is the time from the end of the disruption (the start
	// of the measured phase, or the heal of a partition) until the first
	// of settleRun consecutive broadcasts whose RMR is at most settleRMR:
	// the broadcast trees no longer carry redundant payloads. -1 if that
	// never happened.
	TreesSettled time.Duration
}

// A tree has settled once settleRun broadcasts in a row have an RMR of at
// most settleRMR.
const (
	settleRun = 5
	settleRMR = 0.1
)

// payloadSize is the size of each broadcast in the continuous experiment.
const payloadSize = 256

// RunContinuous runs every condition on a freshly built overlay (the same
// seed builds the same overlay up to the measured phase).
func RunContinuous(o ContinuousOptions) ([]ContinuousRow, error) {
	if o.Nodes < 4 || o.Rate <= 0 || o.Duration <= 0 || len(o.Conditions) == 0 {
		return nil, fmt.Errorf("scenario: continuous run needs at least 4 nodes, a positive rate and duration, and a condition")
	}
	rows := make([]ContinuousRow, len(o.Conditions))
	err := forEach(len(rows), "continuous experiment", o.Progress, func(i int) error {
		var err error
		if rows[i], err = o.run(o.Conditions[i]); err != nil {
			return fmt.Errorf("%s: %w", o.Conditions[i].Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (o *ContinuousOptions) run(cond Condition) (ContinuousRow, error) {
	row := ContinuousRow{Condition: cond, PayloadBytes: payloadSize, Connected: -1, ViewsHealed: -1, TreesSettled: -1}
	var latencies []time.Duration
	var s *engine.Sim
	counter, err := newByteCounter()
	if err != nil {
		return row, err
	}
	measuring := false
	cfg := gossip.Config{HyParView: hyparview.ConfigForClusterSize(o.Nodes), Plumtree: o.Plumtree}
	s, err = engine.New(engine.Config{
		Seed:            o.Seed,
		Engine:          cfg,
		CheckInvariants: o.Check,
		Network:         engine.NetworkConfig{Latency: o.Latency, DetectOnSend: true, DetectAfter: time.Second},
		EventMeter:      o.Progress.Meter(),
		OnDeliver: func(n int, d gossip.Delivery, at time.Duration) {
			if d.Hops == 0 {
				return
			}
			if b, ok := s.BroadcastByID(d.ID); ok && b.Origin >= 0 {
				latencies = append(latencies, at-b.Start)
			}
		},
		Hook: func(_ time.Duration, _, _ int, msg gossip.Message) engine.Verdict {
			if measuring {
				counter.add(msg)
			}
			return engine.Verdict{}
		},
	})
	if err != nil {
		return row, err
	}
	if err := joinOneByOne(s, o.Nodes, nil, "", func() error { return s.Run(s.Now() + o.JoinEvery) }); err != nil {
		return row, err
	}
	lastJoin := s.Now()
	for t := time.Duration(0); t <= o.Settle; t += time.Second {
		if err := s.Run(lastJoin + t); err != nil {
			return row, err
		}
		if row.Connected < 0 && components(s) == 1 {
			row.Connected = t
		}
	}
	row.Components = components(s)
	if cond.Loss > 0 {
		if err := s.SetLoss(cond.Loss); err != nil {
			return row, err
		}
	}
	start := s.Now()
	if cond.Partition {
		for n := 0; n < o.Nodes; n++ {
			s.Partition(n, int32(n%2))
		}
	}
	measuring = true
	first := len(s.Broadcasts())
	gap := time.Duration(float64(time.Second) / o.Rate)
	nextChurn := start + cond.ChurnEvery
	for k := 0; start+time.Duration(k)*gap < start+o.Duration; k++ {
		at := start + time.Duration(k)*gap
		for cond.ChurnEvery > 0 && nextChurn <= at {
			if err := s.Run(nextChurn); err != nil {
				return row, err
			}
			churn(s)
			nextChurn += cond.ChurnEvery
		}
		if err := s.Run(at); err != nil {
			return row, err
		}
		if healAt := start + cond.PartitionFor; cond.Partition && at >= healAt {
			if at-gap < healAt { // the first broadcast after the heal
				for n := 0; n < o.Nodes; n++ {
					s.Partition(n, 0)
				}
			}
			if row.ViewsHealed < 0 && (at-healAt)%time.Second < gap && components(s) == 1 {
				row.ViewsHealed = at - healAt
			}
		}
		live := s.LiveNodes()
		p := make([]byte, payloadSize)
		copy(p, fmt.Sprintf("%s-%d", cond.Name, k))
		if _, err := s.Broadcast(live[s.Rand().IntN(len(live))], p); err != nil {
			return row, err
		}
	}
	if err := s.Run(s.Now() + o.Drain); err != nil {
		return row, err
	}
	bs := s.Broadcasts()[first:]
	row.Broadcasts = len(bs)
	settleFrom := start
	if cond.Partition {
		settleFrom += cond.PartitionFor
	}
	row.TreesSettled = treesSettled(bs, settleFrom)
	var delivered, expected, rmrs float64
	var nRMR int
	for _, b := range bs {
		delivered += float64(b.Delivered)
		expected += float64(b.LiveAtStart)
		if r := b.RMR(); r == r {
			rmrs += r
			nRMR++
		}
	}
	if expected > 0 {
		row.DeliveryRatio = delivered / expected
	}
	if nRMR > 0 {
		row.RMR = rmrs / float64(nRMR)
	}
	if d := s.Stats().Deliveries; d > 0 {
		row.BytesPerDelivery = float64(counter.total) / delivered
	}
	slices.Sort(latencies)
	row.P50, row.P90, row.P99 = percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99)
	if len(latencies) > 0 {
		row.Max = latencies[len(latencies)-1]
	}
	return row, nil
}

// treesSettled returns the time from ref until the first of settleRun
// consecutive broadcasts started after ref with an RMR of at most
// settleRMR, or -1.
func treesSettled(bs []engine.Broadcast, ref time.Duration) time.Duration {
	run := 0
	for i, b := range bs {
		if b.Start < ref {
			continue
		}
		if r := b.RMR(); r == r && r <= settleRMR {
			run++
		} else {
			run = 0
		}
		if run == settleRun {
			return bs[i-settleRun+1].Start - ref
		}
	}
	return -1
}

// components counts the connected components of the live nodes' active
// views, read as an undirected graph.
func components(s *engine.Sim) int {
	count, _ := componentSizes(s)
	return count
}

// componentSizes returns the number of connected components of the live
// nodes' active views, read as an undirected graph, and the number of
// live nodes in the largest.
func componentSizes(s *engine.Sim) (count, largest int) {
	live := s.LiveNodes()
	index := make(map[peer.ID]int, len(live))
	for i, n := range live {
		index[s.Engine(n).Self().ID] = i
	}
	parent := make([]int, len(live))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	count = len(live)
	var scratch []hyparview.Peer
	for i, n := range live {
		scratch = s.Engine(n).AppendActive(scratch[:0])
		for _, p := range scratch {
			j, ok := index[p.ID]
			if !ok {
				continue
			}
			if a, b := find(i), find(j); a != b {
				parent[a] = b
				count--
			}
		}
	}
	size := make(map[int]int, count)
	for i := range live {
		r := find(i)
		size[r]++
		largest = max(largest, size[r])
	}
	return count, largest
}

// churn crashes one random live node and restarts one random crashed node
// through a random live contact.
func churn(s *engine.Sim) {
	live := s.LiveNodes()
	var dead []int
	for n := 0; n < s.Len(); n++ {
		if !s.Alive(n) {
			dead = append(dead, n)
		}
	}
	if len(dead) > 0 {
		contact := live[s.Rand().IntN(len(live))]
		_ = s.Restart(dead[s.Rand().IntN(len(dead))], contact)
	}
	if len(live) > 4 {
		s.Crash(live[s.Rand().IntN(len(live))])
	}
}

// percentile returns the q-quantile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// writeGraftTimers says which GRAFT timers ran, unless they were the
// defaults: Plumtree's fixed timeout1 and timeout2.
func writeGraftTimers(w io.Writer, c plumtree.Config) {
	if c.GraftTimeout1 == 0 && c.GraftTimeout2 == 0 && c.MinGraftTimeout == 0 {
		return
	}
	d := plumtree.DefaultConfig()
	t1, t2 := cmp.Or(c.GraftTimeout1, d.GraftTimeout1), cmp.Or(c.GraftTimeout2, d.GraftTimeout2)
	if c.MinGraftTimeout > 0 {
		fmt.Fprintf(w, "Plumtree: timeout1 following the measured lags between %v and %v, timeout2 %v\n", c.MinGraftTimeout, t1, t2)
		return
	}
	fmt.Fprintf(w, "Plumtree: timeout1 %v, timeout2 %v\n", t1, t2)
}

// WriteContinuousTable prints one line per condition.
func WriteContinuousTable(w io.Writer, o ContinuousOptions, rows []ContinuousRow) error {
	fmt.Fprintf(w, "Continuous time: %d nodes, link delay %v..%v, %.0f broadcasts/s of %d B for %v, drained %v\n",
		o.Nodes, o.Latency.Min, o.Latency.Max, o.Rate, payloadSize, o.Duration, o.Drain)
	writeGraftTimers(w, o.Plumtree)
	fmt.Fprintf(w, "(delivery = deliveries / live nodes at each broadcast; latency from broadcast to delivery; bytes as the runtime encodes and frames them)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{"condition", "broadcasts", "delivery", "p50", "p90", "p99", "max", "RMR", "bytes/delivery", "connected after", "components", "views healed", "trees settled"}, "\t")+"\t")
	for _, r := range rows {
		connected := fmt.Sprintf(">%v", o.Settle)
		if r.Connected >= 0 {
			connected = r.Connected.String()
		}
		healed := "-"
		if r.Condition.Partition {
			healed = "never"
			if r.ViewsHealed >= 0 {
				healed = r.ViewsHealed.String()
			}
		}
		settled := "never"
		if r.TreesSettled >= 0 {
			settled = r.TreesSettled.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v\t%v\t%v\t%v\t%.3f\t%.0f\t%s\t%d\t%s\t%s\t\n", r.Condition.Name, r.Broadcasts, pct(r.DeliveryRatio),
			r.P50.Round(time.Millisecond), r.P90.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond),
			r.RMR, r.BytesPerDelivery, connected, r.Components, healed, settled)
	}
	return tw.Flush()
}
