package membership

import (
	"container/heap"
	"time"

	"github.com/plumview/plumview/gossip"
)

// scheduled is one pending timer of the engine.
type scheduled struct {
	at    time.Time
	seq   uint64
	timer gossip.Timer
	after time.Duration // the period it was set for
}

// timerHeap orders timers by (at, seq), so timers due at the same instant
// fire in the order they were set.
type timerHeap []scheduled

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(scheduled)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// scheduler is the state goroutine's only timer: a min-heap of pending
// timers and one time.Timer armed for the earliest.
type scheduler struct {
	h     timerHeap
	seq   uint64
	timer *time.Timer
	armed time.Time // when timer fires; zero if stopped
}

func newScheduler() *scheduler {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &scheduler{timer: t}
}

// add schedules s.
func (s *scheduler) add(e scheduled) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.h, e)
	s.rearm()
}

// due pops every timer due at now.
func (s *scheduler) due(now time.Time, dst []scheduled) []scheduled {
	for len(s.h) > 0 && !s.h[0].at.After(now) {
		dst = append(dst, heap.Pop(&s.h).(scheduled))
	}
	s.armed = time.Time{}
	s.rearm()
	return dst
}

// rearm points the time.Timer at the earliest pending timer.
func (s *scheduler) rearm() {
	if len(s.h) == 0 {
		return
	}
	next := s.h[0].at
	if !s.armed.IsZero() && !next.Before(s.armed) {
		return
	}
	s.timer.Stop()
	s.timer.Reset(max(time.Until(next), 0))
	s.armed = next
}

func (s *scheduler) stop() { s.timer.Stop() }
