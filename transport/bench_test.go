package transport

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkQUICThroughput sends frames one way over loopback QUIC and
// reports frames/s; SetBytes makes the tool report MB/s of frame bodies.
func BenchmarkQUICThroughput(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"256B", 256}, {"4KiB", 4096}} {
		b.Run(size.name, func(b *testing.B) {
			a, z := newQUIC(b, Config{}), newQUIC(b, Config{})
			ca, cz := connect(b, a, z)
			frame := make([]byte, size.n)
			ctx := context.Background()
			done := make(chan error, 1)
			b.SetBytes(int64(size.n))
			b.ResetTimer()
			go func() {
				for range b.N {
					if _, err := cz.Receive(ctx); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for i := 0; i < b.N; {
				switch err := ca.Send(frame); err {
				case nil:
					i++
				case ErrSendQueueFull:
					runtime.Gosched() // the writer drains the queue
				default:
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
