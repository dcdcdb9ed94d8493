// Package harness measures gossip systems side by side: it starts a cluster
// through a System adapter, drives the phases of the comparison (join,
// broadcast latency, bytes, sustained throughput, failure detection) with
// every wait bounded, and formats the results as a table.
//
// Adding a system means writing one adapter that implements System (and
// Membership if it keeps a member list) and registering it with Register
// from an init function.
package harness

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// DeliverFunc is called by an adapter each time node delivers the broadcast
// with the given id to its application, with the time of delivery. Adapters
// must call it at most once per (node, id) if the system deduplicates; the
// recorder counts any repeat as a duplicate. It is safe for concurrent use.
type DeliverFunc func(node int, id uint64, at time.Time)

// Config is what the harness tells an adapter when starting a cluster.
type Config struct {
	// Nodes is the number of nodes to start, all on 127.0.0.1.
	Nodes int
	// MaxPayload is the largest payload Broadcast will be given, in bytes.
	MaxPayload int
	// Seed makes any random choice of the adapter (such as whom to dial)
	// reproducible.
	Seed int64
	// Deliver receives every delivery.
	Deliver DeliverFunc
	// Logf, if not nil, receives the adapter's diagnostics.
	Logf func(format string, args ...any)
	// JoinRate, if positive, paces the join: the adapter starts the
	// joiners' joins at that many a second (WaitJoinTurn), as a rolling
	// deployment adds nodes, instead of all at once.
	JoinRate float64
}

// JoinDelay is how long after the join starts joiner i (the first node
// that joins others is 1) starts joining at c.JoinRate a second: zero
// without a rate.
func (c Config) JoinDelay(i int) time.Duration {
	if c.JoinRate <= 0 || i <= 1 {
		return 0
	}
	return time.Duration(float64(i-1) / c.JoinRate * float64(time.Second))
}

// WaitJoinTurn waits until start+c.JoinDelay(i), or until ctx ends.
func WaitJoinTurn(ctx context.Context, c Config, start time.Time, i int) error {
	d := time.Until(start.Add(c.JoinDelay(i)))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// System is one gossip system under test, driven through an adapter. The
// harness calls Start, then Join, polls Converged, calls Broadcast many
// times, and finally Stop; Stop must release every goroutine, socket and
// port the adapter opened, whatever state the cluster is in.
type System interface {
	// Name is the system's column title in the table.
	Name() string
	// Start creates cfg.Nodes nodes listening on 127.0.0.1, not yet joined.
	Start(ctx context.Context, cfg Config) error
	// Join makes the nodes join one another; it may return before the
	// cluster has converged.
	Join(ctx context.Context) error
	// Converged reports whether the cluster is ready (every node knows every
	// other, or every node has mesh peers) and, if not, what is missing.
	Converged() (bool, string)
	// Broadcast sends payload from node from, tagged with id; the adapter
	// carries id to the receivers, which report it through Config.Deliver.
	Broadcast(from int, id uint64, payload []byte) error
	// BytesSent is the total number of bytes all nodes have written to
	// their sockets so far; the adapter documents what it counts.
	BytesSent() uint64
	// Stop shuts every node down and releases all resources.
	Stop() error
}

// Membership is implemented by systems that keep a member list, for the
// failure detection phase.
type Membership interface {
	// Kill stops node abruptly: its transport is shut, no leave is sent.
	Kill(node int) error
	// Sees reports, for each of targets, whether observer's member list
	// holds it as a live (alive or suspected, not failed) member, reading
	// the list once: asked pair by pair, the check after a failure read
	// a whole list per pair, n³ records (16.7 million at 256 nodes), and
	// took minutes on a loaded host.
	Sees(observer int, targets []int) []bool
}

// Noter is optionally implemented by adapters that deviate from a system's
// defaults or count bytes in a way worth stating; the notes are printed
// under the table.
type Noter interface {
	Notes() []string
}

// IdleNoter is optionally implemented by adapters that can say what their
// nodes do while idle (connections held open, packets by kind), to explain
// the idle row: IdleBegins is called as the measured idle phase starts,
// IdleNotes as it ends, and its notes are printed under the table.
type IdleNoter interface {
	IdleBegins()
	IdleNotes(seconds float64) []string
}

// SustainedNoter is optionally implemented by adapters that can say how
// their nodes spent the sustained phase (how many origin signatures they
// checked in batches): SustainedBegins is called as the phase starts,
// SustainedNotes as it ends, and its notes are printed under the table.
type SustainedNoter interface {
	SustainedBegins()
	SustainedNotes() []string
}

var (
	registryMu sync.Mutex
	registry   = map[string]func() System{}
)

// Register makes a system available under name; adapters call it from init.
// It panics if name is registered twice.
func Register(name string, factory func() System) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("harness: system registered twice: " + name)
	}
	registry[name] = factory
}

// New returns a fresh adapter for the named system.
func New(name string) (System, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown system %q (have %v)", name, namesLocked())
	}
	return f(), nil
}

// Names lists the registered systems in alphabetical order.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
