package gossip

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

// GapsConfig turns on gap detection (Config.Gaps): the engine tells its
// driver of every application broadcast it missed for good, as a Gap in
// Ready.Gaps, so that no loss is silent.
//
// Plumtree repairs what a node misses only while some node still holds the
// payload (PayloadRetention): IHAVE and GRAFT (S2 §3.5), and the recent
// broadcasts announced to a neighbour that comes up
// (NeighborUpAnnouncements), which is how a healed partition is repaired.
// A broadcast missed for longer, during a long partition say, is lost. Under
// the IDOriginSequence policy the IDs of one origin are consecutive within
// one run of it, so a receiver sees the holes: the detector follows each
// origin's next expected sequence from the deliveries alone.
//
//   - The first delivery from an origin sets its base: what the origin
//     broadcast before we first heard from it is not reported (we may have
//     joined after it).
//   - A delivery beyond the next expected sequence opens a hole [next,
//     seq-1]; deliveries into a hole shrink, split or close it (a payload
//     that overtook another on a faster path opens a hole that closes
//     within a repair delay).
//   - A hole still open Grace after it opened is reported as a Gap at the
//     engine's gap timer, once, and forgotten.
//   - A restarted origin starts a new run at a sequence far above the old
//     one (the runtime seeds Plumtree.FirstSequence from the wall clock).
//     Every application envelope carries its run's first sequence
//     (Envelope.Run, covered by the origin's signature), so a receiver tells
//     a restart from a loss: the skipped range between two runs is no gap,
//     but the first broadcasts of the new run that it missed are, and so
//     are those of the old run that a late copy of a later one skips.
//   - A hole shows when a later broadcast of the same run arrives, or when
//     a neighbour hands over the origin's signed head, its latest
//     broadcast (heads.go): the last broadcasts of an origin that then
//     stops, crashes or restarts.
//   - A jump of more than MaxJump in one run is taken for a new run of an
//     origin whose envelopes carry no run (a node of an earlier version),
//     or a sequence it skipped on purpose: the base is reset without a gap
//     and counted (EngineCounters.GapResets). It also bounds the count of
//     any one hole that a member could claim.
//
// Only deliveries feed the detector: with signatures on (MembersConfig.Auth)
// every application broadcast is verified before delivery, so a forged or
// unsigned broadcast never opens a hole; without them every member is
// trusted by configuration. Every collection is bounded: at most MaxOrigins
// origins are followed (a new one evicts the one heard from least recently,
// whose open holes are reported at once), and at most MaxHoles holes per
// origin (a further one reports the oldest at once). A hole costs two
// sequence numbers and a deadline whatever its count, so a huge claimed
// sequence allocates nothing.
//
// Member records travel under content-hash IDs and are repaired by
// anti-entropy (Digest, Records); they have no sequence and no detector.
// Under the IDContentHash policy there are no sequences either, and
// Config.Gaps has no effect.
type GapsConfig struct {
	// Grace is how long a hole may stay open before it is reported. It must
	// outlast every repair that could still fill it: the missing broadcast
	// is older than the one that opened the hole, so every copy of it
	// delivered before the hole opened is dropped from every node's cache
	// within PayloadRetention; the slack covers a GRAFT round and the
	// rejoin tick of a healed partition for copies repaired just before.
	// Zero means Plumtree's PayloadRetention plus DefaultGapSlack; it must
	// not be negative. A shorter grace reports holes that repair would
	// still fill (the broadcast is then delivered after its gap notice).
	Grace time.Duration
	// MaxOrigins bounds the origins followed. Zero means
	// DefaultGapMaxOrigins.
	MaxOrigins int
	// MaxHoles bounds the open holes of one origin. Zero means
	// DefaultGapMaxHoles.
	MaxHoles int
	// MaxJump bounds the sequences one delivery may skip within a run
	// before it is taken for a new run. Zero means DefaultGapMaxJump.
	MaxJump uint64
}

