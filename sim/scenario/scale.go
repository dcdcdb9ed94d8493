package scenario

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// ScaleOptions sets up the scale run: join many nodes, run a few membership
// cycles, broadcast once, and report what it cost.
type ScaleOptions struct {
	Nodes    int
	Seed     uint64
	Cycles   int
	Progress *Progress
	// Workers, above 1, steps the engines of the cycles' large instants
	// on that many goroutines (engine.Config.Workers); the counts are
	// the same.
	Workers int
	// JoinBatch, above 1, joins the nodes that many at a time
	// (CycleOptions.JoinBatch); 0 or 1, one by one.
	JoinBatch int
}

// ScaleResult is what the scale run measured. Durations are wall-clock
// times of this process, so they vary between runs and machines; everything
// else is deterministic.
type ScaleResult struct {
	Nodes        int
	JoinBatch    int    // nodes joining at a time (1: one by one)
	Events       uint64 // events processed in the whole run
	Delivered    int    // nodes that delivered the broadcast
	LastHop      uint32
	JoinTime     time.Duration
	CycleTime    time.Duration
	BcastTime    time.Duration
	HeapBytes    uint64 // live heap after the run, from runtime.MemStats
	BytesPerNode float64
}

// RunScale joins the nodes one by one (or JoinBatch at a time) through
// node 0 with the paper's settings for that size, runs the cycles, and
// broadcasts once from node 0.
func RunScale(o ScaleOptions) (ScaleResult, error) {
	start := time.Now()
	batch := max(o.JoinBatch, 1)
	c, err := NewCycleCluster(CycleOptions{Nodes: o.Nodes, Seed: o.Seed, Engine: PaperEngineConfig(o.Nodes, 0), Progress: o.Progress, Workers: o.Workers, JoinBatch: batch})
	if err != nil {
		return ScaleResult{}, err
	}
	r := ScaleResult{Nodes: o.Nodes, JoinBatch: batch, JoinTime: time.Since(start)}
	start = time.Now()
	if err := c.Cycles(o.Cycles, "cycles"); err != nil {
		return ScaleResult{}, err
	}
	r.CycleTime = time.Since(start)
	start = time.Now()
	b, err := c.BroadcastFrom(0, []byte("scale"))
	if err != nil {
		return ScaleResult{}, err
	}
	r.BcastTime = time.Since(start)
	r.Delivered, r.LastHop, r.Events = b.Delivered, b.LastHop, c.Stats().Events
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapBytes = ms.HeapAlloc
	r.BytesPerNode = float64(ms.HeapAlloc) / float64(o.Nodes)
	runtime.KeepAlive(c)
	return r, nil
}

// WriteScale prints the result. Its wall-clock lines differ between runs.
func WriteScale(w io.Writer, r ScaleResult) error {
	how := "one by one"
	if r.JoinBatch > 1 {
		how = fmt.Sprintf("%d at a time", r.JoinBatch)
	}
	_, err := fmt.Fprintf(w, `Scale: %d nodes joined %s through one contact, then one broadcast
  delivered          %d of %d nodes, last delivery hop %d
  events             %d
  join               %v
  cycles             %v
  broadcast          %v
  live heap          %.1f MiB (%.0f bytes per node)
`, r.Nodes, how, r.Delivered, r.Nodes, r.LastHop, r.Events, r.JoinTime.Round(time.Millisecond), r.CycleTime.Round(time.Millisecond),
		r.BcastTime.Round(time.Millisecond), float64(r.HeapBytes)/(1<<20), r.BytesPerNode)
	return err
}
