package hyparview

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// A node one short of a full view, in a cluster whose other nodes are
// full (the odd free slot), asks its passive peers with low priority and
// each refuses. It remembers the refusals for refusalMemoryPeriods periods
// instead of asking every passive peer again each period: each request
// costs the peer an answer (in production a datagram each way).
func TestRefusalsRememberedByANearlyFullNode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        Config
		wantRounds int // shuffle periods, of 12, in which it asked anyone
	}{
		{"tick repair on: one round per refusalMemoryPeriods periods", Config{WithoutRefresh: true}, 12 / refusalMemoryPeriods},
		{"S1's rules: no tick repair, no asking", Config{WithoutRefresh: true, WithoutTickRepair: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := started(withPassive(withActive(newState(t, 1, tc.cfg, 1), 2, 3, 4, 5), 10, 11, 12, 13, 14, 15, 16, 17, 18, 19))
			s.armShuffle()
			rounds, asked := 0, 0
			for range 12 {
				out := step(t, s, timerInput(Timer{Kind: TimerShuffle, Nonce: s.shuffleNonce}))
				round := false
				for {
					reqs := sends[*Neighbor](out)
					if len(reqs) == 0 {
						break
					}
					round = true
					out = nil
					for p, m := range reqs {
						require.Equal(t, PriorityLow, m.Priority)
						asked++
						out = append(out, step(t, s, recv(p, &NeighborReply{Accepted: false, Addr: addrOf(p), Nonce: m.Nonce}))...)
					}
				}
				if round {
					rounds++
				}
				require.Len(t, activeIDs(s), 4)
			}
			require.Equal(t, tc.wantRounds, rounds)
			require.Equal(t, 10*tc.wantRounds, asked, "each round asks every passive peer once")
			require.Equal(t, []peer.ID{2, 3, 4, 5}, activeIDs(s))
		})
	}
}
