package transport

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memPair starts a network with two nodes, "a" and "b", connected a→b.
func memPair(t *testing.T, cfg Config) (*MemNetwork, Transport, Transport, Conn, Conn) {
	n := NewMemNetwork(7)
	a, b := newMem(t, n, "a", cfg), newMem(t, n, "b", cfg)
	ca, cb := connect(t, a, b)
	return n, a, b, ca, cb
}

func TestMemDelayKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _, _, ca, cb := memPair(t, Config{})
		n.SetDelay(10*time.Millisecond, 50*time.Millisecond)
		start := time.Now()
		for i := range 50 {
			require.NoError(t, ca.Send(fmt.Appendf(nil, "%d", i)))
		}
		first := receive(t, cb)
		assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond)
		assert.Equal(t, "0", string(first))
		for i := 1; i < 50; i++ {
			assert.Equal(t, fmt.Sprint(i), string(receive(t, cb)))
		}
		assert.LessOrEqual(t, time.Since(start), 50*time.Millisecond, "delays overlap: frames are pipelined")
	})
}

func TestMemLossIsDeterministic(t *testing.T) {
	run := func() (got []string, dropped int64) {
		synctest.Test(t, func(t *testing.T) {
			n, a, _, ca, cb := memPair(t, Config{})
			n.SetLoss(0.3)
			for i := range 200 {
				require.NoError(t, ca.Send(fmt.Appendf(nil, "%d", i)))
			}
			require.NoError(t, ca.Close("end"))
			for {
				f, err := cb.Receive(context.Background())
				if err != nil {
					break
				}
				got = append(got, string(f))
			}
			dropped = a.Stats().FramesDropped
		})
		return got, dropped
	}
	got1, dropped1 := run()
	got2, dropped2 := run()
	assert.Equal(t, got1, got2, "same seed, same losses")
	assert.Equal(t, int64(200-len(got1)), dropped1)
	assert.Equal(t, dropped1, dropped2)
	assert.InDelta(t, 60, dropped1, 30, "about 30%% lost")
}

func TestMemPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		a, b, c := newMem(t, n, "a", Config{}), newMem(t, n, "b", Config{}), newMem(t, n, "c", Config{})
		ab, ba := connect(t, a, b)
		ac, _ := connect(t, a, c)
		n.Partition([]string{"a", "c"}, []string{"b"})
		assert.ErrorIs(t, waitDone(t, ab, time.Millisecond), ErrUnreachable)
		assert.ErrorIs(t, waitDone(t, ba, time.Millisecond), ErrUnreachable)
		assert.NoError(t, ac.Err(), "same group: still connected")
		ctx := context.Background()
		_, err := a.Dial(ctx, b.Addr(), keyOf(b))
		assert.ErrorIs(t, err, ErrUnreachable)
		_, err = b.Dial(ctx, c.Addr(), keyOf(c))
		assert.ErrorIs(t, err, ErrUnreachable)
		n.Heal()
		ab2, ba2 := connect(t, a, b)
		require.NoError(t, ab2.Send([]byte("again")))
		assert.Equal(t, "again", string(receive(t, ba2)))
	})
}

func TestMemHookDropsChosenFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, _, ca, cb := memPair(t, Config{})
		var seen []string
		n.SetHook(func(from, to string, frame []byte) bool {
			seen = append(seen, from+">"+to+":"+string(frame))
			return string(frame) != "drop"
		})
		for _, f := range []string{"keep1", "drop", "keep2"} {
			require.NoError(t, ca.Send([]byte(f)))
		}
		assert.Equal(t, "keep1", string(receive(t, cb)))
		assert.Equal(t, "keep2", string(receive(t, cb)))
		assert.Equal(t, []string{"a>b:keep1", "a>b:drop", "a>b:keep2"}, seen)
		assert.Equal(t, int64(1), a.Stats().FramesDropped)
	})
}

func TestMemCrashNoticedAfterIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, a, _, ca, cb := memPair(t, Config{IdleTimeout: time.Second})
		start := time.Now()
		n.Crash("a")
		assert.ErrorIs(t, waitDone(t, ca, time.Millisecond), ErrClosed, "the crashed side's own conns end")
		synctest.Wait()
		assert.NoError(t, cb.Err(), "the peer has not noticed yet")
		assert.NoError(t, cb.Send([]byte("into the void")))
		assert.ErrorIs(t, waitDone(t, cb, 2*time.Second), ErrIdleTimeout)
		assert.Equal(t, time.Second, time.Since(start))
		_, err := a.Accept(context.Background())
		assert.ErrorIs(t, err, ErrClosed)
		_ = newMem(t, n, "a", Config{}) // the address is free again
	})
}

func TestMemListenErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		_ = newMem(t, n, "a", Config{})
		_, err := n.Listen("a", mustIdentity(t), MemConfig{})
		assert.ErrorContains(t, err, "in use")
		_, err = n.Listen("", mustIdentity(t), MemConfig{})
		assert.Error(t, err)
		_, err = n.Listen("x", Identity{}, MemConfig{})
		assert.Error(t, err)
		_, err = n.Listen("y", Identity{Key: mustIdentity(t).Key, CACert: []byte("junk")}, MemConfig{})
		assert.ErrorContains(t, err, "certificate")
		_, err = newMem(t, n, "b", Config{}).Dial(context.Background(), "nowhere", mustIdentity(t).Public())
		assert.ErrorIs(t, err, ErrUnreachable)
	})
}

// A transport behind a NAT (MemConfig.BehindNAT) cannot be dialled, but
// the connections it dials carry frames both ways.
func TestMemBehindNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		id := mustIdentity(t)
		tr, err := n.Listen("nat", id, MemConfig{BehindNAT: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = tr.Close() })
		pub := newMem(t, n, "pub", Config{})
		_, err = pub.Dial(context.Background(), "nat", id.Public())
		assert.ErrorIs(t, err, ErrUnreachable)
		out, in := connect(t, tr, pub)
		require.NoError(t, in.Send([]byte("back")))
		assert.Equal(t, "back", string(receive(t, out)))
	})
}
