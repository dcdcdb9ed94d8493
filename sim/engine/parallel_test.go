package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Stepping the engines of large instants on several goroutines runs the
// same simulation as one goroutine: the same counters, broadcasts, views,
// trees and core counters, through joins, membership rounds, crashes,
// restarts and broadcasts left in flight.
func TestWorkersRunTheSameSimulation(t *testing.T) {
	run := func(workers int) (*Sim, string) {
		s, err := New(Config{Seed: 11, ManualShuffle: true, Workers: workers, Network: NetworkConfig{DetectOnSend: true}})
		require.NoError(t, err)
		joinThroughFirst(t, s, 1500, func() error { return s.Quiesce(time.Minute) })
		script(t, s, 0)
		for i := 0; i < 3; i++ {
			_, err := s.Broadcast(s.LiveNodes()[i], []byte(fmt.Sprint("last", i)))
			require.NoError(t, err)
		}
		require.NoError(t, s.Quiesce(time.Minute))
		return s, fingerprint(s)
	}
	_, want := run(1)
	for _, workers := range []int{2, 3} {
		s, got := run(workers)
		require.NotNil(t, s.par, "workers %d", workers)
		require.NotZero(t, s.par.stepped, "workers %d: no instant was stepped in parallel", workers)
		require.Equal(t, want, got, "workers %d", workers)
	}
}
