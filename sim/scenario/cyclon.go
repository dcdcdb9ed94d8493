package scenario

import (
	"math/rand/v2"
	"slices"
)

// The HyParView paper measures HyParView against Cyclon, a peer sampling
// service with one larger view, periodic shuffles and no failure detector
// (S1 §5.1; Voulgaris, Gavidia, van Steen, "CYCLON: Inexpensive Membership
// Management for Unstructured P2P Overlays", 2005). This file is that
// baseline, in the papers' cycle model: it is a model for comparison, not
// part of the engine, so it runs here in plain arrays rather than through
// the event simulator.

// The baseline's parameters, as S1 §5.1 sets them for 10,000 nodes.
const (
	cyclonViewSize   = 35 // the size of HyParView's two views together
	cyclonShuffleLen = 14
	cyclonWalkTTL    = 5 // the length of the join's random walks
	cyclonFanout     = 4 // the gossip targets of each node (log10(10,000))
)

// cyclonEntry is one neighbour in a Cyclon view, with its age in cycles.
type cyclonEntry struct {
	id  int32
	age int32
}

// cyclonNet is a Cyclon overlay of simulated nodes.
type cyclonNet struct {
	views [][]cyclonEntry
	alive []bool
	src   *rand.PCG // rng's source, kept for clone
	rng   *rand.Rand
	stamp []int32 // stamp[n] == k: node n received broadcast k
	sent  int32   // broadcasts so far
	queue []int32 // scratch: nodes to forward from
	idx   []int   // scratch: view positions to draw from
}

// draw returns k distinct random positions in [0, n) (all of them if
// k >= n), in a random order; the slice is scratch space.
func (c *cyclonNet) draw(n, k int) []int {
	c.idx = c.idx[:0]
	for i := 0; i < n; i++ {
		c.idx = append(c.idx, i)
	}
	k = min(k, n)
	for i := 0; i < k; i++ {
		j := i + c.rng.IntN(n-i)
		c.idx[i], c.idx[j] = c.idx[j], c.idx[i]
	}
	return c.idx[:k]
}

// newCyclonNet joins n nodes one by one through node 0, as S1 §5.1 does:
// the contact starts viewSize random walks of length walkTTL, and the node
// where each walk ends swaps one of its entries for the newcomer, which
// takes the entry it gave up (the CYCLON paper's join).
func newCyclonNet(n int, seed uint64) *cyclonNet {
	src := rand.NewPCG(seed, 0xc1c1)
	c := &cyclonNet{
		views: make([][]cyclonEntry, n),
		alive: make([]bool, n),
		src:   src,
		rng:   rand.New(src),
		stamp: make([]int32, n),
	}
	for i := range c.alive {
		c.alive[i] = true
	}
	for joiner := 1; joiner < n; joiner++ {
		c.join(int32(joiner))
	}
	return c
}

func (c *cyclonNet) join(joiner int32) {
	for walk := 0; walk < cyclonViewSize; walk++ {
		at := int32(0)
		for hop := 0; hop < cyclonWalkTTL && len(c.views[at]) > 0; hop++ {
			at = c.views[at][c.rng.IntN(len(c.views[at]))].id
		}
		if at == joiner || c.has(at, joiner) {
			continue
		}
		view := c.views[at]
		if len(view) < cyclonViewSize {
			// A node with room keeps the newcomer and gives itself.
			c.views[at] = append(view, cyclonEntry{id: joiner})
			c.add(joiner, cyclonEntry{id: at})
			continue
		}
		i := c.rng.IntN(len(view))
		given := view[i]
		view[i] = cyclonEntry{id: joiner}
		if given.id != joiner {
			c.add(joiner, given)
		}
	}
}

func (c *cyclonNet) has(n, id int32) bool {
	return slices.ContainsFunc(c.views[n], func(e cyclonEntry) bool { return e.id == id })
}

func (c *cyclonNet) add(n int32, e cyclonEntry) {
	if len(c.views[n]) < cyclonViewSize && !c.has(n, e.id) {
		c.views[n] = append(c.views[n], e)
	}
}

// cycle runs one shuffle on every live node, in a random order.
func (c *cyclonNet) cycle() {
	for _, p := range c.rng.Perm(len(c.views)) {
		if c.alive[p] && len(c.views[p]) > 0 {
			c.shuffle(int32(p))
		}
	}
}

// shuffle is one Cyclon exchange started by p (the CYCLON paper, §2.2):
// p ages its entries and picks the oldest, q; it drops q and sends q a
// fresh entry of itself with shuffleLen-1 random others. A live q answers
// with shuffleLen random entries of its own; each side keeps what it
// received, first in free slots, then in place of the entries it sent. A
// dead q never answers, so its entry is simply gone: this is how Cyclon
// forgets failed nodes, one shuffle at a time.
func (c *cyclonNet) shuffle(p int32) {
	view := c.views[p]
	oldest := 0
	for i := range view {
		view[i].age++
		if view[i].age > view[oldest].age {
			oldest = i
		}
	}
	q := view[oldest].id
	view = slices.Delete(view, oldest, oldest+1)
	c.views[p] = view
	sent := c.sample(p, cyclonShuffleLen-1)
	if !c.alive[q] {
		return
	}
	reply := c.sample(q, cyclonShuffleLen)
	c.merge(q, p, append(sent, cyclonEntry{id: p}), reply)
	c.merge(p, q, reply, sent)
}

