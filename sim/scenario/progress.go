package scenario

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
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

	// Phases of parallel jobs: the runs add their events to meter, the
	// jobs count themselves in jobsDone and report the share of their work
	// done in jobShare (float64 bits), weighed by weights, and a ticker
	// goroutine writes the line under mu.
	meter    atomic.Uint64
	jobsDone atomic.Int64
	weights  []float64
	jobShare []atomic.Uint64
	mu       sync.Mutex
	stop     chan struct{}
	stopped  chan struct{}
}

// Meter returns the counter that runs going on in parallel add their
// events to (engine.Config.EventMeter), or nil for a nil Progress.
func (p *Progress) Meter() *atomic.Uint64 {
	if p == nil {
		return nil
	}
	return &p.meter
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

// StartJobs begins a phase of total independent jobs of about the same size
// run in parallel: once a second, until JobsDone, it writes how many jobs
// are done, the events per second of all runs together (as they report
// them to Meter) and an estimate of the time left from the work done so
// far.
func (p *Progress) StartJobs(phase string, total int) {
	p.StartWeightedJobs(phase, slices.Repeat([]float64{1}, total))
}

// StartWeightedJobs is StartJobs for jobs of unequal size: weights[i] is job
// i's expected share of the work.
func (p *Progress) StartWeightedJobs(phase string, weights []float64) {
	if p == nil {
		return
	}
	p.Start(phase, len(weights))
	p.jobsDone.Store(0)
	p.weights, p.jobShare = weights, make([]atomic.Uint64, len(weights))
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	go p.tickJobs(p.meter.Load())
}

// JobProgress reports that job i has done this share (0 to 1) of its work.
func (p *Progress) JobProgress(i int, done float64) {
	if p != nil && i >= 0 && i < len(p.jobShare) {
		p.jobShare[i].Store(math.Float64bits(min(max(done, 0), 1)))
	}
}

// JobDone counts job i of the phase as finished.
func (p *Progress) JobDone(i int) {
	if p != nil {
		p.JobProgress(i, 1)
		p.jobsDone.Add(1)
	}
}

// shareDone returns the share of the phase's work done, by the jobs'
// weights and reports.
func (p *Progress) shareDone() float64 {
	var done, total float64
	for i, w := range p.weights {
		done += w * math.Float64frombits(p.jobShare[i].Load())
		total += w
	}
	if total <= 0 {
		return 0
	}
	return done / total
}

// JobsDone ends the phase started by StartJobs.
func (p *Progress) JobsDone() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.stopped
	p.Done()
}

func (p *Progress) tickJobs(events0 uint64) {
	defer close(p.stopped)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			elapsed := now.Sub(p.start)
			done := int(p.jobsDone.Load())
			rate := float64(p.meter.Load()-events0) / elapsed.Seconds()
			eta := "-"
			if share := p.shareDone(); share > 0 {
				eta = (time.Duration(float64(elapsed) * (1 - share) / share)).Truncate(time.Second).String()
			}
			p.mu.Lock()
			fmt.Fprintf(p.w, "\r%-24s %7d/%-7d jobs  %6.2fM events/s  elapsed %-8v  eta %-8s", p.phase, done, p.total,
				rate/1e6, elapsed.Truncate(time.Second), eta)
			p.shown = true
			p.mu.Unlock()
		}
	}
}