// Defaults of gap detection.
const (
	// DefaultGapSlack is added to PayloadRetention for GapsConfig.Grace:
	// 10 s, a guess above a GRAFT round (timeout1 plus a few timeout2, S2
	// §3.5) and the DefaultRejoinInterval of 3 s that heals a partition.
	DefaultGapSlack = 10 * time.Second
	// DefaultGapMaxOrigins is GapsConfig.MaxOrigins's default: 4096 origins
	// at about 100 bytes each, 400 KiB. A cluster with more members that
	// all broadcast follows the 4096 heard from most recently.
	DefaultGapMaxOrigins = 4096
	// DefaultGapMaxHoles is GapsConfig.MaxHoles's default: 16 holes per
	// origin. Reordering opens holes that close within a repair delay;
	// more than 16 still open from one origin is a loss pattern that a
	// notice should report anyway.
	DefaultGapMaxHoles = 16
	// DefaultGapMaxJump is GapsConfig.MaxJump's default: 2^24 (16.7
	// million), what one origin would broadcast in a default grace of 40 s
	// at 400,000 broadcasts a second, far above the rate of one node. A
	// restart seeded from the wall clock in nanoseconds jumps by more after
	// 17 ms.
	DefaultGapMaxJump = 1 << 24
	// gapMinRearmDivisor spaces the gap timer at least Grace/10 apart, so
	// holes that open in a stream one after another are swept together.
	gapMinRearmDivisor = 10
)

// Validate reports an impossible setting.
func (c *GapsConfig) Validate() error {
	if c.Grace < 0 || c.MaxOrigins < 0 || c.MaxHoles < 0 {
		return fmt.Errorf("gossip: negative gap setting (grace %v, origins %d, holes %d)", c.Grace, c.MaxOrigins, c.MaxHoles)
	}
	return nil
}

// Gap is a notice of broadcasts missed for good: the application
// broadcasts of Origin with sequences First to Last (Count of them) were
// never delivered here and can no longer be repaired. It has no topic: the
// missed payloads, topics included, are unknown.
type Gap struct {
	Origin      peer.ID
	First, Last uint64
	Count       uint64 // Last - First + 1
}

// hole is a range of sequences missed so far, open until deadline.
type hole struct {
	first, last uint64
	deadline    time.Time
}

// originGaps is what the detector follows of one origin.
type originGaps struct {
	run   uint64 // the first sequence of the origin's current run, 0 if unknown
	next  uint64 // the next sequence expected
	floor uint64 // below it, outside holes: delivered by an earlier run of this node (marks.go)
	// base is the first sequence of the current run delivered here (0
	// for a restored mark): from it up to next, outside holes, every
	// broadcast was delivered or reported, so a copy that comes back
	// after Plumtree forgot its ID (SeenRetention) is a duplicate.
	base uint64
	// prevRun and prevNext are the origin's run before its current one
	// and the next sequence that run expected: its broadcasts may still
	// be announced after the origin restarted (marks.go). prevFloor is
	// prevNext as restored from marks.
	prevRun, prevNext, prevFloor uint64
	// prevBase and prevEnd are what this run of the node delivered of the
	// origin's previous run, from its base up to its next expected when
	// the origin's new run began: a copy of one of them that comes back
	// after Plumtree forgot its ID is a duplicate too (a rolling restart:
	// each new process announces what it just received, and the fault lab
	// at 32 agents saw broadcasts delivered twice 90 s apart, the origin
	// having restarted in between).
	prevBase, prevEnd uint64
	lastSeen          time.Time
	holes             []hole      // sorted by first, disjoint, at most maxHoles
	heads             originHeads // the latest broadcasts known (heads.go)
}

// gaps is the gap detector: pure, driven by deliveries and by one timer.
type gaps struct {
	grace, minRearm     time.Duration
	maxOrigins, maxHole int
	maxJump             uint64
	origins             map[peer.ID]*originGaps
	own                 originHeads // this node's own head (heads.go)
	armed               bool        // a gap timer is pending
	nonce               uint64      // of the pending gap timer; others are stale
	c                   gapCounters
}

// gapCounters are what the detector counts, copied into EngineCounters.
type gapCounters struct {
	reported, missed, resets, evicted, early, headHoles uint64
}

