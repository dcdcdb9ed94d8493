package gossip

import (
	"cmp"
	"slices"
	"time"

	"github.com/plumview/plumview/peer"
)

// Delivery marks: exactly once across a restart of this node. A node that
// restarts forgets which broadcasts it delivered, and its new neighbours
// announce their recent ones (NeighborUpAnnouncements), so it would
// deliver again, to an application that outlived it (a sidecar's), what
// it delivered before it stopped. The gap detector (GapsConfig) already
// follows, per origin, the next sequence expected and the holes below it:
// a driver that keeps these marks across the restart (DeliveryMarks
// before it stops, RestoreDeliveryMarks after it starts again) has every
// broadcast below an origin's mark that is not in one of its holes taken
// for one delivered before, and not delivered again (counted in
// EngineCounters.RedeliveriesSuppressed). Marks saved some time before a
// crash cover what was delivered until then: what came after may be
// delivered again (at least once); marks saved at a graceful stop cover
// everything (exactly once).

// DeliveryMark is what the gap detector knows of one origin's broadcasts
// delivered here: every sequence of the run that started at Run and below
// Next was delivered, or reported missed, except those in Holes, which
// are still awaited; so was every sequence of the origin's previous run,
// PrevRun, below PrevNext (a rolling restart of the cluster: the origin
// restarted shortly before this node, and its previous run's broadcasts
// are still being announced).
type DeliveryMark struct {
	Origin            peer.ID
	Run               uint64
	Next              uint64
	PrevRun, PrevNext uint64      `json:",omitempty"`
	Holes             [][2]uint64 // first and last of each hole, sorted
}

// MaxDeliveryMarks bounds the marks RestoreDeliveryMarks takes (the
// detector's own bound, GapsConfig.MaxOrigins, applies too).
const MaxDeliveryMarks = 1 << 16

// DeliveryMarks returns the gap detector's marks, sorted by origin; nil
// without gap detection.
func (e *Engine) DeliveryMarks() []DeliveryMark {
	if e.gaps == nil {
		return nil
	}
	marks := make([]DeliveryMark, 0, len(e.gaps.origins))
	for id, o := range e.gaps.origins {
		m := DeliveryMark{Origin: id, Run: o.run, Next: o.next, PrevRun: o.prevRun, PrevNext: o.prevNext}
		for _, h := range o.holes {
			m.Holes = append(m.Holes, [2]uint64{h.first, h.last})
		}
		marks = append(marks, m)
	}
	slices.SortFunc(marks, func(a, b DeliveryMark) int { return cmp.Compare(a.Origin, b.Origin) })
	return marks
}

// RestoreDeliveryMarks hands over marks an earlier run of this node saved
// (DeliveryMarks), before the node joins. Marks of this node itself, with
// no sequence, or beyond the detector's bounds are ignored; holes that do
// not lie below their mark, or overlap, are dropped (a saved file is
// local, but a damaged one must not make the detector misbehave). It
// does nothing without gap detection.
func (e *Engine) RestoreDeliveryMarks(now time.Time, marks []DeliveryMark) {
	g := e.gaps
	if g == nil {
		return
	}
	for i, m := range marks {
		if i >= MaxDeliveryMarks || len(g.origins) >= g.maxOrigins {
			return
		}
		if m.Origin == 0 || m.Origin == e.pt.Self() || m.Next == 0 {
			continue
		}
		o := &originGaps{run: m.Run, next: m.Next, floor: m.Next, lastSeen: now}
		if m.PrevRun != 0 && m.PrevRun < m.Run {
			o.prevRun, o.prevNext, o.prevFloor = m.PrevRun, m.PrevNext, m.PrevNext
		}
		last := uint64(0)
		for _, h := range m.Holes {
			if len(o.holes) >= g.maxHole || h[0] > h[1] || h[1] >= m.Next || (len(o.holes) > 0 && h[0] <= last) {
				continue
			}
			o.holes = append(o.holes, hole{first: h[0], last: h[1], deadline: now.Add(g.grace)})
			last = h[1]
		}
		g.origins[m.Origin] = o
	}
}

// redelivery reports whether a broadcast of origin with sequence seq, of
// the origin's run, was delivered before, by an earlier run of this node
// (below a restored mark of that run, the origin's current or previous
// one) or by this one (between the first delivered and the next expected,
// of the current run or, as they stood when it ended, of the previous:
// a copy that came back after Plumtree's SeenRetention, which a chain of
// restarts and joins, each announcing what it just received, can keep
// alive), and is in none of its holes.
func (g *gaps) redelivery(origin peer.ID, seq, run uint64) bool {
	o := g.origins[origin]
	if o == nil {
		return false
	}
	for _, h := range o.holes {
		if seq >= h.first && seq <= h.last {
			return false
		}
	}
	switch {
	case run == 0 || o.run == 0 || run == o.run:
		return seq < o.floor || (seq >= o.base && seq < o.next)
	case run == o.prevRun:
		return seq < o.prevFloor || (seq >= o.prevBase && seq < o.prevEnd)
	}
	return false
}
