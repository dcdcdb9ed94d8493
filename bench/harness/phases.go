package harness

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// latency sends the latency phase's messages of one size one at a time and
// records p50, p99 and bytes per delivery.
func (r *run) latency(ctx context.Context, size int) {
	deadline := time.Now().Add(r.o.Timeout)
	b0 := r.sys.BytesSent()
	d0, _, _ := r.rec.Counts()
	var lat []time.Duration
	sent, incomplete, errs := 0, 0, 0
	var firstErr error
	for ; sent < r.o.Messages && time.Now().Before(deadline) && ctx.Err() == nil; sent++ {
		r.nextID++
		id, origin, p := r.nextID, sent%r.o.Nodes, r.payload(size)
		done := r.rec.Sent(id, origin, time.Now())
		if err := r.sys.Broadcast(origin, id, p); err != nil {
			errs++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		wait := time.NewTimer(min(r.o.MsgTimeout, max(time.Until(deadline), time.Millisecond)))
		select {
		case <-done:
		case <-wait.C:
		case <-ctx.Done():
		}
		wait.Stop()
		if l, ok := r.rec.Latency(id); ok {
			lat = append(lat, l)
		} else {
			incomplete++
		}
	}
	sleepCtx(ctx, r.o.Settle)
	b1 := r.sys.BytesSent()
	d1, _, _ := r.rec.Counts()
	r.logf("%s: %d sent, %d complete, p50 %s, p99 %s", SizeLabel(size), sent, len(lat),
		Percentile(lat, 50).Round(time.Microsecond), Percentile(lat, 99).Round(time.Microsecond))

	lost := r.o.Messages - len(lat) // incomplete, unsent or failed to send: infinitely late
	pct := func(p float64) Cell {
		d, ok := PercentileLost(lat, lost, p)
		if !ok {
			reason := fmt.Sprintf("%d of %d messages never reached every node", lost, r.o.Messages)
			if incomplete > 0 {
				reason += fmt.Sprintf(" (%d incomplete after %s each)", incomplete, r.o.MsgTimeout)
			}
			if errs > 0 {
				reason += fmt.Sprintf(" (%d send errors, first: %v)", errs, firstErr)
			}
			return Failed("%s", reason)
		}
		c := Num(ms(d))
		if lost > 0 {
			c.Detail = fmt.Sprintf("%d of %d never reached every node", lost, r.o.Messages)
		}
		return c
	}
	p50, p99 := pct(50), pct(99)
	r.res.Set(KeyP50(size), p50)
	r.res.Set(KeyP99(size), p99)
	r.res.Set(KeyBytes(size), perDelivery(b1-b0, d1-d0, size))
}

// perDelivery is the bytes-per-delivery cell, with the multiple of the
// payload as detail.
func perDelivery(bytes, deliveries uint64, size int) Cell {
	if deliveries == 0 {
		return Failed("no deliveries")
	}
	v := float64(bytes) / float64(deliveries)
	c := Num(v)
	c.Detail = sig3(v/float64(size)) + "× payload"
	return c
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// idle lets the cluster run without broadcasts for Idle and records what
// being a member costs: CPU time and bytes sent per node and second. It
// runs before the membership monitor starts, so the harness polls nothing
// meanwhile.
func (r *run) idle(ctx context.Context) {
	if r.o.Idle <= 0 {
		r.res.Set(KeyIdleCPU, NA())
		r.res.Set(KeyIdleBytes, NA())
		return
	}
	sleepCtx(ctx, r.o.IdleWarmup)
	noter, noting := r.sys.(IdleNoter)
	if noting {
		noter.IdleBegins()
	}
	b0, cpu0, t0 := r.sys.BytesSent(), CPUTime(), time.Now()
	sleepCtx(ctx, r.o.Idle)
	nodeSeconds := time.Since(t0).Seconds() * float64(r.o.Nodes)
	cpu := (CPUTime() - cpu0).Seconds()
	bytes := float64(r.sys.BytesSent() - b0)
	r.logf("idle: %.3f CPU-s, %.0f bytes in %.1f s", cpu, bytes, nodeSeconds/float64(r.o.Nodes))
	r.res.Set(KeyIdleCPU, Num(cpu/nodeSeconds*1e6))
	r.res.Set(KeyIdleBytes, Num(bytes/nodeSeconds))
	if noting {
		r.res.Notes = append(r.res.Notes, noter.IdleNotes(nodeSeconds/float64(r.o.Nodes))...)
	}
}

// sustained keeps Window messages in flight for Sustain and records the
// delivery rate, bytes per delivery and CPU per delivery.
func (r *run) sustained(ctx context.Context) {
	size := r.o.sustainSize()
	noter, noting := r.sys.(SustainedNoter)
	if noting {
		noter.SustainedBegins()
	}
	b0, cpu0 := r.sys.BytesSent(), CPUTime()
	d0, _, _ := r.rec.Counts()
	t0 := time.Now()
	end := t0.Add(min(r.o.Sustain, r.o.Timeout))
	sent, errs, expired := 0, 0, 0
	lastExpire := t0
	for now := t0; now.Before(end) && ctx.Err() == nil; now = time.Now() {
		if now.Sub(lastExpire) >= 100*time.Millisecond {
			expired += r.rec.Expire(now.Add(-r.o.MsgTimeout))
			lastExpire = now
		}
		if r.rec.InFlight() >= r.o.Window {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		r.nextID++
		id, origin := r.nextID, sent%r.o.Nodes
		r.rec.Sent(id, origin, time.Now())
		if err := r.sys.Broadcast(origin, id, r.payload(size)); err != nil {
			errs++
		}
		sent++
	}
	elapsed := time.Since(t0)
	d1, _, _ := r.rec.Counts()
	cpu, b1 := CPUTime()-cpu0, r.sys.BytesSent()
	dels := d1 - d0
	r.res.Set(KeyRateBytes, perDelivery(b1-b0, dels, size))
	r.res.Set(KeyCPURate, Num(cpu.Seconds()))
	r.res.Set(KeyHeapRate, Num(float64(HeapInUse())/(1<<20)))
	r.heapProfiled("after-sustained")
	if noting {
		r.res.Notes = append(r.res.Notes, noter.SustainedNotes()...)
	}
	if dels > 0 {
		r.res.Set(KeyCPUPerDel, Num(float64(cpu)/float64(dels)/float64(time.Microsecond)))
	} else {
		r.res.Set(KeyCPUPerDel, Failed("no deliveries"))
	}

	// Drain, unmeasured, so the next phase starts quiet.
	drain := min(r.o.Timeout, r.o.MsgTimeout, 10*time.Second)
	WaitUntil(ctx, time.Now().Add(drain), 10*time.Millisecond,
		func() (bool, string) { return r.rec.InFlight() == 0, "" })
	left := r.rec.Expire(time.Now())
	rate := Num(float64(dels) / elapsed.Seconds())
	rate.Detail = fmt.Sprintf("%d msgs sent", sent)
	if expired > 0 {
		rate.Detail += fmt.Sprintf(", %d not everywhere within %s", expired, r.o.MsgTimeout)
	}
	if left > 0 {
		rate.Detail += fmt.Sprintf(", %d not everywhere %s after the phase", left, drain)
	}
	if errs > 0 {
		rate.Detail += fmt.Sprintf(", %d send errors", errs)
	}
	if dels == 0 {
		rate = Failed("no deliveries in %s (%d sent, %d send errors)", elapsed.Round(time.Millisecond), sent, errs)
	}
	r.res.Set(KeyRate, rate)
	r.logf("sustained: %s", rate.Format(PerSec))
	sleepCtx(ctx, r.o.Settle)
}

// watchMembership checks, every 500 ms until the returned function is
// called, that a membership system still has a converged member list, and
// returns the cell for KeyIntact.
func (r *run) watchMembership() func() Cell {
	if _, ok := r.sys.(Membership); !ok {
		return NA
	}
	var (
		mu       sync.Mutex
		bad      int
		firstWhy string
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if ok, why := r.sys.Converged(); !ok {
				mu.Lock()
				if bad++; firstWhy == "" {
					firstWhy = why
				}
				mu.Unlock()
			}
		}
	}()
	return func() Cell {
		close(stop)
		<-done
		ok, why := r.sys.Converged()
		switch {
		case !ok:
			return Failed("not converged at the end: %s", why)
		case bad > 0:
			return Cell{Text: "yes at the end", Detail: fmt.Sprintf("not converged in %d checks, first: %s", bad, firstWhy)}
		}
		return Cell{Text: "yes", Detail: "checked every 500 ms"}
	}
}

// failure kills the last node and measures how long until no other node
// sees it as live.
func (r *run) failure(ctx context.Context) {
	m, ok := r.sys.(Membership)
	if !ok {
		r.res.Set(KeyFail, NA())
		return
	}
	victim := r.o.Nodes - 1
	t0 := time.Now()
	if err := m.Kill(victim); err != nil {
		r.res.Set(KeyFail, Failed("kill: %v", err))
		return
	}
	ok, why := WaitUntil(ctx, t0.Add(r.o.Timeout), 10*time.Millisecond, func() (bool, string) {
		for obs := range victim {
			if m.Sees(obs, []int{victim})[0] {
				return false, fmt.Sprintf("node %d still sees the killed node", obs)
			}
		}
		return true, ""
	})
	took := time.Since(t0)
	if !ok {
		r.res.Set(KeyFail, Failed("after %s: %s", took.Round(time.Millisecond), why))
		return
	}
	c := Num(took.Seconds())
	falseFail := 0
	others := make([]int, victim)
	for t := range others {
		others[t] = t
	}
	for obs := range victim {
		for _, seen := range m.Sees(obs, others) {
			if !seen {
				falseFail++
			}
		}
	}
	c.Detail = "no other node missing from any member list"
	if falseFail > 0 {
		c.Detail = fmt.Sprintf("%d (observer, other node) pairs missing from member lists", falseFail)
	}
	r.res.Set(KeyFail, c)
	r.logf("failure detected by all in %s", took.Round(time.Millisecond))
}
