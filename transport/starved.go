package transport

import (
	"runtime/metrics"
	"sync"
	"time"
)

// The host's own punctuality, as the Go scheduler sees it. A tick of the
// silence watch can come on time while the goroutines that read the
// socket and run the QUIC connections wait their turn for a second: a
// goroutine woken by a timer is run next, one woken by the network waits
// in the run queues behind the others. So the watch also reads how long
// the process's goroutines waited, runnable, before they ran (runtime
// metric /sched/latencies:seconds): when the slowest hundredth of them
// waited more than a quarter of the idle timeout since the last look, a
// packet crossing the two or three goroutines between the peer's timer
// and this side's count (the peer's sender, this socket's reader, this
// connection's loop) can take most of the idle timeout, and silence says
// nothing about the peer. One sampler serves every transport of the
// process; the scheduler's latency is the process's, whatever node asks.

// schedLatencyMetric is the runtime metric the sampler reads.
const schedLatencyMetric = "/sched/latencies:seconds"

// starvedQuantile is the share of goroutine waits, since the last look,
// that must have stayed under the threshold for the host to count as
// keeping its time.
const starvedQuantile = 0.99

// minStarvedSamples is the fewest waits a look needs to judge by: fewer
// (an idle process) say nothing of starvation.
const minStarvedSamples = 20

// schedSampler turns the cumulative histogram of scheduling latencies
// into the latency of the slowest waits since its last look.
type schedSampler struct {
	mu     sync.Mutex
	sample []metrics.Sample
	prev   []uint64  // the counts at the last look
	last   time.Time // when the last look was
	tail   float64   // seconds: the starvedQuantile wait at the last look
}

// hostSched is the process's sampler.
var hostSched = &schedSampler{sample: []metrics.Sample{{Name: schedLatencyMetric}}}

// hostLagWindow is the shortest interval between two looks: the
// transports and nodes of a process all ask, and each look is over the
// waits since the previous one, whoever took it.
const hostLagWindow = 100 * time.Millisecond

// tailLatency returns the starvedQuantile of the goroutine waits since
// the previous look, looking again only if the previous look is older
// than minGap; a younger one's answer is repeated.
func (s *schedSampler) tailLatency(now time.Time, minGap time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < minGap {
		return seconds(s.tail)
	}
	metrics.Read(s.sample)
	if s.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0 // a runtime without the metric: the ticks alone judge
	}
	h := s.sample[0].Value.Float64Histogram()
	if s.prev == nil {
		s.prev = make([]uint64, len(h.Counts))
		copy(s.prev, h.Counts)
		s.last = now
		return 0
	}
	s.tail = deltaQuantile(h.Buckets, h.Counts, s.prev, starvedQuantile)
	copy(s.prev, h.Counts)
	s.last = now
	return seconds(s.tail)
}

// deltaQuantile is the q-quantile (the lower bound of its bucket) of the
// samples counted between prev and counts; 0 with too few of them.
func deltaQuantile(buckets []float64, counts, prev []uint64, q float64) float64 {
	var total uint64
	for i := range counts {
		total += counts[i] - prev[i]
	}
	if total < minStarvedSamples {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i := range counts {
		if seen += counts[i] - prev[i]; seen > want {
			return max(buckets[i], 0)
		}
	}
	return max(buckets[len(buckets)-2], 0)
}

// HostLag is how long, at the slowest hundredth, the goroutines of this
// process waited, runnable, before they ran, over the last look's
// interval (at least hostLagWindow; the look is shared by every caller
// of the process). A membership driver reports it to its engine's local
// health (gossip's Engine.NoteHostLag); the silence watch reads the same
// measure.
func HostLag(now time.Time) time.Duration {
	return hostSched.tailLatency(now, hostLagWindow)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
