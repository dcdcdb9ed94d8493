package gossip

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/roster"
)

// BenchmarkProbeRound is one node's cost of one ProbeInterval's probing
// with the member list on: the probe tick (the next target of the
// round-robin, the list rebuilt and shuffled once per pass over the
// members, amortised), the target's answer, and answering one ping of
// another node, at 1,000 and 10,000 members. One op is one interval of one
// node: the CPU a node spends on probes per second at the default 1 s.
func BenchmarkProbeRound(b *testing.B) {
	for _, members := range []int{1_000, 10_000} {
		b.Run(strconv.Itoa(members)+"_members", func(b *testing.B) {
			cfg := ProductionConfig(nil)
			cfg.Budgets = nil
			e, err := New(hyparview.Peer{ID: 1, Addr: "a"}, cfg, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				b.Fatal(err)
			}
			out := &Ready{}
			e.Join(t0, nil, out)
			var probe Timer
			for _, ts := range out.Timers {
				if ts.Timer.Kind() == TimerProbe {
					probe = ts.Timer
				}
			}
			for first := 2; first < members+2; first += MaxRecordsPerMessage {
				recs := make([]roster.Record, 0, MaxRecordsPerMessage)
				for id := first; id < min(first+MaxRecordsPerMessage, members+2); id++ {
					recs = append(recs, roster.Record{ID: peer.ID(id), Addr: "m" + strconv.Itoa(id), Incarnation: 1, State: roster.StateAlive})
				}
				out.Reset()
				e.Receive(t0, 2, &Records{Records: recs}, out)
			}
			now := t0.Add(time.Hour) // every member's evidence is stale: each is probed in turn
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now = now.Add(time.Second)
				out.Reset()
				e.TimerFired(now, probe, out)
				for _, s := range out.Sends {
					if p, ok := s.Msg.(*Ping); ok {
						e.Receive(now, s.To.ID, &Ack{Nonce: p.Nonce}, out)
						break
					}
				}
				e.Receive(now, peer.ID(2+i%members), &Ping{Nonce: uint64(i)}, out)
			}
		})
	}
}
