package engine

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/plumview/plumview/gossip"
)

// Latency draws the one-way delay of each link. A link keeps its delay for
// the whole run (it is derived from the run's seed and the two node
// indexes), so messages on one link arrive in the order they were sent, as
// on a TCP or QUIC stream; with PerMessage each message draws its own.
type Latency struct {
	// Min is the smallest one-way delay; with Max == Min every link has it.
	Min time.Duration
	// Max is the largest one-way delay. Delays are spread between Min and
	// Max, log-uniformly when Min > 0 (a long tail of slower links),
	// uniformly otherwise.
	Max time.Duration
	// PerMessage draws each message's delay afresh, from the same range
	// and law, instead of once per link. A link still delivers in the
	// order it was sent: a message drawn to arrive before the one sent
	// before it on the same link waits for it, as on a stream whose path
	// is slower at times. With a range, floods then no longer follow the
	// same shortest paths every time (the papers' simulators drew their
	// delays so; a fixed delay per link is ours).
	PerMessage bool
}

// ConstantLatency gives every link the same one-way delay.
func ConstantLatency(d time.Duration) Latency { return Latency{Min: d, Max: d} }

func (l Latency) validate() error {
	if l.Min < 0 || l.Max < l.Min {
		return fmt.Errorf("engine: latency range [%v, %v] is empty or negative", l.Min, l.Max)
	}
	return nil
}

// of returns the delay of the link between a and b (the same both ways).
func (l Latency) of(seed uint64, a, b int) time.Duration {
	if l.Max == l.Min {
		return l.Min
	}
	if a > b {
		a, b = b, a
	}
	return l.at(float64(mix(seed^uint64(a)<<32^uint64(b))>>11) / (1 << 53)) // uniform in [0, 1)
}

// at maps u, uniform in [0, 1), to a delay of the range.
func (l Latency) at(u float64) time.Duration {
	if l.Min > 0 {
		lo, hi := math.Log(float64(l.Min)), math.Log(float64(l.Max))
		return time.Duration(math.Exp(lo + u*(hi-lo)))
	}
	return l.Min + time.Duration(u*float64(l.Max-l.Min))
}

// mix is SplitMix64's finaliser: a cheap, well-spread hash of one word.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Verdict is what a MessageHook decides for one message.
type Verdict struct {
	// Drop loses the message.
	Drop bool
	// Delay is added to the link's delay.
	Delay time.Duration
}

// MessageHook inspects every message before it enters the network; it may
// drop or delay it (say, every GRAFT sent to one node).
type MessageHook func(now time.Duration, from, to int, msg gossip.Message) Verdict

// NetworkConfig models the network between simulated nodes.
type NetworkConfig struct {
	// Latency is the one-way delay of each link. Zero means 1ms everywhere.
	Latency Latency
	// Loss is the probability in [0, 1) that any one message is lost.
	Loss float64
	// DetectOnSend makes a send to a crashed or unreachable node fail at the
	// sender after a round trip, as a TCP or QUIC connection reports it (the
	// HyParView paper's model, S1 §4.1: failures are found while
	// forwarding).
	DetectOnSend bool
	// DetectAfter, when positive, tells a crashed node's neighbours that
	// their connection failed this long after the crash (a keep-alive
	// timeout). Zero leaves detection to DetectOnSend or to DetectFailures.
	DetectAfter time.Duration
}

// errLoss is returned for a loss probability outside [0, 1).
var errLoss = errors.New("engine: loss must be in [0, 1)")

func (c NetworkConfig) withDefaults() NetworkConfig {
	if c.Latency == (Latency{}) {
		c.Latency = ConstantLatency(time.Millisecond)
	}
	return c
}

func (c NetworkConfig) validate() error {
	if err := c.Latency.validate(); err != nil {
		return err
	}
	if c.Loss < 0 || c.Loss >= 1 || math.IsNaN(c.Loss) {
		return errLoss
	}
	if c.DetectAfter < 0 {
		return errors.New("engine: DetectAfter must not be negative")
	}
	return nil
}
