package harness

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// HarnessNote states how the harness measures, for the notes under the
// table.
const HarnessNote = "each system runs in its own subprocess of the same binary (so CPU, heap and peak RSS are its own); " +
	"latency = from the Broadcast call to delivery at the last other node, messages sent one at a time from rotating origins, payloads random bytes; " +
	"bytes = everything the nodes wrote to their sockets during the phase plus a settle period, background traffic included, " +
	"divided by deliveries at nodes other than the origin; sustained = deliveries per second while keeping a fixed number of messages in flight; " +
	"CPU = getrusage(RUSAGE_SELF) delta over the phase, harness included; heap = HeapInuse after a GC"

// Options are the parameters of a comparison run.
type Options struct {
	// Nodes is the cluster size.
	Nodes int
	// Messages is the number of messages per payload size in the latency
	// phases.
	Messages int
	// Sizes are the payload sizes, in bytes, of the latency phases; the
	// sustained phase uses the smallest.
	Sizes []int
	// Timeout bounds every phase.
	Timeout time.Duration
	// MsgTimeout bounds the wait for one message in the latency phases and
	// the time a message counts as in flight in the sustained phase.
	MsgTimeout time.Duration
	// Sustain is the duration of the sustained phase.
	Sustain time.Duration
	// Window is the number of messages kept in flight in the sustained
	// phase.
	Window int
	// Settle is the pause after each phase so its traffic is counted in it.
	Settle time.Duration
	// Idle is the length of the idle phase after the join: no broadcasts,
	// only what membership itself costs. Zero skips it.
	Idle time.Duration
	// IdleWarmup is how long the cluster runs after the join, not
	// measured, before the idle phase starts: the join's aftermath (a
	// young node's first period of protocol activity, a pending push-pull)
	// is not what being a member costs. Zero starts the idle phase right
	// after the join's settle.
	IdleWarmup time.Duration
	// JoinRate, if positive, has the nodes start joining at that many a
	// second (Config.JoinRate) instead of all at once; the join phase,
	// bounded by Timeout, includes the pacing.
	JoinRate float64
	// Seed makes payloads and the adapters' random choices reproducible.
	Seed int64
	// ProfileDir, if set, receives a CPU profile of each phase of each
	// system, named <system>-<phase>.pprof (read with go tool pprof).
	ProfileDir string
	// Logf, if not nil, receives progress lines.
	Logf func(format string, args ...any)
}

// sustainSize is the payload size of the sustained phase.
func (o Options) sustainSize() int {
	if len(o.Sizes) == 0 {
		return 256
	}
	return slices.Min(o.Sizes)
}

// Validate reports options that cannot produce a measurement.
func (o Options) Validate() error {
	switch {
	case o.Nodes < 2:
		return fmt.Errorf("need at least 2 nodes, have %d", o.Nodes)
	case o.Messages < 1:
		return fmt.Errorf("need at least 1 message, have %d", o.Messages)
	case len(o.Sizes) == 0 || slices.Min(o.Sizes) < 8:
		return fmt.Errorf("need payload sizes of at least 8 bytes, have %v", o.Sizes)
	case o.Timeout <= 0 || o.MsgTimeout <= 0 || o.Sustain <= 0 || o.Window < 1:
		return fmt.Errorf("timeouts, sustain and window must be positive")
	case o.Idle < 0 || o.Idle > o.Timeout:
		return fmt.Errorf("the idle phase must last from 0 to the phase timeout %s, have %s", o.Timeout, o.Idle)
	case o.IdleWarmup < 0 || o.IdleWarmup > o.Timeout:
		return fmt.Errorf("the idle warm-up must last from 0 to the phase timeout %s, have %s", o.Timeout, o.IdleWarmup)
	case !(o.JoinRate >= 0) || math.IsInf(o.JoinRate, 1):
		return fmt.Errorf("the join rate must be a finite number of joins a second, 0 or more, have %g", o.JoinRate)
	case o.JoinRate > 0 && Config{JoinRate: o.JoinRate}.JoinDelay(o.Nodes-1) >= o.Timeout:
		return fmt.Errorf("at %g joins a second the last node starts joining after %s, past the phase timeout %s", o.JoinRate, Config{JoinRate: o.JoinRate}.JoinDelay(o.Nodes-1), o.Timeout)
	}
	return nil
}

// run is the state of one system's run.
type run struct {
	o      Options
	sys    System
	rec    *Recorder
	res    *Result
	rng    *rand.ChaCha8
	nextID uint64
}

func (r *run) logf(format string, args ...any) {
	if r.o.Logf != nil {
		r.o.Logf(r.sys.Name()+": "+format, args...)
	}
}

// payload returns size random bytes.
func (r *run) payload(size int) []byte {
	b := make([]byte, size)
	r.rng.Read(b)
	return b
}

