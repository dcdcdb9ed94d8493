package scenario

import (
	"fmt"

	"github.com/plumview/plumview/gossip"
	"github.com/plumview/plumview/wire"
)

// byteCounter counts the bytes that messages occupy on a connection,
// encoded by the runtime's own codec (gossip.NewCodec) and framed as the
// transport frames them (wire.StreamBytes). One message sent to several
// peers (a relayed GOSSIP to every eager peer) is encoded once.
type byteCounter struct {
	codec    *wire.Codec
	buf      []byte
	last     gossip.Message
	lastSize int
	total    uint64
	// probes counts the bytes of the liveness probes alone (Ping,
	// PingReq, Ack), included in total.
	probes uint64
}

func newByteCounter() (*byteCounter, error) {
	c, err := gossip.NewCodec(wire.Limits{})
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return &byteCounter{codec: c}, nil
}

// add counts one message sent.
func (b *byteCounter) add(msg gossip.Message) {
	if msg != b.last {
		var err error
		b.buf, err = b.codec.AppendEncode(b.buf[:0], msg)
		if err != nil {
			panic(fmt.Sprintf("scenario: the engine sent a message its codec cannot encode: %v", err))
		}
		b.last, b.lastSize = msg, wire.StreamBytes(len(b.buf))
	}
	b.total += uint64(b.lastSize)
	switch msg.(type) {
	case *gossip.Ping, *gossip.PingReq, *gossip.Ack:
		b.probes += uint64(b.lastSize)
	}
}
