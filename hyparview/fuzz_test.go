package hyparview

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/plumview/plumview/peer"
)

// FuzzStep decodes bytes into a sequence of inputs for one node (messages
// from eight possible peers, timers, failures, joins and a leave) and checks
// that Step never panics and the invariants hold after every step. Nonces
// are drawn from the node's own requests and links as often as at random,
// so replies, timers and Disconnects reach the interesting branches.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x02\x01\x03\x02\x01\x04\x05\x00\x06\x03\x07\x07\x01\x09\x02\x02\x0a"))
	f.Add([]byte{1, 9, 1, 8, 3, 2, 2, 3, 5, 4, 4, 6, 6, 7, 1, 1, 1, 8, 8, 8, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &fuzzDecoder{data: data}
		active, passive := d.byte(), d.byte()
		cfg := Config{
			ActiveViewSize:  1 + int(active%5),
			PassiveViewSize: 1 + int(passive%8),
			// The high bits choose a join eviction budget of 0 (S1) to 2
			// (doc.go, deviation 12).
			JoinEvictionsPerShuffle: int(passive/8) % 3,
		}
		s, err := New(testPeer(1), cfg, rand.New(rand.NewPCG(uint64(d.byte()), 0)))
		if err != nil {
			t.Fatal(err)
		}
		var out []Output
		for !d.done() {
			in := d.input(s)
			out = s.Step(in, out[:0])
			for _, o := range out {
				if o.Kind == OutputSend && o.Msg == nil {
					t.Fatalf("send without a message: %+v", o)
				}
				if o.Peer.ID == 1 && o.Kind != OutputSetTimer {
					t.Fatalf("output addressed to self: %+v", o)
				}
			}
			if err := s.Invariants(); err != nil {
				t.Fatalf("after %+v: %v", in, err)
			}
			_ = d.byte() // was the clock's advance; kept so the seed corpus decodes as before
		}
	})
}

type fuzzDecoder struct {
	data []byte
	pos  int
}

func (d *fuzzDecoder) done() bool { return d.pos >= len(d.data) }

func (d *fuzzDecoder) byte() byte {
	if d.done() {
		return 0
	}
	b := d.data[d.pos]
	d.pos++
	return b
}

func (d *fuzzDecoder) uint64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = d.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// peerID returns one of eight peers; 1 is the node itself.
func (d *fuzzDecoder) peerID() peer.ID { return peer.ID(1 + d.byte()%8) }

func (d *fuzzDecoder) peer() Peer {
	id := d.peerID()
	if d.byte()%4 == 0 {
		return Peer{ID: id, Addr: "moved"}
	}
	return testPeer(id)
}

// nonce picks a nonce the node knows (a request's or a link's) or any.
func (d *fuzzDecoder) nonce(s *State) uint64 {
	switch k := int(d.byte()); {
	case k%3 == 0 && len(s.pending) > 0:
		return s.pending[k/3%len(s.pending)].nonce
	case k%3 == 1 && len(s.active) > 0:
		l := s.active[k/3%len(s.active)]
		if k&1 == 0 {
			return l.alt
		}
		return l.nonce
	default:
		return d.uint64()
	}
}

func (d *fuzzDecoder) peers() []Peer {
	n := int(d.byte() % 40)
	ps := make([]Peer, n)
	for i := range ps {
		ps[i] = d.peer()
	}
	return ps
}

func (d *fuzzDecoder) ttl() int { return int(int8(d.byte())) }

func (d *fuzzDecoder) input(s *State) Input {
	switch d.byte() % 12 {
	case 0:
		return Input{Kind: InputJoin, Contacts: d.peers()}
	case 1:
		return Input{Kind: InputLeave}
	case 2:
		return Input{Kind: InputConnectionFailed, From: d.peerID()}
	case 3:
		t := Timer{Kind: TimerKind(d.byte() % 4), Peer: d.peerID(), Nonce: d.nonce(s)}
		if t.Kind == TimerShuffle && d.byte()%2 == 0 {
			t.Nonce = s.shuffleNonce
		}
		return Input{Kind: InputTimer, Timer: t}
	case 4:
		return Input{Kind: InputKind(d.byte())}
	default:
		return Input{Kind: InputReceive, From: d.peerID(), Msg: d.message(s)}
	}
}

func (d *fuzzDecoder) message(s *State) Message {
	switch d.byte() % 9 {
	case 0:
		return &Join{Addr: d.peer().Addr, Nonce: d.nonce(s)}
	case 1:
		return &ForwardJoin{NewNode: d.peer(), TTL: d.ttl()}
	case 2:
		return &Neighbor{Priority: Priority(d.byte() % 4), Addr: d.peer().Addr, Nonce: d.nonce(s)}
	case 3:
		return &NeighborReply{Accepted: d.byte()%2 == 0, Addr: d.peer().Addr, Nonce: d.nonce(s)}
	case 4:
		return &Disconnect{Alive: d.byte()%2 == 0, Nonce: d.nonce(s)}
	case 5:
		return &Shuffle{Origin: d.peer(), TTL: d.ttl(), Peers: d.peers()}
	case 6:
		return &ShuffleReply{Peers: d.peers()}
	case 7:
		return nil
	default:
		return (*Shuffle)(nil)
	}
}
