package membership

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// A node that joined through an unpinned seed ("host:port") and finds
// itself isolated when that seed dies re-learns the key of whatever node
// serves the seed address now, and joins it.
func TestIsolatedNodeRejoinsReplacedSeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		start := func(addr string, seed uint64) *Node {
			id, err := transport.GenerateIdentity()
			require.NoError(t, err)
			tr, err := net.Listen(addr, id, transport.MemConfig{})
			require.NoError(t, err)
			nd, err := New(testConfig(tr, seed))
			require.NoError(t, err)
			t.Cleanup(func() { _ = nd.Close() })
			return nd
		}
		ctx := context.Background()
		old := start("seed", 1)
		require.NoError(t, old.Join(ctx))
		a := start("a", 2)
		require.NoError(t, a.Join(ctx, "seed"))
		waitFor(t, 10*time.Second, "a and the seed see each other", func() bool { return allSee([]*Node{a, old}, []*Node{a, old}, StateAlive) })

		net.Crash("seed")
		_ = old.Close()
		waitFor(t, 10*time.Second, "a is isolated", func() bool { act, _ := a.Views(); return len(act) == 0 })
		replacement := start("seed", 3)
		require.NoError(t, replacement.Join(ctx))
		waitFor(t, 30*time.Second, "a joins the new seed", func() bool {
			return allSee([]*Node{a, replacement}, []*Node{a, replacement}, StateAlive)
		})
		// The fresh contacts are joined as soon as the seed answers, which
		// may be before the old seed's suspicion ends.
		waitFor(t, 30*time.Second, "a declares the old seed failed", func() bool { return states(a)[old.ID()] == StateFailed })
	})
}
