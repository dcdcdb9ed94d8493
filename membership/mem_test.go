package membership

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// Forty nodes join through one seed; every member list shows every node
// alive, and every broadcast is delivered exactly once by every node to
// the subscriptions of its topic only.
func TestMemJoinConvergeBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 40)
		c.joinAll()
		waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })

		var news, all []*Subscription
		for _, nd := range c.nodes {
			news = append(news, nd.Subscribe("news"))
			all = append(all, nd.Subscribe())
		}
		ctx := context.Background()
		for i, nd := range c.nodes {
			_, err := nd.Broadcast(ctx, "news", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
			_, err = nd.Broadcast(ctx, "other", []byte(fmt.Sprint(i)))
			require.NoError(t, err)
		}
		for i := range c.nodes {
			got := receiveN(t, news[i], len(c.nodes), 10*time.Second)
			require.Len(t, got, len(c.nodes), "node %d", i)
			for k, v := range got {
				require.Equal(t, 1, v, "node %d got %s %d times", i, k, v)
				require.Regexp(t, "^news/", k)
			}
			got = receiveN(t, all[i], 2*len(c.nodes), 10*time.Second)
			require.Len(t, got, 2*len(c.nodes), "node %d", i)
		}
		// Nothing more arrives: exactly once.
		time.Sleep(5 * time.Second)
		for i := range c.nodes {
			requireNothingWaiting(t, news[i], "node ", i, ": a duplicate arrived")
			requireNothingWaiting(t, all[i], "node ", i, ": a duplicate arrived")
		}
	})
}

// A node that crashes (its transport vanishes; peers notice only by idle
// timeout) is declared failed by every other node; a node that leaves is
// shown as left, and watchers see both events.
func TestMemCrashFailsLeaveLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newMemCluster(t, 12)
		c.joinAll()
		waitFor(t, 30*time.Second, "member lists converge", func() bool { return allSee(c.nodes, c.nodes, StateAlive) })
		w := c.nodes[0].Events()
		defer w.Close()

		crashed, leaver := c.nodes[5], c.nodes[7]
		c.net.Crash(c.addrs[5])
		_ = crashed.Close()
		t.Logf("crashed %x leaver %x", crashed.ID(), leaver.ID())
		require.NoError(t, leaver.Leave(context.Background()))
		t0 := time.Now()

		rest := []*Node{}
		for i, nd := range c.nodes {
			if i != 5 && i != 7 {
				rest = append(rest, nd)
			}
		}
		waitFor(t, 30*time.Second, "crash declared failed everywhere", func() bool { return allSee(rest, []*Node{crashed}, StateFailed) })
		waitFor(t, 30*time.Second, "leave shown everywhere", func() bool {
			ok := allSee(rest, []*Node{leaver}, StateLeft)
			if !ok && time.Now().Sub(t0) > 29*time.Second {
				for _, nd := range rest {
					a, p := nd.Views()
					e, l := nd.Trees()
					t.Logf("%x: leaver %v active %x passive %d eager %x lazy %x", nd.ID(), states(nd)[leaver.ID()], a, len(p), e, l)
				}
			}
			return ok
		})
		require.True(t, allSee(rest, rest, StateAlive), "no false failure")

		seen := map[EventKind]uint64{}
		for {
			e, err := w.Next(done()) // takes what is waiting, without waiting
			if err != nil {
				break
			}
			require.Zero(t, e.Lagged)
			if e.Member.ID == crashed.ID() || e.Member.ID == leaver.ID() {
				seen[e.Kind] = e.Member.ID
			}
		}
		require.Equal(t, crashed.ID(), seen[EventFail])
		require.Equal(t, leaver.ID(), seen[EventLeave])
		require.Nil(t, crashed.Members(), "a closed node answers nothing")
	})
}
