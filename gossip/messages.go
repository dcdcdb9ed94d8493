package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/roster"
	"github.com/plumview/plumview/wire"
)

// Limits of the membership layer's messages and envelopes. A received
// message over them is malformed.
const (
	// MaxTopicBytes bounds an application message's topic.
	MaxTopicBytes = 256
	// MaxDigestEntries bounds the entries of one Digest; a larger digest
	// travels in several (roster.Chunks). 1024 entries are about 17 KiB.
	MaxDigestEntries = 1024
	// MaxRecordsPerMessage bounds the records (and wanted IDs) of one
	// Records message: 256 records of at most 512 B of metadata and 1 KiB
	// of address stay well under the transport's 1 MiB frame.
	MaxRecordsPerMessage = 256
)

// Extension tags of the membership layer's messages in the wire codec
// (wire reserves 64–255 for extensions).
const (
	TagDigest  byte = 64
	TagRecords byte = 65
)

// Digest is one chunk of a node's member-list digest, sent to a neighbour
// when it comes up (anti-entropy): the receiver answers with Records.
type Digest struct {
	peer.Sealed
	From, To peer.ID
	Entries  []roster.DigestEntry
}

// Records carries member records for the receiver to merge, and the IDs
// whose records the sender wants back (the answer to a Digest). An answer
// to a Records message never wants anything, so an exchange ends.
type Records struct {
	peer.Sealed
	Records []roster.Record
	Want    []peer.ID
}

// Validate bounds the digest's size; the roster checks its contents.
func (d *Digest) Validate() error {
	if len(d.Entries) > MaxDigestEntries {
		return fmt.Errorf("digest of %d entries exceeds %d", len(d.Entries), MaxDigestEntries)
	}
	return nil
}

// Validate bounds the message's size; the roster checks each record.
func (r *Records) Validate() error {
	if len(r.Records) > MaxRecordsPerMessage || len(r.Want) > MaxRecordsPerMessage {
		return fmt.Errorf("records message of %d records, %d wanted exceeds %d", len(r.Records), len(r.Want), MaxRecordsPerMessage)
	}
	return nil
}

// NewCodec returns the wire codec of every message of the pure stack: the
// cores' messages and the composition's own (Digest, Records), registered
// here once. Zero limits take wire's defaults.
func NewCodec(limits wire.Limits) (*wire.Codec, error) {
	return wire.NewWithLimits(limits,
		wire.Type{Tag: TagDigest, New: func() peer.Message { return new(Digest) }},
		wire.Type{Tag: TagRecords, New: func() peer.Message { return new(Records) }},
		wire.Type{Tag: TagPing, New: func() peer.Message { return new(Ping) }},
		wire.Type{Tag: TagPingReq, New: func() peer.Message { return new(PingReq) }},
		wire.Type{Tag: TagAck, New: func() peer.Message { return new(Ack) }},
		wire.Type{Tag: TagHeads, New: func() peer.Message { return new(Heads) }},
		wire.Type{Tag: TagViewsRequest, New: func() peer.Message { return new(ViewsRequest) }},
		wire.Type{Tag: TagViewsReply, New: func() peer.Message { return new(ViewsReply) }},
		wire.Type{Tag: TagSignal, New: func() peer.Message { return new(Signal) }},
		wire.Type{Tag: TagReachRequest, New: func() peer.Message { return new(ReachRequest) }},
		wire.Type{Tag: TagReachAnswer, New: func() peer.Message { return new(ReachAnswer) }},
	)
}

// NeedsProtocol returns the version of the application protocol a peer
// must speak (transport.ProtocolVersion, negotiated per connection) to
// decode m: 3 for the messages version 3 added (Signal, ReachRequest, ReachAnswer), 2 for those
// version 2 added (Heads, ViewsRequest, ViewsReply), 1 for the others. A driver sends nothing to a peer of an
// older version than its message needs: such a peer would take it for a
// malformed frame and close the connection.
func NeedsProtocol(m Message) int {
	switch m.(type) {
	case *Signal, *ReachRequest, *ReachAnswer:
		return 3
	case *Heads, *ViewsRequest, *ViewsReply:
		return 2
	}
	return 1
}

