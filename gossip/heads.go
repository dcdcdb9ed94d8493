package gossip

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

// Heads: the tail of an origin's broadcasts. The gap detector (gaps.go)
// sees a hole only when a later broadcast of the same origin arrives, so
// the last broadcasts of an origin that then stops, crashes, leaves or
// restarts would be missed silently by a node that was cut off while
// they spread. Every application envelope therefore carries a second
// signature of its origin, over its ID and run alone (Envelope.HeadSig),
// small enough to travel without the payload: the latest one a node
// delivered from each origin is that origin's head, a signed statement
// "origin broadcast up to this sequence in this run". Neighbours exchange
// heads when a link comes up (the link that heals a partition) and with
// each periodic anti-entropy exchange, and a node that learns a head
// newer than what it delivered forwards it to its other neighbours, once
// (it forwards only what advanced its own state). A head beyond the next
// sequence expected opens a hole up to and including its sequence, with
// the same grace as any other: repair may still fill it, else it is
// reported as a Gap. The previous run's head is kept as well, so that the
// last broadcasts of a run that ended with a restart are seen too.
//
// A head is a claim about its origin, valid only with the origin's
// signature when signatures are on; each verification is charged to the
// sending neighbour's BudgetRecords, and a forged head to its
// BudgetForged. Only heads that would advance this node's state are
// verified, so the exchanges of a quiet cluster verify nothing.

// Head is the latest application broadcast of an origin known to a node:
// the origin's broadcast Seq of the run that started at Run, with the
// origin's key and its signature over the two (SignedHeadBytes), when
// signatures are on.
type Head struct {
	Origin   peer.ID
	Run, Seq uint64
	Key, Sig []byte
}

// Heads carries heads to a neighbour.
type Heads struct {
	peer.Sealed
	Heads []Head
}

// TagHeads is the extension tag of Heads in the wire codec.
const TagHeads byte = 69

// MaxHeadsPerMessage bounds the heads of one Heads message: 256 heads of
// at most 64 bytes of key and 128 of signature stay under 64 KiB.
const MaxHeadsPerMessage = 256

// maxHeadsSent bounds the heads sent to a neighbour at once, the most
// recently advanced first: a cluster with more origins than that, all of
// which broadcast, relies on their later broadcasts to show holes.
const maxHeadsSent = 4 * MaxHeadsPerMessage

// Validate bounds the message: its length, each head's key and signature,
// and sequences that a run could hold.
func (m *Heads) Validate() error {
	if len(m.Heads) > MaxHeadsPerMessage {
		return fmt.Errorf("heads message of %d heads exceeds %d", len(m.Heads), MaxHeadsPerMessage)
	}
	for i := range m.Heads {
		h := &m.Heads[i]
		if h.Origin == 0 || h.Run == 0 || h.Seq < h.Run || len(h.Key) > MaxOriginKeyBytes || len(h.Sig) > MaxOriginSigBytes {
			return fmt.Errorf("head %d: origin %v, run %d, sequence %d, key of %d bytes, signature of %d", i, h.Origin, h.Run, h.Seq, len(h.Key), len(h.Sig))
		}
	}
	return nil
}

// SignedHeadBytes returns the bytes an origin signs as the head of its
// broadcast id of the run that started at run (Envelope.HeadSig): a
// domain tag of its own, the message ID and the run (8 bytes,
// big-endian).
func SignedHeadBytes(id plumtree.MessageID, run uint64) []byte {
	b := make([]byte, 0, len(headDomain)+len(id)+8)
	b = append(b, headDomain...)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint64(b, run)
}

// headDomain separates head signatures from any other use of a key.
const headDomain = "plumview/head/v1\x00"

// headState is a head as a node holds it.
type headState struct {
	run, seq uint64
	key, sig []byte    // nil when signatures are off, or the origin signed none
	at       time.Time // when it advanced here
}

// newer reports whether the head (run, seq) is past h.
func (h *headState) newer(run, seq uint64) bool {
	return run > h.run || (run == h.run && seq > h.seq)
}

// originHeads are the heads of one origin: of its current run and of the
// run before, the latter for the tail of a run that ended in a restart.
type originHeads struct{ cur, prev headState }

