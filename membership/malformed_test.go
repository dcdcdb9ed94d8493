package membership

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	metrics "github.com/hashicorp/go-metrics"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// A peer that sends a frame the codec refuses is dropped: the node closes
// that connection with a reason the peer reads, counts it in its metrics,
// and goes on serving others. A message of an extension the node does not
// know (a later version's) is only counted: the connection stays.
func TestMalformedFrameClosesConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := transport.NewMemNetwork(1)
		id, err := transport.GenerateIdentity()
		require.NoError(t, err)
		tr, err := net.Listen("node", id, transport.MemConfig{})
		require.NoError(t, err)
		sink := metrics.NewInmemSink(time.Hour, time.Hour)
		mc := metrics.DefaultConfig("test")
		mc.EnableRuntimeMetrics, mc.EnableHostname = false, false
		m, err := metrics.New(mc, sink)
		require.NoError(t, err)
		cfg := testConfig(tr, 1)
		cfg.Metrics = m
		nd, err := New(cfg)
		require.NoError(t, err)
		defer nd.Close()
		require.NoError(t, nd.Join(context.Background()))

		rogueID, err := transport.GenerateIdentity()
		require.NoError(t, err)
		rogue, err := net.Listen("rogue", rogueID, transport.MemConfig{})
		require.NoError(t, err)
		defer rogue.Close()
		c, err := rogue.Dial(context.Background(), "node", tr.PublicKey())
		require.NoError(t, err)
		require.NoError(t, c.Send([]byte{1, 250, 0})) // version 1, unknown extension tag
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-c.Done():
			t.Fatal("an unknown extension closed the connection")
		default:
		}
		require.NoError(t, c.Send([]byte{1, 8, 0x92})) // version 1, unknown core tag
		<-c.Done()
		var ce *transport.CloseError
		require.ErrorAs(t, c.Err(), &ce)
		require.Equal(t, "malformed frame", ce.Reason)
		require.True(t, ce.Remote)

		data := sink.Data()
		require.NotEmpty(t, data)
		require.Equal(t, float64(1), data[len(data)-1].Counters["test.frames_malformed_total"].Sum)
		require.Equal(t, float64(1), data[len(data)-1].Counters["test.frames_unknown_total"].Sum)

		_, err = nd.Broadcast(context.Background(), "t", []byte("still running"))
		require.NoError(t, err)
	})
}