// EnvelopeKind says what a Plumtree payload carries when the member list is
// on.
type EnvelopeKind uint8

// The kinds of envelope.
const (
	// EnvelopeApp is an application message: Topic and Data.
	EnvelopeApp EnvelopeKind = iota + 1
	// EnvelopeRecords is a member-list update: Records.
	EnvelopeRecords
)

// Envelope is the payload of every Plumtree broadcast when the member list
// is on: an application message with its topic, or member records. It is
// encoded with msgpack (structs as arrays).
type Envelope struct {
	Kind    EnvelopeKind
	Topic   string
	Data    []byte
	Records []roster.Record
	// Key and Sig are the origin's public key and its signature over the
	// message's ID, topic and data (SignedOriginBytes), on an application
	// message when origin signatures are on (MembersConfig.Origins).
	Key, Sig []byte
	// Run is the sequence of the origin's first broadcast in its current
	// run (plumtree.Config.FirstSequence), on an application message under
	// the IDOriginSequence policy: it tells a receiver's gap detector a
	// restart from a loss (GapsConfig). Zero (an envelope of an earlier
	// version, or a member record) names no run; such an envelope is
	// encoded as before the field existed.
	Run uint64
	// RunSig is the origin's signature over the message's ID, run, topic
	// and data (SignedOriginRunBytes), when signatures are on and Run is
	// set: the one a node of this version verifies. Sig, over the same
	// without the run (SignedOriginBytes), is kept for the nodes of earlier
	// versions, which ignore Run and RunSig, so that a rolling upgrade
	// loses no broadcast; it can go once no such node is left. An envelope
	// that names a run without a valid RunSig is a forgery: the run must
	// not be changed on the way, since a forged run could hide a gap.
	// Only RunSig is verified then (one verification per broadcast, as
	// before): a member that signs RunSig but not Sig has its broadcast
	// relayed by the nodes of this version and refused, as a forgery
	// charged to the relaying neighbour, by those of earlier versions,
	// which is possible only while both run.
	RunSig []byte
	// HeadSig is the origin's signature over the message's ID and run
	// alone (SignedHeadBytes), when signatures are on and Run is set: the
	// proof, small enough to travel without the payload, that the origin
	// broadcast this far (heads.go). Nodes of earlier versions ignore it.
	HeadSig []byte
	// SentAt is the origin's clock when it broadcast the message, in Unix
	// milliseconds, on an application message with a Run (0: not known,
	// as from a node of an earlier version, or under the IDContentHash
	// policy, whose IDs hash the envelope). It is not signed and serves only the
	// receivers' latency figures (Delivery.SentAt): a relay that changes
	// it misleads a histogram, nothing else. Nodes of earlier versions
	// ignore it.
	SentAt int64
}

// envelopeV1 is an Envelope without Run, RunSig, HeadSig and SentAt: how
// an envelope that names no run is encoded, byte for byte as before they existed, so that
// the content-derived IDs of member records do not change.
type envelopeV1 struct {
	Kind     EnvelopeKind
	Topic    string
	Data     []byte
	Records  []roster.Record
	Key, Sig []byte
}

// Bounds of an envelope's origin key and signature: an ed25519 key is 32
// bytes and its signature 64; a little room for other schemes.
const (
	MaxOriginKeyBytes = 64
	MaxOriginSigBytes = 128
)

// SignedOriginBytes returns the bytes an origin signs for an application
// message: a domain tag, the message ID, the topic's length and the topic,
// then the data.
func SignedOriginBytes(id plumtree.MessageID, topic string, data []byte) []byte {
	return SignedOriginRunBytes(id, 0, topic, data)
}

// SignedOriginRunBytes returns the bytes an origin signs for an
// application message of the run that started at run (Envelope.Run): with
// run 0, SignedOriginBytes; otherwise a second domain tag, the message ID,
// the run (8 bytes, big-endian), the topic's length and the topic, then
// the data. The two domains keep a signature of one form from passing for
// the other.
func SignedOriginRunBytes(id plumtree.MessageID, run uint64, topic string, data []byte) []byte {
	b := make([]byte, 0, len(originRunDomain)+len(id)+8+binary.MaxVarintLen64+len(topic)+len(data))
	if run == 0 {
		b = append(b, originDomain...)
		b = append(b, id[:]...)
	} else {
		b = append(b, originRunDomain...)
		b = append(b, id[:]...)
		b = binary.BigEndian.AppendUint64(b, run)
	}
	b = binary.AppendUvarint(b, uint64(len(topic)))
	b = append(b, topic...)
	return append(b, data...)
}

