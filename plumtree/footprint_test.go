package plumtree

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPayloadFootprintNamesWhatANewPayloadTouches checks the prefetch hint:
// nothing for a duplicate of a recent message, and for a new one the memory
// that recording it then writes.
func TestPayloadFootprintNamesWhatANewPayloadTouches(t *testing.T) {
	s := newNode(t, 1, Config{Flood: true}, 2, 3)
	for seq := uint64(1); seq <= 5; seq++ {
		step(t, s, at(0), recv(2, &Gossip{ID: mid(seq), Payload: []byte("x")}))
	}

	require.Equal(t, Footprint{}, s.PayloadFootprint(mid(5)), "a recent duplicate reads only the first lines")

	f := s.PayloadFootprint(mid(100))
	x, r, p := &s.hist.index, &s.hist.items, &s.hist.payloads
	home := home(x.hash(mid(100)), len(x.slots))
	require.Same(t, &x.slots[home], f.Slot)
	require.Same(t, &s.peers.eager[0], f.Eager)
	require.NotNil(t, f.Item)
	require.NotNil(t, f.Held)

	step(t, s, at(0), recv(2, &Gossip{ID: mid(100), Payload: []byte("y")}))
	require.Same(t, &r.at(r.len()-1).id, f.Item, "the new payload's item is where the hint pointed")
	require.Equal(t, mid(100), *f.Item)
	require.Same(t, p.at(p.len()-1), f.Held, "the new payload is held where the hint pointed")
	require.Equal(t, []byte("y"), *f.Held)
	pos, _, ok := x.find(mid(100), r, s.hist.headSeq)
	require.True(t, ok)
	require.Equal(t, r.len()-1, pos)
}
