package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
)

// BenchmarkBroadcast1k measures the simulator with the real cores: one
// broadcast on a settled 1,000-node overlay, run to quiescence. It reports
// simulated events per second of wall time.
func BenchmarkBroadcast1k(b *testing.B) { benchmarkBroadcast(b, 1000, false) }

// BenchmarkBroadcast10k is the same on 10,000 nodes, where the nodes' state
// no longer fits in the processor's caches.
func BenchmarkBroadcast10k(b *testing.B) { benchmarkBroadcast(b, 10000, false) }

// BenchmarkFlood1k is BenchmarkBroadcast1k with the HyParView paper's
// dissemination (experiment 1): every node relays every message to all its
// active neighbours but the sender, so most events are duplicates.
func BenchmarkFlood1k(b *testing.B) { benchmarkBroadcast(b, 1000, true) }

// BenchmarkFlood10k is BenchmarkFlood1k on 10,000 nodes.
func BenchmarkFlood10k(b *testing.B) { benchmarkBroadcast(b, 10000, true) }

func benchmarkBroadcast(b *testing.B, n int, flood bool) {
	cfg := gossip.Config{HyParView: hyparview.ConfigForClusterSize(n)}
	cfg.Plumtree.LazyPushDelay = -1
	cfg.Plumtree.Flood = flood
	s, err := New(Config{Seed: 1, Engine: cfg, ManualShuffle: true, Network: NetworkConfig{DetectOnSend: true}})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		s.AddNode()
		if i == 0 {
			s.Join(0)
		} else {
			s.Join(i, 0)
		}
		s.Quiesce(time.Minute)
	}
	for c := 0; c < 10; c++ {
		s.Cycle()
		s.Quiesce(time.Minute)
	}
	payload := []byte("benchmark payload")
	start := s.Stats().Events
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Broadcast(i%n, payload); err != nil {
			b.Fatal(err)
		}
		s.Quiesce(time.Minute)
	}
	b.StopTimer()
	events := float64(s.Stats().Events - start)
	b.ReportMetric(events/float64(b.N), "events/op")
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	if d := s.Broadcasts()[len(s.Broadcasts())-1].Delivered; d != n {
		b.Fatal(fmt.Sprintf("last broadcast reached %d of %d nodes", d, n))
	}
}
