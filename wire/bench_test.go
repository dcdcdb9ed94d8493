package wire

import (
	"testing"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

func benchMessages() map[string]peer.Message {
	peers := make([]hyparview.Peer, 8) // the paper's ka+kp shuffle sample
	for i := range peers {
		peers[i] = hyparview.Peer{ID: peer.ID(i + 1), Addr: "10.0.0.1:7946"}
	}
	return map[string]peer.Message{
		"Gossip256": &plumtree.Gossip{ID: plumtree.OriginSequenceID(1, 2), Round: 3, Payload: make([]byte, 256)},
		"Shuffle8":  &hyparview.Shuffle{Origin: peers[0], TTL: 3, Peers: peers},
	}
}

func BenchmarkEncode(b *testing.B) {
	c, _ := New()
	for name, msg := range benchMessages() {
		b.Run(name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = c.AppendEncode(buf[:0], msg)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	c, _ := New()
	for name, msg := range benchMessages() {
		frame, _ := c.Encode(msg)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := c.Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