// originDomain separates origin signatures from any other use of a key.
const (
	originDomain    = "plumview/origin/v1\x00"
	originRunDomain = "plumview/origin/v2\x00"
)

// ErrMalformedEnvelope wraps every envelope decoding failure.
var ErrMalformedEnvelope = errors.New("gossip: malformed envelope")

// envelopeLimits bound a received envelope: records nest four deep, and
// no list is longer than MaxRecordsPerMessage.
var envelopeLimits = wire.ValueLimits{MaxDepth: 8, MaxCollectionLen: MaxRecordsPerMessage}

// EncodeEnvelope returns the msgpack encoding of e.
func EncodeEnvelope(e *Envelope) ([]byte, error) {
	if e.Run == 0 && len(e.RunSig) == 0 && len(e.HeadSig) == 0 && e.SentAt == 0 {
		return wire.MarshalValue(&envelopeV1{Kind: e.Kind, Topic: e.Topic, Data: e.Data, Records: e.Records, Key: e.Key, Sig: e.Sig})
	}
	return wire.MarshalValue(e)
}

// DecodeEnvelope parses a payload produced by EncodeEnvelope and checks its
// kind and bounds. It never panics.
func DecodeEnvelope(b []byte) (e Envelope, err error) {
	if err := wire.UnmarshalValue(b, &e, envelopeLimits); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformedEnvelope, err)
	}
	switch {
	case e.Kind == EnvelopeApp && len(e.Topic) <= MaxTopicBytes && len(e.Records) == 0 &&
		len(e.Key) <= MaxOriginKeyBytes && len(e.Sig) <= MaxOriginSigBytes && len(e.RunSig) <= MaxOriginSigBytes && len(e.HeadSig) <= MaxOriginSigBytes:
	case e.Kind == EnvelopeRecords && len(e.Records) > 0 && len(e.Records) <= MaxRecordsPerMessage && e.Topic == "" && len(e.Data) == 0 &&
		len(e.Key) == 0 && len(e.Sig) == 0 && e.Run == 0 && len(e.RunSig) == 0 && len(e.HeadSig) == 0 && e.SentAt == 0:
	default:
		return Envelope{}, fmt.Errorf("%w: kind %d with %d records, topic of %d bytes", ErrMalformedEnvelope, e.Kind, len(e.Records), len(e.Topic))
	}
	return e, nil
}

// Unreliable reports whether m may travel as one connectionless datagram
// that can be lost (transport.Datagrams) when the driver holds no
// connection to the receiver, and whether the receiver answers it. A
// liveness probe (answered by an Ack, whose loss the probe's own timeouts
// cover) and a shuffle's reply (HyParView's passive views are refreshed
// again at the next shuffle; S1 §4.4 sends it over a temporary
// connection) go to members this node usually holds no connection to, and
// a connection of their own costs far more than the message. So does a
// low-priority NEIGHBOR request and its refusal (S1 §4.3): a node short of
// neighbours asks passive peers that are mostly full and refuse, and a
// connection set up for a request that is refused carries nothing else.
// An acceptance is not unreliable: the link it makes lives on a
// connection, which the acceptor opens to send it, so that the reply and
// everything the link carries after it arrive in order. A high-priority
// request is always accepted (S1 §4.3) and goes over the connection its
// link will use. Every other message needs the ordered, reliable
// connection its protocol assumes. The answer lets a driver learn that a
// receiver reads datagrams (its answer comes back as one) and fall back to
// a connection when it does not (an agent of an earlier version).
func Unreliable(m Message) (ok, answered bool) {
	switch m := m.(type) {
	case *Ping:
		return true, true
	case *hyparview.Neighbor:
		low := m.Priority == hyparview.PriorityLow
		return low, low
	case *hyparview.NeighborReply:
		return !m.Accepted, false
	case *Ack, *hyparview.ShuffleReply:
		return true, false
	}
	return false, false
}
