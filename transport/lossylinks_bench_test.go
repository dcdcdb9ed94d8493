package transport

import (
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// inboundLoss drops a fraction of the packets its socket receives, as a
// DROP rule on the host's INPUT chain would: silent loss.
type inboundLoss struct {
	net.PacketConn
	fraction float64
	mu       sync.Mutex
	rng      *rand.Rand
}

func (c *inboundLoss) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		c.mu.Lock()
		drop := c.rng.Float64() < c.fraction
		c.mu.Unlock()
		if !drop {
			return n, addr, nil
		}
	}
}

// BenchmarkIdleLinksUnderLoss holds 20 idle connections between pairs of
// transports on loopback, every socket dropping 30 % of what it receives,
// for 30 s per iteration (run it with -benchtime 1x), and reports the
// silence timeouts of both ends of every link (a link failed by both ends
// counts twice): live links lost to the loss alone.
// The keep-alive period is what keeps them up (doc.go, "Defaults"):
// the default, a fifth of the idle timeout, against two fifths.
func BenchmarkIdleLinksUnderLoss(b *testing.B) {
	const pairs, hold, fraction = 20, 30 * time.Second, 0.3
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
	}{{"keepalive=default", 0}, {"keepalive=2/5", 2 * DefaultIdleTimeout / 5}} {
		b.Run(tc.name, func(b *testing.B) {
			var timeouts int64
			for i := range b.N {
				var trs []*QUIC
				for k := range 2 * pairs {
					udp, err := net.ListenPacket("udp", "127.0.0.1:0")
					if err != nil {
						b.Fatal(err)
					}
					lossy := &inboundLoss{PacketConn: udp, fraction: fraction, rng: rand.New(rand.NewPCG(uint64(i), uint64(k)))}
					trs = append(trs, newQUIC(b, Config{PacketConn: lossy, KeepAlivePeriod: tc.keepAlive}))
				}
				for k := range pairs {
					connect(b, trs[2*k], trs[2*k+1])
				}
				time.Sleep(hold)
				for _, q := range trs {
					timeouts += q.Stats().SilenceTimeouts
					_ = q.Close()
				}
			}
			b.ReportMetric(float64(timeouts)/float64(b.N), "silence-timeouts/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}
