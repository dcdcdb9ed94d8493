package hyparview

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/peer"
)

// InputContact (our addition, for partition healing) sends one
// high-priority Neighbor request to the contact, even from a full view,
// and ignores a contact that is self, active or already asked.
func TestContactForcesOneRequest(t *testing.T) {
	s := started(withActive(newState(t, 1, Config{ActiveViewSize: 2}, 1), 2, 3))
	out := step(t, s, Input{Kind: InputContact, Contacts: []Peer{testPeer(9)}})
	require.Len(t, out, 2)
	require.Equal(t, OutputSend, out[0].Kind)
	require.Equal(t, peer.ID(9), out[0].Peer.ID)
	n, ok := out[0].Msg.(*Neighbor)
	require.True(t, ok)
	require.Equal(t, PriorityHigh, n.Priority)
	require.Equal(t, OutputSetTimer, out[1].Kind)

	for _, id := range []peer.ID{9, 2, 1} {
		require.Empty(t, step(t, s, Input{Kind: InputContact, Contacts: []Peer{testPeer(id)}}), "contact %d", id)
	}
	require.Empty(t, step(t, s, Input{Kind: InputContact}), "no contact given")
}
