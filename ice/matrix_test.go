package ice

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// direct says whether a direct path exists between nodes behind a and b
// (RFC 4787; RFC 8445 §2): a node on a public address or behind a full
// cone NAT can be reached by anyone who learns its address; two nodes
// with endpoint-independent mappings punch holes for each other by
// sending at once; a symmetric NAT gives the peer a fresh port the peer's
// NAT must accept unasked, which only filtering that ignores the port
// (address-restricted or weaker) does. The rest must be relayed.
func direct(a, b nat) bool {
	if a > b {
		a, b = b, a
	}
	switch {
	case a <= natFullCone:
		return true
	case b == natSymmetric:
		return a == natAddrRestr
	}
	return true
}

// TestNATMatrix connects two nodes across every pair of NAT behaviours on
// pion's virtual network, inside a synctest bubble (virtual time), and
// checks the path: direct where the NATs allow it, relayed otherwise,
// never none; then that frames flow both ways over QUIC with the pinned
// keys. The first node of each pair is the controlling agent. Datagrams
// crossing the internet and signals take wanDelay and signalDelay. Run
// with -v for the table docs/nat.md shows.
func TestNATMatrix(t *testing.T) {
	var rows []string
	for _, a := range nats {
		for _, b := range nats {
			t.Run(a.String()+"/"+b.String(), func(t *testing.T) {
				var cells []cell
				for range *matrixRuns {
					synctest.Test(t, func(t *testing.T) {
						cells = append(cells, matrixCell(t, a, b))
					})
				}
				if t.Failed() {
					return
				}
				times := make([]time.Duration, len(cells))
				for i, c := range cells {
					times[i] = c.elapsed
				}
				slices.Sort(times)
				p50, p99 := times[(len(times)-1)/2], times[(len(times)*99+99)/100-1]
				c := cells[0]
				rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s / %s | %v / %v | %d |", a, b, c.pair, c.pair.Kind(), c.other, p50, p99, c.relayed))
			})
		}
	}
	t.Logf("\n%d runs of each cell\n| controlling | controlled | pair (controlling side, first run) | kind (controlling / controlled) | time to connect p50 / p99 | bytes through the relay (its checks; the frames when relayed) |\n|---|---|---|---|---|---|\n%s",
		*matrixRuns, strings.Join(rows, "\n"))
}

// matrixRuns is how many times each cell of the matrix connects.
var matrixRuns = flag.Int("ice.matrix.runs", 3, "connections per cell of TestNATMatrix (its table gives the p50 and p99 of their times)")

// cell is what one connection of the matrix found.
type cell struct {
	pair    Path
	other   PathKind // the controlled side's
	elapsed time.Duration
	relayed int64 // bytes the relay carried for the frames
}

// Latencies of the matrix: each datagram crossing the virtual internet
// takes wanDelay, each signal (through a rendezvous node, two hops)
// signalDelay, one way.
const (
	wanDelay    = 20 * time.Millisecond
	signalDelay = 50 * time.Millisecond
)

func matrixCell(t *testing.T, a, b nat) cell {
	w := newWorldDelay(t, a, b, wanDelay)
	ida, idb := orderedIdentities(t)
	ma, mb := new(Metrics), new(Metrics)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ra, rb := connectPairDelay(ctx, w.node(t, 0, ida, ma), w.node(t, 1, idb, mb), ida.Public(), idb.Public(), signalDelay)
	defer closeLink(t, ra.link)
	defer closeLink(t, rb.link)
	require.NoError(t, ra.err, "controlling side")
	require.NoError(t, rb.err, "controlled side")

	pa, pb := ra.link.Path(), rb.link.Path()
	for side, p := range map[string]Path{"controlling": pa, "controlled": pb} {
		switch {
		case a == natNone && b == natNone:
			assert.Equal(t, PathHost, p.Kind(), "%s side's path %v: both public", side, p)
		case direct(a, b):
			assert.NotEqual(t, PathRelay, p.Kind(), "%s side's path %v: a direct path exists", side, p)
		default:
			assert.Equal(t, PathRelay, p.Kind(), "%s side's path %v: only a relay connects these", side, p)
		}
	}
	for _, c := range []struct {
		m *Metrics
		p Path
	}{{ma, pa}, {mb, pb}} {
		assert.Equal(t, int64(1), c.m.Links[c.p.Kind()].Load(), "link counted by its path kind")
		assert.Equal(t, int64(1), c.m.Open[c.p.Kind()].Load(), "link open")
		assert.Equal(t, int64(1), c.m.HolePunchAttempts.Load())
		if c.p.Kind() == PathRelay {
			assert.Equal(t, int64(1), c.m.HolePunchFailures.Load())
		} else {
			assert.Equal(t, int64(1), c.m.HolePunchSuccesses.Load())
		}
	}
	want := pa.Kind()

	// Pinned identities: each side holds the other's key.
	assert.True(t, ra.link.RemoteKey().Equal(idb.Public()))
	assert.True(t, rb.link.RemoteKey().Equal(ida.Public()))
	// Frames flow both ways, larger than one datagram too.
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte(i)
	}
	require.NoError(t, ra.link.Send([]byte("ping")))
	require.NoError(t, rb.link.Send(big))
	f, err := rb.link.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(f))
	f, err = ra.link.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, big, f)
	if want == PathRelay {
		assert.Greater(t, ma.RelayedBytes.Load(), int64(len(big)), "relayed bytes counted")
		assert.Greater(t, w.relay.Stats().RelayedBytes, int64(len(big)), "the relay carried the frames")
	} else {
		assert.Zero(t, ma.RelayedBytes.Load()+mb.RelayedBytes.Load(), "no relayed bytes on a direct path")
	}
	return cell{pair: pa, other: pb.Kind(), elapsed: max(ra.link.Elapsed(), rb.link.Elapsed()), relayed: w.relay.Stats().RelayedBytes}
}