// note keeps h if it is newer than the head of its run; it reports
// whether it did.
func (o *originHeads) note(h headState) bool {
	switch {
	case h.run > o.cur.run:
		if o.cur.run != 0 {
			o.prev = o.cur
		}
		o.cur = h
	case h.run == o.cur.run && h.seq > o.cur.seq:
		o.cur = h
	case h.run < o.cur.run && o.prev.newer(h.run, h.seq):
		o.prev = h
	default:
		return false
	}
	return true
}

// wouldAdvance reports whether the head (run, seq) of origin is newer
// than what this node holds of a followed origin: the heads worth
// verifying.
func (g *gaps) wouldAdvance(origin peer.ID, run, seq uint64) bool {
	o := g.origins[origin]
	if o == nil {
		return false // never delivered from: what it broadcast before we joined is no gap
	}
	h := &o.heads
	return run >= h.cur.run && h.cur.newer(run, seq) || run < h.cur.run && h.prev.newer(run, seq)
}

// advance applies a head learned from a neighbour, already verified: the
// broadcasts it names that were not delivered here open a hole, up to
// and including its sequence. It reports whether a hole opened (the gap
// timer must be armed) and whether the head was kept (it is forwarded).
func (g *gaps) advance(now time.Time, h Head, out []Gap) ([]Gap, bool, bool) {
	o := g.origins[h.Origin]
	if o == nil || !o.heads.note(headState{run: h.Run, seq: h.Seq, key: h.Key, sig: h.Sig, at: now}) {
		return out, false, false
	}
	o.lastSeen = now
	var opened bool
	switch {
	case h.Run == o.run:
		// The current run: what lies between the next expected and the
		// head was missed so far.
		if h.Seq >= o.next && h.Seq-o.next <= g.maxJump {
			out, opened = g.openHole(now, h.Origin, o, o.next, h.Seq, out)
			o.next = h.Seq + 1
		}
	case h.Run > o.run:
		// A run of the origin this node has delivered nothing from.
		start := max(h.Run, o.next)
		if h.Seq >= start && h.Seq-start <= g.maxJump {
			g.newRun(o, h.Run, start)
			out, opened = g.openHole(now, h.Origin, o, start, h.Seq, out)
			o.next = h.Seq + 1
		}
	case h.Run == o.prevRun && o.prevNext != 0:
		// The tail of the run before, which ended in a restart.
		if h.Seq >= o.prevNext && h.Seq-o.prevNext <= g.maxJump {
			out, opened = g.openHole(now, h.Origin, o, o.prevNext, h.Seq, out)
			if opened && o.prevEnd == o.prevNext {
				o.prevEnd = h.Seq + 1 // every one delivered, or awaited in a hole
			}
			o.prevNext = h.Seq + 1
		}
	}
	if opened {
		g.c.headHoles++
	}
	return out, opened, true
}

// newRun moves origin o's follow to its run that started at run, the
// broadcasts from start on expected next: the current run becomes the
// previous one.
func (g *gaps) newRun(o *originGaps, run, start uint64) {
	o.prevRun, o.prevNext, o.prevFloor, o.floor = o.run, o.next, o.floor, 0
	o.prevBase, o.prevEnd = o.base, o.next
	o.run = run
	o.base = start
}

// openHole opens the hole [first, last] of origin o at its place among
// the others (they are disjoint and sorted); at the bound, the lowest
// hole is reported at once. It reports whether the hole opened.
func (g *gaps) openHole(now time.Time, origin peer.ID, o *originGaps, first, last uint64, out []Gap) ([]Gap, bool) {
	i, _ := slices.BinarySearchFunc(o.holes, first, func(h hole, s uint64) int { return cmp.Compare(h.first, s) })
	if i > 0 && o.holes[i-1].last >= first || i < len(o.holes) && o.holes[i].first <= last {
		return out, false // overlaps one open already: nothing new
	}
	if len(o.holes) >= g.maxHole {
		out = g.report(origin, o.holes[0], out)
		g.c.early++
		o.holes = slices.Delete(o.holes, 0, 1)
		i = max(i-1, 0)
	}
	o.holes = slices.Insert(o.holes, i, hole{first: first, last: last, deadline: now.Add(g.grace)})
	return out, true
}

