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
// waited more than a quarter of the idle timeout since its last look, a
// packet crossing the two or three goroutines between the peer's timer
// and this side's count (the peer's sender, this socket's reader, this
// connection's loop) can take most of the idle timeout, and silence says
// nothing about the peer.
//
// The runtime's histogram is cumulative and the process's; it is read at
// most once per hostLagWindow for every asker (hostHistogram), and each
// asker (a transport's watch, a node's report to its local health) keeps
// its own previous counts (lagMeter), so that no asker's look takes the
// waits out of another's. A look with too few waits to judge by keeps
// its counts for the next, which then covers both intervals.

// schedLatencyMetric is the runtime metric read.
const schedLatencyMetric = "/sched/latencies:seconds"

// starvedQuantile is the share of goroutine waits, since an asker's last
// look, that must have stayed under the threshold for the host to count
// as keeping its time.
const starvedQuantile = 0.99

// minStarvedSamples is the fewest waits a look needs to judge by: fewer
// (an idle process; the runtime records about one scheduling in eight)
// say nothing yet.
const minStarvedSamples = 20

// hostLagWindow is how long one read of the runtime's histogram serves
// every asker of the process.
const hostLagWindow = 100 * time.Millisecond

// histogramCache is the process's latest read of the histogram.
type histogramCache struct {
	mu      sync.Mutex
	sample  []metrics.Sample
	read    time.Time // wall clock of the last read
	buckets []float64
	counts  []uint64
}

var hostHistogram = &histogramCache{sample: []metrics.Sample{{Name: schedLatencyMetric}}}

// snapshot copies the histogram into counts (reused when long enough),
// reading the runtime again if the cached read is older than
// hostLagWindow or from the future (a clock set back). It returns nil
// buckets where the runtime has no such metric.
func (h *histogramCache) snapshot(counts []uint64) ([]float64, []uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.read.IsZero() || now.Sub(h.read) >= hostLagWindow || now.Before(h.read) {
		metrics.Read(h.sample)
		if h.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
			return nil, counts[:0]
		}
		v := h.sample[0].Value.Float64Histogram()
		h.buckets = v.Buckets
		h.counts = append(h.counts[:0], v.Counts...)
		h.read = now
	}
	return h.buckets, append(counts[:0], h.counts...)
}

// lagMeter is one asker's view of the histogram: the counts at its last
// judged look, and the latest figure.
type lagMeter struct {
	prev, cur []uint64
	lag       time.Duration
}

// look returns the starvedQuantile of the waits since this meter's last
// judged look; with too few of them, the previous figure, and the counts
// are kept for the next look.
func (m *lagMeter) look() time.Duration {
	var buckets []float64
	buckets, m.cur = hostHistogram.snapshot(m.cur)
	if buckets == nil {
		return 0 // a runtime without the metric: the ticks alone judge
	}
	if len(m.prev) != len(m.cur) {
		m.prev = append(m.prev[:0], m.cur...)
		return m.lag
	}
	q, ok := deltaQuantile(buckets, m.cur, m.prev, starvedQuantile)
	if !ok {
		return m.lag
	}
	m.prev, m.cur = m.cur, m.prev
	m.lag = seconds(q)
	return m.lag
}

// deltaQuantile is the q-quantile of the samples counted between prev
// and counts, as the lower bound of its bucket (the runtime's buckets are
// a quarter of a power of two wide, so it reads up to a fifth low); ok is
// false with fewer than minStarvedSamples samples.
func deltaQuantile(buckets []float64, counts, prev []uint64, q float64) (float64, bool) {
	var total uint64
	for i := range counts {
		total += counts[i] - prev[i]
	}
	if total < minStarvedSamples {
		return 0, false
	}
	// The rank of the quantile among the samples, counted from one.
	rank := max(uint64(q*float64(total)+0.5), 1)
	var seen uint64
	for i := range counts {
		if seen += counts[i] - prev[i]; seen >= rank {
			return max(buckets[i], 0), true
		}
	}
	return max(buckets[len(counts)-1], 0), true
}

// HostLag is how long, at the slowest hundredth, the goroutines of this
// process waited, runnable, before they ran, since the previous call of
// this transport's HostLag (or, with too few waits since, the figure of
// the call before). A membership driver reports it to its engine's local
// health (gossip's Engine.NoteHostLag); the silence watch keeps a meter
// of its own over the same measure.
func (t *QUIC) HostLag() time.Duration {
	t.lagMu.Lock()
	defer t.lagMu.Unlock()
	return t.lag.look()
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
