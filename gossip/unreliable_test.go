package gossip

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
)

// Which messages may travel as datagrams, and which the receiver answers:
// the probes, a shuffle's reply, a low-priority NEIGHBOR and its refusal;
// never an acceptance (the link lives on the connection that carries it),
// a high-priority request or anything of Plumtree's.
func TestUnreliableMessages(t *testing.T) {
	for _, tc := range []struct {
		name         string
		msg          Message
		ok, answered bool
	}{
		{"ping", &Ping{Nonce: 1}, true, true},
		{"ack", &Ack{Nonce: 1}, true, false},
		{"shuffle reply", &hyparview.ShuffleReply{}, true, false},
		{"low-priority neighbor", &hyparview.Neighbor{Priority: hyparview.PriorityLow}, true, true},
		{"high-priority neighbor", &hyparview.Neighbor{Priority: hyparview.PriorityHigh}, false, false},
		{"refusal", &hyparview.NeighborReply{Accepted: false}, true, false},
		{"acceptance", &hyparview.NeighborReply{Accepted: true}, false, false},
		{"join", &hyparview.Join{}, false, false},
		{"disconnect", &hyparview.Disconnect{}, false, false},
		{"shuffle", &hyparview.Shuffle{}, false, false},
		{"gossip", &plumtree.Gossip{}, false, false},
		{"graft", &plumtree.Graft{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, answered := Unreliable(tc.msg)
			assert.Equal(t, tc.ok, ok, "may travel as a datagram")
			assert.Equal(t, tc.answered, answered, "answered")
		})
	}
}