func newGaps(c GapsConfig, retention time.Duration) *gaps {
	g := &gaps{
		grace:      cmp.Or(c.Grace, retention+DefaultGapSlack),
		maxOrigins: cmp.Or(c.MaxOrigins, DefaultGapMaxOrigins),
		maxHole:    cmp.Or(c.MaxHoles, DefaultGapMaxHoles),
		maxJump:    cmp.Or(c.MaxJump, DefaultGapMaxJump),
		origins:    map[peer.ID]*originGaps{},
	}
	g.minRearm = g.grace / gapMinRearmDivisor
	return g
}

// clone returns an independent copy.
func (g *gaps) clone() *gaps {
	if g == nil {
		return nil
	}
	c := *g
	c.origins = make(map[peer.ID]*originGaps, len(g.origins))
	for id, o := range g.origins {
		oc := *o
		oc.holes = slices.Clone(o.holes)
		c.origins[id] = &oc
	}
	return &c
}

// deliver feeds one delivery of origin's broadcast seq, of the run that
// started at run (0 if the envelope names none). It appends to out the
// gaps reported early (a bound reached) and reports whether a hole opened,
// so that the caller arms the gap timer.
func (g *gaps) deliver(now time.Time, origin peer.ID, seq, run uint64, out []Gap) ([]Gap, bool) {
	c := &g.c
	o := g.origins[origin]
	if o == nil {
		if len(g.origins) >= g.maxOrigins {
			out = g.evict(out)
		}
		g.origins[origin] = &originGaps{run: run, next: seq + 1, base: seq, lastSeen: now}
		return out, false
	}
	o.lastSeen = now
	if run != 0 && run < o.run {
		// A broadcast of an earlier run, announced after the origin
		// restarted: the delivery marks must cover it (marks.go).
		if run > o.prevRun {
			o.prevRun, o.prevNext, o.prevFloor, o.prevBase, o.prevEnd = run, 0, 0, 0, 0
		}
		var opened bool
		if run == o.prevRun {
			if o.prevNext != 0 && seq >= o.prevNext {
				// Beyond what the old run was known to have sent: the
				// broadcasts in between were missed with its end.
				if seq > o.prevNext && seq-o.prevNext <= g.maxJump {
					out, opened = g.openHole(now, origin, o, o.prevNext, seq-1, out)
				}
				if o.prevEnd == o.prevNext && (opened || seq == o.prevNext) {
					o.prevEnd = seq + 1 // still every one delivered, or awaited in a hole
				}
			}
			o.prevNext = max(o.prevNext, seq+1)
		}
		g.fill(o, seq) // it may close a hole the old run left
		return out, opened
	}
	start := o.next
	if run > o.run {
		// A new run: the sequences between the runs were never used.
		start = max(run, o.next)
		g.newRun(o, run, start)
		if seq < start {
			o.next, o.base = seq+1, seq // the origin's clock went back: follow the new run
			return out, false
		}
	}
	switch {
	case seq < start:
		g.fill(o, seq)
		return out, false
	case seq == start:
		o.next = seq + 1
		return out, false
	case seq-start > g.maxJump:
		c.resets++
		o.next, o.base = seq+1, seq
		return out, false
	}
	if len(o.holes) >= g.maxHole {
		out = g.report(origin, o.holes[0], out)
		c.early++
		o.holes = slices.Delete(o.holes, 0, 1)
	}
	o.holes = append(o.holes, hole{first: start, last: seq - 1, deadline: now.Add(g.grace)})
	o.next = seq + 1
	return out, true
}

// fill removes seq from the hole that holds it, if any: a late delivery.
func (g *gaps) fill(o *originGaps, seq uint64) {
	i, found := slices.BinarySearchFunc(o.holes, seq, func(h hole, s uint64) int { return cmp.Compare(h.first, s) })
	if !found {
		i-- // the hole that starts below seq, if any
	}
	if i < 0 || seq > o.holes[i].last {
		return // not missing: before the base, reported already, or a copy seen again
	}
	h := &o.holes[i]
	switch {
	case h.first == h.last:
		o.holes = slices.Delete(o.holes, i, i+1)
	case seq == h.first:
		h.first++
	case seq == h.last:
		h.last--
	default:
		// A split: one more hole. At the bound, the two halves stay one
		// hole (the delivered sequence is then counted in its report,
		// never a miss left unreported).
		if len(o.holes) >= g.maxHole {
			return
		}
		upper := hole{first: seq + 1, last: h.last, deadline: h.deadline}
		h.last = seq - 1
		o.holes = slices.Insert(o.holes, i+1, upper)
	}
}

