package membership

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

// A node cut off for longer than Plumtree's PayloadRetention misses what
// was broadcast early in the partition for good. Every subscriber then
// receives either every broadcast of the origin or a gap notice covering
// exactly the ones missing: on the cut-off node, the broadcasts made early
// in the partition come as one gap notice (to a subscriber of another
// topic too), the ones made late are repaired; elsewhere everything
// arrives and no gap is reported. The counters say the same.
func TestMemGapNoticeAfterLongPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		const retention = 5 * time.Second
		c := newMemClusterWith(t, n, func(cfg *Config) {
			cfg.Protocol.Plumtree.PayloadRetention = retention
			cfg.Protocol.Gaps = &gossip.GapsConfig{Grace: retention + 5*time.Second}
		})
		c.joinAll()
		waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		subs := make([]*Subscription, n)
		for i, nd := range c.nodes {
			subs[i] = nd.Subscribe("p")
		}
		other := c.nodes[n-1].Subscribe("other")
		origin, cut := c.nodes[0], c.nodes[n-1]

		ctx := context.Background()
		var seqs []uint64
		bcast := func(p string) {
			id, err := origin.Broadcast(ctx, "p", []byte(p))
			require.NoError(t, err)
			seqs = append(seqs, plumSeq(id))
		}
		var based atomic.Int64
		for _, nd := range c.nodes {
			stop := nd.OnMessage(func(m Message) {
				if string(m.Payload) == "base" {
					based.Add(1)
				}
			})
			defer stop()
		}
		bcast("base")
		waitFor(t, 10*time.Second, "the base arrives everywhere", func() bool { return based.Load() == n })

		c.net.Partition(c.addrs[:n-1], c.addrs[n-1:])
		time.Sleep(time.Second)
		bcast("lost-1")
		bcast("lost-2")
		time.Sleep(2*retention + time.Second) // every copy of the lost ones expires
		bcast("repaired")
		time.Sleep(time.Second)
		c.net.Heal()
		waitFor(t, 60*time.Second, "member lists converge after healing", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		bcast("after")

		for i := range c.nodes {
			got, gaps := receiveCovering(t, subs[i], seqs, 60*time.Second)
			if i == n-1 {
				require.Equal(t, []Gap{{Origin: origin.ID(), First: seqs[1], Last: seqs[2], Count: 2}}, gaps, "node %d", i)
				require.ElementsMatch(t, []string{"base", "repaired", "after"}, got, "node %d", i)
				continue
			}
			require.Empty(t, gaps, "node %d", i)
			require.Len(t, got, len(seqs), "node %d", i)
		}
		m, err := other.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, Gap{Origin: origin.ID(), First: seqs[1], Last: seqs[2], Count: 2}, m.Gap, "a gap has no topic: every subscriber is told")
		require.Equal(t, uint64(1), cut.Counters().Engine.GapsReported)
		require.Equal(t, uint64(2), cut.Counters().Engine.MessagesReportedMissed)
		for _, nd := range c.nodes[:n-1] {
			require.Zero(t, nd.Counters().Engine.GapsReported)
		}
	})
}

// plumSeq returns the sequence half of an ID.
func plumSeq(id MessageID) uint64 {
	var s uint64
	for _, b := range id[8:] {
		s = s<<8 | uint64(b)
	}
	return s
}

// receiveCovering reads sub until the messages and gap notices it
// received cover every sequence of seqs exactly once (bounded by virtual
// time), and returns the payloads in order and the gap notices.
func receiveCovering(t *testing.T, sub *Subscription, seqs []uint64, limit time.Duration) (payloads []string, gaps []Gap) {
	t.Helper()
	want := map[uint64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	covered := map[uint64]bool{}
	cover := func(s uint64) {
		require.True(t, want[s], "sequence %x was never broadcast", s)
		require.False(t, covered[s], "sequence %x covered twice", s)
		covered[s] = true
	}
	timeout := time.After(limit)
	for len(covered) < len(want) {
		select {
		case m := <-sub.C():
			require.Zero(t, m.Lagged, "no message may be dropped here")
			if m.Gap.Count > 0 {
				require.Equal(t, m.Gap.Last-m.Gap.First+1, m.Gap.Count)
				for s := m.Gap.First; s <= m.Gap.Last; s++ {
					cover(s)
				}
				gaps = append(gaps, m.Gap)
				continue
			}
			cover(plumSeq(m.ID))
			payloads = append(payloads, string(m.Payload))
		case <-timeout:
			t.Fatalf("covered %d of %d broadcasts within %v", len(covered), len(want), limit)
		}
	}
	return payloads, gaps
}
