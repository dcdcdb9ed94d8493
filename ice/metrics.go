package ice

import (
	"io"
	"sync/atomic"

	"github.com/pion/logging"
)

// silentLogger drops pion's logs.
func silentLogger() logging.LoggerFactory {
	return &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled, ScopeLevels: map[string]logging.LogLevel{}}
}

// Metrics counts what the connectivity layer did. Its fields are plain
// counters, safe for concurrent use; the daemon exports them later. A nil
// *Metrics in Config means Default.
type Metrics struct {
	// Links counts links established, by path kind (PathHost, PathSrflx,
	// PathRelay): the candidate type of each link.
	Links [pathKinds]atomic.Int64
	// Open is how many links are open now, by path kind.
	Open [pathKinds]atomic.Int64
	// HolePunchAttempts counts ICE negotiations that started their
	// connectivity checks: each is an attempt at a direct path.
	HolePunchAttempts atomic.Int64
	// HolePunchSuccesses counts negotiations that nominated a direct pair
	// (no relayed candidate on either side).
	HolePunchSuccesses atomic.Int64
	// HolePunchFailures counts negotiations that ended on a relayed pair
	// or on no pair at all.
	HolePunchFailures atomic.Int64
	// NoPath counts negotiations that found no pair at all (not even
	// through a relay); they are also HolePunchFailures.
	NoPath atomic.Int64
	// RelayedBytes counts the bytes this node sent and received over
	// links whose selected pair goes through a TURN relay.
	RelayedBytes atomic.Int64
}

// Default collects the metrics of every Connect whose Config names none.
var Default = new(Metrics)

// MetricsSnapshot is a copy of Metrics at one moment.
type MetricsSnapshot struct {
	Links              map[PathKind]int64
	Open               map[PathKind]int64
	HolePunchAttempts  int64
	HolePunchSuccesses int64
	HolePunchFailures  int64
	NoPath             int64
	RelayedBytes       int64
}

// Snapshot copies the counters.
func (m *Metrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{
		Links:              make(map[PathKind]int64, pathKinds),
		Open:               make(map[PathKind]int64, pathKinds),
		HolePunchAttempts:  m.HolePunchAttempts.Load(),
		HolePunchSuccesses: m.HolePunchSuccesses.Load(),
		HolePunchFailures:  m.HolePunchFailures.Load(),
		NoPath:             m.NoPath.Load(),
		RelayedBytes:       m.RelayedBytes.Load(),
	}
	for k := PathKind(0); k < pathKinds; k++ {
		s.Links[k] = m.Links[k].Load()
		s.Open[k] = m.Open[k].Load()
	}
	return s
}
