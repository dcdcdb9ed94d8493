package scenario

import (
	"fmt"
	"io"
	"time"

	"github.com/plumview/plumview/sim/engine"
)

// Progress writes a progress line for long phases: what is running, how far
// it is, the simulated time, events per second and an estimate of the time
// left. It stays silent for the first second of a phase, so short runs print
// nothing. A nil *Progress does nothing. Progress reads the wall clock; it
// writes only to its own writer (stderr), never to the results.
type Progress struct {
	w      io.Writer
	phase  string
	total  int
	start  time.Time
	last   time.Time
	events uint64 // the event count at the phase's first tick
	based  bool
	shown  bool
}

// NewProgress reports to w (usually os.Stderr).
func NewProgress(w io.Writer) *Progress { return &Progress{w: w} }

// Start begins a phase of total steps.
func (p *Progress) Start(phase string, total int) {
	if p == nil {
		return
	}
	now := time.Now()
	p.phase, p.total, p.start, p.last, p.shown, p.based = phase, total, now, now, false, false
}

// Tick reports that done of the phase's steps are complete.
func (p *Progress) Tick(done int, s *engine.Sim) {
	if p == nil {
		return
	}
	ev := s.Stats().Events
	if !p.based {
		p.events, p.based = ev, true
	}
	now := time.Now()
	if now.Sub(p.start) < time.Second || now.Sub(p.last) < time.Second {
		return
	}
	rate := float64(ev-p.events) / now.Sub(p.start).Seconds()
	eta := time.Duration(float64(now.Sub(p.start)) / float64(done) * float64(p.total-done))
	fmt.Fprintf(p.w, "\r%-24s %7d/%-7d  sim %-12v  %6.2fM events/s  eta %-8v",
		p.phase, done, p.total, s.Now().Truncate(time.Millisecond), rate/1e6, eta.Truncate(time.Second))
	p.last, p.shown = now, true
}

// Done ends the phase, finishing its line if one was shown.
func (p *Progress) Done() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprintf(p.w, "\r%-24s done in %v%40s\n", p.phase, time.Since(p.start).Truncate(time.Millisecond), "")
	p.shown = false
}

// TickJobs reports that done of the phase's independent jobs are complete,
// for phases that run several simulations at once.
func (p *Progress) TickJobs(done int) {
	if p == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.start) < time.Second || now.Sub(p.last) < time.Second {
		return
	}
	eta := time.Duration(float64(now.Sub(p.start)) / float64(max(done, 1)) * float64(p.total-done))
	fmt.Fprintf(p.w, "\r%-24s %7d/%-7d jobs  elapsed %-8v  eta %-8v", p.phase, done, p.total,
		now.Sub(p.start).Truncate(time.Second), eta.Truncate(time.Second))
	p.last, p.shown = now, true
}
