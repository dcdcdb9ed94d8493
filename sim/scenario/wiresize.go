package scenario

import (
	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/plumtree"
)

// frameOverhead is the bytes every message costs besides its fields: a
// 4-byte length prefix, a version byte and a type tag.
const frameOverhead = 6

// wireSize estimates the encoded size of a message from its fields, with
// compact integer encodings (identities and nonces as 9 bytes, small
// integers as 1, message IDs as 18). The simulator never encodes; this
// estimate makes "bytes per delivery" comparable between runs.
func wireSize(msg gossip.Message) int {
	const id, nonce, small, mid = 9, 9, 1, 18
	peers := func(ps []hyparview.Peer) int {
		n := 3
		for _, p := range ps {
			n += id + 1 + len(p.Addr)
		}
		return n
	}
	n := frameOverhead
	switch m := msg.(type) {
	case *hyparview.Join:
		n += 1 + len(m.Addr) + nonce
	case *hyparview.ForwardJoin:
		n += id + 1 + len(m.NewNode.Addr) + small
	case *hyparview.Neighbor:
		n += small + 1 + len(m.Addr) + nonce
	case *hyparview.NeighborReply:
		n += small + 1 + len(m.Addr) + nonce
	case *hyparview.Disconnect:
		n += small + nonce
	case *hyparview.Shuffle:
		n += id + 1 + len(m.Origin.Addr) + small + peers(m.Peers)
	case *hyparview.ShuffleReply:
		n += peers(m.Peers)
	case *plumtree.Gossip:
		n += mid + small + 3 + len(m.Payload)
	case *plumtree.IHave:
		n += 3 + len(m.Entries)*(mid+small)
	case *plumtree.Graft:
		n += mid + small + small
	case *plumtree.Prune:
	case *gossip.Digest:
		n += 2*id + 3 + len(m.Entries)*(1+id+nonce+small)
	case *gossip.Records:
		n += 3 + 3 + len(m.Want)*id
		for _, r := range m.Records {
			n += 1 + id + 1 + len(r.Addr) + 3 + len(r.Meta) + nonce + small
		}
	}
	return n
}
