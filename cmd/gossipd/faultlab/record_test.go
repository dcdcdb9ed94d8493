package faultlab

import (
	"fmt"
	"strings"
	"sync"
	"time"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// procKey names one process of one agent: a restarted agent has several.
type procKey struct{ agent, proc int }

// delivery is one message a subscriber received.
type delivery struct {
	procKey
	key string // the payload: "origin:counter"
	at  time.Time
}

// memberEvent is one event a member watcher received.
type memberEvent struct {
	procKey
	kind   gossipdv1.MemberEventKind
	member string // member ID
	at     time.Time
}

// bcast is one broadcast the driver asked an agent for.
type bcast struct {
	origin, proc int
	key          string
	sent         time.Time
	err          error // nil: accepted
}

// recorder keeps everything the lab's streams and driver saw.
type recorder struct {
	mu         sync.Mutex
	deliveries []delivery
	// missed counts what each subscriber was told it missed, by origin
	// member ID; "" when the notice does not name the origin (a lag
	// notice).
	missed       map[procKey]map[string]uint64
	events       []memberEvent
	eventsLagged uint64
	bcasts       []bcast
	problems     []string // unexpected exits, stream errors and the like
}

func newRecorder() *recorder { return &recorder{missed: map[procKey]map[string]uint64{}} }

func (r *recorder) deliver(k procKey, key string) {
	r.mu.Lock()
	r.deliveries = append(r.deliveries, delivery{procKey: k, key: key, at: time.Now()})
	r.mu.Unlock()
}

func (r *recorder) miss(k procKey, origin string, n uint64) {
	r.mu.Lock()
	if r.missed[k] == nil {
		r.missed[k] = map[string]uint64{}
	}
	r.missed[k][origin] += n
	r.mu.Unlock()
}

func (r *recorder) event(k procKey, kind gossipdv1.MemberEventKind, member string) {
	r.mu.Lock()
	r.events = append(r.events, memberEvent{procKey: k, kind: kind, member: member, at: time.Now()})
	r.mu.Unlock()
}

func (r *recorder) lagEvents(n uint64) {
	r.mu.Lock()
	r.eventsLagged += n
	r.mu.Unlock()
}

func (r *recorder) broadcast(b bcast) {
	r.mu.Lock()
	r.bcasts = append(r.bcasts, b)
	r.mu.Unlock()
}

func (r *recorder) problem(s string) {
	r.mu.Lock()
	r.problems = append(r.problems, s)
	r.mu.Unlock()
}

// missedOf reads a subscriber's notice of missed messages: the origin it
// names ("" if none) and how many. Lag notices name no origin; a gap
// notice (broadcasts missed for good) names it, and the oracle matches its
// count against that origin's messages.
func missedOf(resp *gossipdv1.SubscribeResponse) (origin string, n uint64, ok bool) {
	if l := resp.GetLagged(); l != nil {
		return "", l.GetMissed(), true
	}
	if g := resp.GetGap(); g != nil {
		return g.GetOrigin(), g.GetCount(), true
	}
	return "", 0, false
}

// span is a stretch of time when agent a was down or paused (b < 0), or
// when agents a and b could not reach each other (b >= 0); to is zero
// while the span lasts.
type span struct {
	a, b     int
	from, to time.Time
}

// history is the timeline of the faults the scenario injected, against
// which the oracle judges every failure event.
type history struct {
	mu    sync.Mutex
	spans []span
}

func (h *history) open(a, b int, at time.Time) {
	h.mu.Lock()
	h.spans = append(h.spans, span{a: a, b: b, from: at})
	h.mu.Unlock()
}

// close ends the open spans that match: agent a's down span (b < 0), or
// every cut (a < 0).
func (h *history) close(a, b int, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.spans {
		s := &h.spans[i]
		if !s.to.IsZero() {
			continue
		}
		if (a < 0 && s.b >= 0) || (a >= 0 && s.a == a && s.b == b) {
			s.to = at
		}
	}
}

func (h *history) down(a int, at time.Time) { h.open(a, -1, at) }
func (h *history) up(a int, at time.Time)   { h.close(a, -1, at) }
func (h *history) cut(a, b int, at time.Time) {
	h.open(min(a, b), max(a, b), at)
}
func (h *history) healCuts(at time.Time) { h.close(-1, 0, at) }

// unreachable reports whether, at some time in [from, to], observer o or
// member m was down or paused, or the two were cut from each other.
func (h *history) unreachable(o, m int, from, to time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.spans {
		if s.from.After(to) || (!s.to.IsZero() && s.to.Before(from)) {
			continue
		}
		if s.b < 0 && (s.a == o || s.a == m) {
			return true
		}
		if s.b >= 0 && s.a == min(o, m) && s.b == max(o, m) {
			return true
		}
	}
	return false
}

// timeline says, for each target agent, when the observers' watchers
// first reported it suspect, first failed and last failed, in seconds
// after since: where a detection time goes.
func (c *cluster) timeline(since time.Time, targets []int) string {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	var b strings.Builder
	for _, t := range targets {
		id := c.agents[t].id
		var suspect, firstFail, lastFail time.Duration
		for _, e := range c.rec.events {
			if e.member != id || e.at.Before(since) || e.agent == t {
				continue
			}
			d := e.at.Sub(since)
			switch e.kind {
			case gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_SUSPECT:
				if suspect == 0 {
					suspect = d
				}
			case gossipdv1.MemberEventKind_MEMBER_EVENT_KIND_FAIL:
				if firstFail == 0 {
					firstFail = d
				}
				lastFail = d
			}
		}
		fmt.Fprintf(&b, "%d: suspect %.1fs, failed %.1f–%.1fs; ", t, suspect.Seconds(), firstFail.Seconds(), lastFail.Seconds())
	}
	return b.String()
}
