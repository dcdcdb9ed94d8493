package plumtree

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Our addition to S2: with NeighborUpAnnouncements set, a new neighbour is
// told in IHaves of round 0 of the newest messages whose payloads are held,
// oldest first, in batches of MaxIHaveEntries, and GRAFTs what it lacks.
func TestNeighborUpAnnouncesRecentMessages(t *testing.T) {
	cfg := immediate()
	cfg.NeighborUpAnnouncements = 3
	cfg.MaxIHaveEntries = 2
	s := newNode(t, 1, cfg)
	for seq := uint64(1); seq <= 4; seq++ {
		step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte{byte(seq)}})
	}
	out := step(t, s, at(0), Input{Kind: InputNeighborUp, Peer: 2})
	own := func(seq uint64) Announcement { return Announcement{ID: OriginSequenceID(1, seq)} }
	require.Equal(t, []Output{
		sendTo(2, ihave(own(2), own(3))),
		sendTo(2, ihave(own(4))),
	}, out)
	require.Equal(t, uint64(3), s.Counters().NeighborUpAnnouncements)
	require.Empty(t, step(t, s, at(0), Input{Kind: InputNeighborUp, Peer: 2}), "an existing neighbour is not told again")

	// The neighbour grafts one; the payload comes back with round 0.
	out = step(t, s, at(0), recv(2, &Graft{ID: OriginSequenceID(1, 3), HasID: true}))
	require.Equal(t, []Output{sendTo(2, &Gossip{ID: OriginSequenceID(1, 3), Payload: []byte{3}})}, out)
}

// The zero Config announces nothing on neighbour up, as in S2 Algorithm 3.
func TestNeighborUpAnnouncesNothingByDefault(t *testing.T) {
	s := newNode(t, 1, immediate())
	step(t, s, at(0), Input{Kind: InputBroadcast, Payload: []byte("x")})
	require.Empty(t, step(t, s, at(0), Input{Kind: InputNeighborUp, Peer: 2}))
}

// BroadcastID sends under the caller's ID, and refuses an ID already
// delivered.
func TestBroadcastIDDeduplicates(t *testing.T) {
	s := newNode(t, 1, immediate(), 2)
	id := ContentHashID([]byte("rec"))
	out, err := s.BroadcastID(at(0), id, []byte("rec"), nil)
	require.NoError(t, err)
	require.Equal(t, []Output{sendTo(2, &Gossip{ID: id, Payload: []byte("rec")}), delivered(id, []byte("rec"), 0, 1)}, out)
	out, err = s.BroadcastID(at(0), id, []byte("rec"), nil)
	require.ErrorIs(t, err, ErrDuplicatePayload)
	require.Empty(t, out)
}