// RunSystem runs every phase of the comparison on sys and returns what it
// measured; a phase that fails leaves "failed: reason" in its cells and the
// run goes on where it can. sys is stopped before RunSystem returns.
func RunSystem(ctx context.Context, sys System, o Options) Result {
	start := time.Now()
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(o.Seed))
	r := &run{o: o, sys: sys, rec: NewRecorder(o.Nodes), res: &Result{System: sys.Name()}, rng: rand.NewChaCha8(seed)}
	r.phases(ctx)
	if n, ok := sys.(Noter); ok {
		r.res.Notes = append(n.Notes(), r.res.Notes...)
	}
	if err := sys.Stop(); err != nil {
		r.res.Notes = append(r.res.Notes, "stop failed: "+err.Error())
	}
	_, dups, unknown := r.rec.Counts()
	c := Num(float64(dups))
	if unknown > 0 {
		c.Detail = fmt.Sprintf("%d deliveries of unknown ids", unknown)
	}
	r.res.Set(KeyDups, c)
	r.res.Set(KeyRSS, Num(float64(PeakRSS())/(1<<20)))
	r.res.Set(KeyWall, Num(time.Since(start).Seconds()))
	return *r.res
}

// phases runs the phases in order, stopping early if joining fails.
func (r *run) phases(ctx context.Context) {
	if err := r.o.Validate(); err != nil {
		r.res.Set(KeyJoin, Failed("%v", err))
		return
	}
	// A progress line as each phase starts (each ends with one of its
	// figures), so that a long run says what it is waiting for.
	total, step := 3+len(r.o.Sizes), 0
	if r.o.Idle > 0 {
		total++
	}
	phase := func(format string, args ...any) {
		step++
		r.logf("phase %d/%d: %s", step, total, fmt.Sprintf(format, args...))
	}
	phase("join %d nodes and wait until every member list is complete", r.o.Nodes)
	joined := false
	r.profiled("join", func() { joined = r.join(ctx) })
	if !joined {
		return
	}
	if r.o.Idle > 0 {
		phase("idle for %s after a %s warm-up: no broadcasts, the cost of membership alone", r.o.Idle, r.o.IdleWarmup)
	}
	r.profiled("idle", func() { r.idle(ctx) })
	monitor := r.watchMembership()
	cpu0 := CPUTime()
	for _, size := range r.o.Sizes {
		phase("latency, %d messages of %s one at a time", r.o.Messages, SizeLabel(size))
		r.profiled("latency-"+SizeLabel(size), func() { r.latency(ctx, size) })
	}
	r.res.Set(KeyCPULatency, Num((CPUTime() - cpu0).Seconds()))
	phase("sustained throughput for %s, %d messages in flight", r.o.Sustain, r.o.Window)
	r.profiled("sustained", func() { r.sustained(ctx) })
	r.res.Set(KeyIntact, monitor())
	phase("failure: kill one node and wait until every other lists it failed")
	r.profiled("failure", func() { r.failure(ctx) })
}

// join starts the nodes and waits for convergence; false means the run
// cannot go on.
func (r *run) join(ctx context.Context) bool {
	cfg := Config{Nodes: r.o.Nodes, MaxPayload: slices.Max(r.o.Sizes), Seed: r.o.Seed, Deliver: r.rec.Deliver, Logf: r.o.Logf, JoinRate: r.o.JoinRate}
	sctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	if err := r.sys.Start(sctx, cfg); err != nil {
		r.res.Set(KeyJoin, Failed("start: %v", err))
		return false
	}
	cpu0, t0 := CPUTime(), time.Now()
	deadline := t0.Add(r.o.Timeout)
	jctx, cancel2 := context.WithDeadline(ctx, deadline)
	defer cancel2()
	if err := r.sys.Join(jctx); err != nil {
		r.res.Set(KeyJoin, Failed("join: %v", err))
		return false
	}
	ok, why := WaitUntil(ctx, deadline, 5*time.Millisecond, r.sys.Converged)
	took := time.Since(t0)
	r.res.Set(KeyCPUJoin, Num((CPUTime() - cpu0).Seconds()))
	if !ok {
		r.res.Set(KeyJoin, Failed("not converged after %s: %s", took.Round(time.Millisecond), why))
		return false
	}
	r.logf("converged in %s", took.Round(time.Millisecond))
	r.res.Set(KeyJoin, Num(took.Seconds()))
	r.res.Set(KeyHeapJoin, Num(float64(HeapInUse())/(1<<20)))
	r.heapProfiled("after-join")
	sleepCtx(ctx, r.o.Settle)
	return true
}

// WaitUntil polls cond every interval until it holds, ctx ends or the
// deadline passes; it returns whether cond held and its last explanation.
func WaitUntil(ctx context.Context, deadline time.Time, interval time.Duration, cond func() (bool, string)) (bool, string) {
	for {
		ok, why := cond()
		if ok {
			return true, ""
		}
		if ctx.Err() != nil {
			return false, why + " (" + ctx.Err().Error() + ")"
		}
		if !time.Now().Add(interval).Before(deadline) {
			return false, why
		}
		sleepCtx(ctx, interval)
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