// noteOwnHead keeps the head of this node's own broadcast id, sent to
// neighbours with the others' (an isolated origin is the only node that
// holds its own).
func (e *Engine) noteOwnHead(now time.Time, id plumtree.MessageID, key, sig []byte) {
	if e.gaps == nil || e.run == 0 {
		return
	}
	_, seq := originSequence(id)
	e.gaps.own.note(headState{run: e.run, seq: seq, key: key, sig: sig, at: now})
}

// noteHead keeps the head of a broadcast delivered here, with the
// signature its envelope carried (nil from an origin of an earlier
// version, or with signatures off: such a head is not sent when they are
// on).
func (e *Engine) noteHead(now time.Time, origin peer.ID, seq uint64, env *Envelope) {
	o := e.gaps.origins[origin]
	if o == nil || env.Run == 0 {
		return
	}
	o.heads.note(headState{run: env.Run, seq: seq, key: env.Key, sig: env.HeadSig, at: now})
}

// sendHeads sends to a neighbour the heads that advanced here since
// since (the zero time: all), this node's own included, the most recent
// first, at most maxHeadsSent.
func (e *Engine) sendHeads(since time.Time, to peer.ID, out *Ready) {
	if e.gaps == nil {
		return
	}
	type dated struct {
		h  Head
		at time.Time
	}
	var all []dated
	add := func(origin peer.ID, s *headState) {
		if s.run == 0 || s.at.Before(since) || (e.auth != nil && len(s.sig) == 0) {
			return
		}
		all = append(all, dated{Head{Origin: origin, Run: s.run, Seq: s.seq, Key: s.key, Sig: s.sig}, s.at})
	}
	add(e.pt.Self(), &e.gaps.own.cur)
	for id, o := range e.gaps.origins {
		add(id, &o.heads.cur)
		add(id, &o.heads.prev)
	}
	slices.SortFunc(all, func(a, b dated) int {
		return cmp.Or(b.at.Compare(a.at), cmp.Compare(a.h.Origin, b.h.Origin), cmp.Compare(a.h.Run, b.h.Run))
	})
	heads := make([]Head, 0, min(len(all), maxHeadsSent))
	for _, d := range all[:min(len(all), maxHeadsSent)] {
		heads = append(heads, d.h)
	}
	sendHeadList(to, heads, out)
}

// sendHeadList sends heads to a neighbour in messages within
// MaxHeadsPerMessage, but not the neighbour's own.
func sendHeadList(to peer.ID, heads []Head, out *Ready) {
	if slices.ContainsFunc(heads, func(h Head) bool { return h.Origin == to }) {
		heads = slices.DeleteFunc(slices.Clone(heads), func(h Head) bool { return h.Origin == to })
	}
	for len(heads) > 0 {
		n := min(len(heads), MaxHeadsPerMessage)
		out.Sends = append(out.Sends, Send{To: hyparview.Peer{ID: to}, Msg: &Heads{Heads: heads[:n:n]}})
		heads = heads[n:]
	}
}

// onHeads applies a neighbour's heads: each that would advance this
// node's state is verified (charged to the neighbour's BudgetRecords),
// applied, and forwarded to the other neighbours.
func (e *Engine) onHeads(now time.Time, from peer.ID, m *Heads, out *Ready) {
	if e.gaps == nil || e.roster.Left() {
		return
	}
	var fwd []Head
	var opened bool
	for _, h := range m.Heads {
		if h.Origin == e.pt.Self() || !e.gaps.wouldAdvance(h.Origin, h.Run, h.Seq) {
			continue
		}
		if e.auth != nil {
			if !e.spend(now, from, BudgetRecords, 1, out) {
				break
			}
			if !e.auth.Verify(h.Origin, h.Key, SignedHeadBytes(plumtree.OriginSequenceID(h.Origin, h.Seq), h.Run), h.Sig) {
				e.count().ForgedHeads++
				if !e.spend(now, from, BudgetForged, 1, out) {
					break
				}
				continue
			}
		}
		var o, kept bool
		out.Gaps, o, kept = e.gaps.advance(now, h, out.Gaps)
		opened = opened || o
		if kept {
			fwd = append(fwd, h)
		}
	}
	if opened && !e.gaps.armed {
		e.armGaps(e.gaps.grace, out)
	}
	if len(fwd) == 0 {
		return
	}
	for i := range e.hv.ActiveLen() {
		if p := e.hv.ActiveAt(i).ID; p != from {
			sendHeadList(p, fwd, out)
		}
	}
}