// evict forgets the origin heard from least recently (the lowest ID among
// equals), reporting its open holes at once.
func (g *gaps) evict(out []Gap) []Gap {
	c := &g.c
	var victim peer.ID
	var vo *originGaps
	for id, o := range g.origins {
		if vo == nil || o.lastSeen.Before(vo.lastSeen) || (o.lastSeen.Equal(vo.lastSeen) && id < victim) {
			victim, vo = id, o
		}
	}
	if vo == nil {
		return out
	}
	c.evicted++
	for _, h := range vo.holes {
		out = g.report(victim, h, out)
		c.early++
	}
	delete(g.origins, victim)
	return out
}

// sweep reports every hole whose deadline has passed, in the order of
// origin and sequence, and returns when the gap timer should fire next
// (zero when no hole is open).
func (g *gaps) sweep(now time.Time, out []Gap) ([]Gap, time.Duration) {
	ids := make([]peer.ID, 0, len(g.origins))
	for id, o := range g.origins {
		if len(o.holes) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var next time.Time
	for _, id := range ids {
		o := g.origins[id]
		kept := o.holes[:0]
		for _, h := range o.holes {
			if !h.deadline.After(now) {
				out = g.report(id, h, out)
				continue
			}
			kept = append(kept, h)
			if next.IsZero() || h.deadline.Before(next) {
				next = h.deadline
			}
		}
		clear(o.holes[len(kept):])
		o.holes = kept
	}
	if next.IsZero() {
		return out, 0
	}
	return out, max(next.Sub(now), g.minRearm)
}

func (g *gaps) report(origin peer.ID, h hole, out []Gap) []Gap {
	n := h.last - h.first + 1
	g.c.reported++
	g.c.missed += n
	return append(out, Gap{Origin: origin, First: h.first, Last: h.last, Count: n})
}

// open returns the open holes of every origin, for tests and invariants.
func (g *gaps) open() int {
	n := 0
	for _, o := range g.origins {
		n += len(o.holes)
	}
	return n
}

// noteDelivery feeds an application broadcast delivered here, of the run
// the envelope names, to the gap detector (Config.Gaps), and arms the gap
// timer when a hole opens.
func (e *Engine) noteDelivery(now time.Time, d *Delivery, run uint64, out *Ready) {
	origin, seq := originSequence(d.ID)
	if e.gaps == nil || origin == e.pt.Self() {
		return
	}
	var opened bool
	out.Gaps, opened = e.gaps.deliver(now, origin, seq, run, out.Gaps)
	if opened && !e.gaps.armed {
		e.armGaps(e.gaps.grace, out)
	}
}

// armGaps sets the gap timer; a gap timer of an earlier nonce is stale.
func (e *Engine) armGaps(after time.Duration, out *Ready) {
	e.gaps.armed = true
	e.gaps.nonce++
	e.setTimer(Timer{kind: TimerGaps, b: e.gaps.nonce}, after, out)
}

// gapTimer reports the holes whose grace has run out (Ready.Gaps) and
// sets the timer again while holes are open.
func (e *Engine) gapTimer(now time.Time, t Timer, out *Ready) {
	if e.gaps == nil || !e.gaps.armed || t.b != e.gaps.nonce {
		return // stale, or fired twice
	}
	e.gaps.armed = false
	var next time.Duration
	out.Gaps, next = e.gaps.sweep(now, out.Gaps)
	if next > 0 {
		e.armGaps(next, out)
	}
}

// originSequence splits an IDOriginSequence ID.
func originSequence(id plumtree.MessageID) (peer.ID, uint64) {
	return peer.ID(binary.BigEndian.Uint64(id[:8])), binary.BigEndian.Uint64(id[8:])
}