// sample returns up to k random entries of n's view.
func (c *cyclonNet) sample(n int32, k int) []cyclonEntry {
	view := c.views[n]
	out := make([]cyclonEntry, 0, k)
	for _, i := range c.draw(len(view), k) {
		out = append(out, view[i])
	}
	return out
}

// merge adds the entries n received from peer into n's view: none naming
// n itself or already held; free slots first, then the slots of the
// entries n sent to peer.
func (c *cyclonNet) merge(n, peer int32, received, sent []cyclonEntry) {
	for _, e := range received {
		if e.id == n || c.has(n, e.id) {
			continue
		}
		if len(c.views[n]) < cyclonViewSize {
			c.views[n] = append(c.views[n], e)
			continue
		}
		for len(sent) > 0 {
			i := slices.IndexFunc(c.views[n], func(x cyclonEntry) bool { return x.id == sent[0].id })
			sent = sent[1:]
			if i >= 0 {
				c.views[n][i] = e
				break
			}
		}
	}
}

// broadcast gossips one message from origin: every node that receives it
// for the first time forwards it to fanout random entries of its view
// other than the sender. Messages to failed nodes are lost: plain Cyclon
// has no failure detector. It returns the number of nodes that delivered
// it.
func (c *cyclonNet) broadcast(origin int32) int {
	c.sent++
	c.stamp[origin] = c.sent
	delivered := 1
	c.queue = append(c.queue[:0], origin, -1)
	for i := 0; i < len(c.queue); i += 2 {
		n, from := c.queue[i], c.queue[i+1]
		view := c.views[n]
		// One more than the fanout, so that skipping the sender still
		// leaves fanout targets.
		picked := 0
		for _, j := range c.draw(len(view), cyclonFanout+1) {
			to := view[j].id
			if to == from || picked == cyclonFanout {
				continue
			}
			picked++
			if c.alive[to] && c.stamp[to] != c.sent {
				c.stamp[to] = c.sent
				delivered++
				c.queue = append(c.queue, to, n)
			}
		}
	}
	return delivered
}

// liveNodes lists the live nodes in index order.
func (c *cyclonNet) liveNodes() []int32 {
	var out []int32
	for i, a := range c.alive {
		if a {
			out = append(out, int32(i))
		}
	}
	return out
}

// crashFraction fails the given share of the live nodes at random.
func (c *cyclonNet) crashFraction(f float64) int {
	live := c.liveNodes()
	k := int(f*float64(len(live)) + 0.5)
	for _, i := range c.rng.Perm(len(live))[:k] {
		c.alive[live[i]] = false
	}
	return k
}

// broadcasts sends k broadcasts from random live nodes and returns their
// reliabilities.
func (c *cyclonNet) broadcasts(k int) []float64 {
	live := c.liveNodes()
	out := make([]float64, k)
	for i := range out {
		out[i] = float64(c.broadcast(live[c.rng.IntN(len(live))])) / float64(len(live))
	}
	return out
}

// clone returns an independent copy of the overlay.
func (c *cyclonNet) clone() *cyclonNet {
	d := *c
	d.views = make([][]cyclonEntry, len(c.views))
	for i, v := range c.views {
		d.views[i] = slices.Clone(v)
	}
	d.alive = slices.Clone(c.alive)
	src := *c.src
	d.src = &src
	d.rng = rand.New(d.src)
	d.stamp = slices.Clone(c.stamp)
	d.queue, d.idx = nil, nil
	return &d
}

// RunCyclonFailure runs the massive-failure experiment of RunFailure on
// the Cyclon baseline: the same joins through one contact, the same
// stabilisation cycles, failure rates, messages and healing measure.
func RunCyclonFailure(o FailureOptions) ([]FailureRow, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.Progress.Start("cyclon baseline: joining and stabilising", 1)
	base := newCyclonNet(o.Nodes, o.Seed)
	for i := 0; i < o.Cycles; i++ {
		base.cycle()
	}
	o.Progress.Done()
	before := mean(base.broadcasts(o.PerCycle))
	rows := make([]FailureRow, len(o.Rates))
	err := forEachWeighted(o.jobWeights(), "cyclon baseline", o.Progress, func(j int, _ func(float64)) error {
		rate, row, c := o.Rates[j/2], &rows[j/2], base.clone()
		if j%2 == 1 {
			row.HealingCycles = -1
			c.crashFraction(rate)
			for cycle := 0; cycle <= o.MaxHealingCycles; cycle++ {
				if cycle > 0 {
					c.cycle()
				}
				m := mean(c.broadcasts(o.PerCycle))
				row.Healing = append(row.Healing, m)
				if m >= before {
					row.HealingCycles = cycle
					break
				}
			}
			return nil
		}
		row.Rate, row.Before = rate, before
		row.Crashed = c.crashFraction(rate)
		row.Series = c.broadcasts(o.Messages)
		row.Mean = mean(row.Series)
		row.First = row.Series[:min(o.FirstMessages, len(row.Series))]
		return nil
	})
	return rows, err
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
