package engine

import (
	"fmt"
	"testing"
	"time"
)

func TestDebugIslands(t *testing.T) {
	bad := 0
	for seed := uint64(0); seed < 200; seed++ {
		s, _ := New(Config{Seed: seed, Engine: smallConfig(13), CheckInvariants: true,
			Network: NetworkConfig{Latency: Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}, DetectOnSend: true, DetectAfter: time.Second}})
		for i := 0; i < 13; i++ {
			s.AddNode()
			if i == 0 { s.Join(0) } else { s.Join(i, 0) }
		}
		s.Run(s.Now() + 30*time.Second)
		if !activeGraphConnected(s) {
			bad++
			if bad < 3 {
			for i := 0; i < 13; i++ {
				fmt.Println(i, s.Engine(i).HyParView().Active(), s.Engine(i).HyParView().Passive())
			}
			}
		}
	}
	fmt.Println("bad", bad)
}
