package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	msgpack "github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/plumtree"
)

// Version is the wire-format version byte that starts every frame.
const Version byte = 1

// Tag ranges. Tags below FirstExtensionTag are reserved for the cores.
const (
	FirstHyParViewTag byte = 1  // hyparview tags are 1–31 (1 + MessageType - 1)
	FirstPlumtreeTag  byte = 32 // plumtree tags are 32–63
	FirstExtensionTag byte = 64 // tags from 64 to 255 are free for extensions
)

// Errors returned by Decode, Encode and New. Returned errors wrap one of these
// and add detail; test with errors.Is.
var (
	ErrUnknownVersion = errors.New("wire: unknown version")
	ErrUnknownTag     = errors.New("wire: unknown message tag")
	ErrUnknownType    = errors.New("wire: unregistered message type")
	ErrTruncated      = errors.New("wire: truncated frame")
	ErrTrailingBytes  = errors.New("wire: trailing bytes after message")
	ErrTooLarge       = errors.New("wire: frame exceeds MaxFrameBytes")
	ErrLimit          = errors.New("wire: message exceeds a decoding limit")
	ErrMalformed      = errors.New("wire: malformed message body")
	ErrReservedTag    = errors.New("wire: tag is reserved for core messages")
	ErrDuplicateTag   = errors.New("wire: tag registered twice")
	ErrBadType        = errors.New("wire: bad extension type")
)

// Type registers an extension message type. New returns a fresh pointer to
// the message's struct (for instance func() peer.Message { return new(gossip.Digest) });
// Decode returns values of exactly that pointer type, and Encode accepts them.
//
// The struct must hold only concrete types (no interface fields) so decoding
// never produces a value the receiver did not ask for. If the pointer type
// has a method Validate() error, Decode calls it and rejects the frame when it
// fails; use it to bound collection lengths, as the core types do.
type Type struct {
	Tag byte
	New func() peer.Message
}

// Limits bound what Decode accepts from a peer. Zero fields take the
// defaults listed with each field.
type Limits struct {
	// MaxFrameBytes is the largest frame Decode accepts. Default 1 MiB, the
	// transport's default frame limit.
	MaxFrameBytes int
	// MaxCollectionLen bounds every list in a core message (Shuffle.Peers,
	// ShuffleReply.Peers, IHave.Entries) and every string or byte slice's
	// preallocation. Default 4096: far above the papers' shuffle sizes
	// (ka+kp ≤ 8) and the lazy-push batch (MaxIHaveEntries).
	MaxCollectionLen int
	// MaxDepth bounds nesting of msgpack containers. Default 16: core
	// messages nest at most 3 deep.
	MaxDepth int
}

const (
	defaultMaxFrameBytes    = 1 << 20
	defaultMaxCollectionLen = 4096
	defaultMaxDepth         = 16
)

func (l Limits) withDefaults() Limits {
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = defaultMaxFrameBytes
	}
	if l.MaxCollectionLen <= 0 {
		l.MaxCollectionLen = defaultMaxCollectionLen
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxDepth > 1<<14 {
		l.MaxDepth = 1 << 14
	}
	return l
}

// Codec encodes and decodes framed messages. It is safe for concurrent use.
type Codec struct {
	limits Limits
	byTag  [256]func() peer.Message
	byType map[reflect.Type]byte
	handle *msgpack.MsgpackHandle
	decs   sync.Pool // *msgpack.Decoder
	encs   sync.Pool // *encoder
}

type encoder struct {
	buf []byte
	enc *msgpack.Encoder
}

// New returns a Codec for the core messages plus the extra types, with the
// default Limits. Registering a tag below FirstExtensionTag, the same tag
// twice, or the same Go type twice is an error.
func New(extra ...Type) (*Codec, error) {
	return NewWithLimits(Limits{}, extra...)
}

// NewWithLimits is New with explicit decoding limits.
func NewWithLimits(limits Limits, extra ...Type) (*Codec, error) {
	c := &Codec{limits: limits.withDefaults(), byType: make(map[reflect.Type]byte)}
	for _, t := range coreTypes() {
		if err := c.register(t); err != nil {
			return nil, err
		}
	}
	for _, t := range extra {
		if t.Tag < FirstExtensionTag {
			return nil, fmt.Errorf("%w: %d (extensions use %d–255)", ErrReservedTag, t.Tag, FirstExtensionTag)
		}
		if err := c.register(t); err != nil {
			return nil, err
		}
	}
	h := &msgpack.MsgpackHandle{WriteExt: true}
	h.StructToArray = true
	h.MaxDepth = int16(c.limits.MaxDepth)
	h.MaxInitLen = c.limits.MaxCollectionLen
	h.ErrorIfNoArrayExpand = true
	c.handle = h
	return c, nil
}

func (c *Codec) register(t Type) error {
	if t.New == nil {
		return fmt.Errorf("%w: tag %d has no New function", ErrBadType, t.Tag)
	}
	if c.byTag[t.Tag] != nil {
		return fmt.Errorf("%w: %d", ErrDuplicateTag, t.Tag)
	}
	v := t.New()
	rt := reflect.TypeOf(v)
	if rt == nil || rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%w: tag %d: New must return a pointer to a struct, got %T", ErrBadType, t.Tag, v)
	}
	if old, dup := c.byType[rt]; dup {
		return fmt.Errorf("%w: %v already has tag %d", ErrDuplicateTag, rt, old)
	}
	c.byTag[t.Tag] = t.New
	c.byType[rt] = t.Tag
	return nil
}

// Limits returns the limits the codec enforces.
func (c *Codec) Limits() Limits { return c.limits }

// Tag returns the tag msg is encoded with, and whether its type is registered.
func (c *Codec) Tag(msg peer.Message) (byte, bool) {
	tag, ok := c.byType[reflect.TypeOf(msg)]
	return tag, ok
}

// Encode returns the frame for msg: Version, the type's tag, then the
// msgpack body. msg must be a registered pointer type.
func (c *Codec) Encode(msg peer.Message) ([]byte, error) {
	return c.AppendEncode(nil, msg)
}

// AppendEncode appends the frame for msg to dst and returns the extended
// slice. On error dst is returned unchanged.
func (c *Codec) AppendEncode(dst []byte, msg peer.Message) ([]byte, error) {
	tag, ok := c.Tag(msg)
	if !ok || reflect.ValueOf(msg).IsNil() {
		return dst, fmt.Errorf("%w: %T", ErrUnknownType, msg)
	}
	e, _ := c.encs.Get().(*encoder)
	if e == nil {
		e = &encoder{buf: make([]byte, 0, 512)}
		e.enc = msgpack.NewEncoderBytes(&e.buf, c.handle)
	} else {
		e.enc.ResetBytes(&e.buf)
	}
	err := e.enc.Encode(msg)
	if err == nil {
		dst = append(dst, Version, tag)
		dst = append(dst, e.buf...)
	}
	if err == nil && cap(e.buf) <= 64<<10 { // do not pin huge buffers in the pool
		c.encs.Put(e)
	}
	if err != nil {
		return dst, fmt.Errorf("wire: encode %T: %w", msg, err)
	}
	return dst, nil
}

// Decode parses one frame and returns a pointer to the decoded message, of
// the type registered for its tag (for instance *hyparview.Shuffle). It never
// panics; the error wraps one of the package's sentinel errors. The returned
// message does not alias frame.
func (c *Codec) Decode(frame []byte) (msg peer.Message, err error) {
	if len(frame) > c.limits.MaxFrameBytes {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(frame), c.limits.MaxFrameBytes)
	}
	if len(frame) < 3 {
		return nil, fmt.Errorf("%w: %d bytes, need version, tag and body", ErrTruncated, len(frame))
	}
	if frame[0] != Version {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, frame[0])
	}
	newMsg := c.byTag[frame[1]]
	if newMsg == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownTag, frame[1])
	}
	msg = newMsg()
	body := frame[2:]
	defer func() { // go-msgpack recovers its own panics; this is a second net
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: tag %d: panic: %v", ErrMalformed, frame[1], r)
		}
	}()
	d, _ := c.decs.Get().(*msgpack.Decoder)
	if d == nil {
		d = msgpack.NewDecoderBytes(body, c.handle)
	} else {
		d.ResetBytes(body)
	}
	err = d.Decode(msg)
	n := d.NumBytesRead()
	d.ResetBytes([]byte{}) // drop the reference to frame before pooling
	c.decs.Put(d)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: tag %d", ErrTruncated, frame[1])
		}
		return nil, fmt.Errorf("%w: tag %d: %v", ErrMalformed, frame[1], err)
	}
	if n != len(body) {
		return nil, fmt.Errorf("%w: tag %d: %d of %d body bytes unread", ErrTrailingBytes, frame[1], len(body)-n, len(body))
	}
	if err := c.validate(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// coreTypes lists the core messages with their reserved tags.
func coreTypes() []Type {
	hv := func(t hyparview.MessageType) byte { return FirstHyParViewTag + byte(t) - 1 }
	pt := func(t plumtree.MessageType) byte { return FirstPlumtreeTag + byte(t) - 1 }
	return []Type{
		{hv(hyparview.TypeJoin), func() peer.Message { return new(hyparview.Join) }},
		{hv(hyparview.TypeForwardJoin), func() peer.Message { return new(hyparview.ForwardJoin) }},
		{hv(hyparview.TypeNeighbor), func() peer.Message { return new(hyparview.Neighbor) }},
		{hv(hyparview.TypeNeighborReply), func() peer.Message { return new(hyparview.NeighborReply) }},
		{hv(hyparview.TypeDisconnect), func() peer.Message { return new(hyparview.Disconnect) }},
		{hv(hyparview.TypeShuffle), func() peer.Message { return new(hyparview.Shuffle) }},
		{hv(hyparview.TypeShuffleReply), func() peer.Message { return new(hyparview.ShuffleReply) }},
		{pt(plumtree.MessageGossip), func() peer.Message { return new(plumtree.Gossip) }},
		{pt(plumtree.MessageIHave), func() peer.Message { return new(plumtree.IHave) }},
		{pt(plumtree.MessageGraft), func() peer.Message { return new(plumtree.Graft) }},
		{pt(plumtree.MessagePrune), func() peer.Message { return new(plumtree.Prune) }},
	}
}

// validate applies the collection limit to the core messages and calls an
// extension's Validate method.
func (c *Codec) validate(msg peer.Message) error {
	limit := c.limits.MaxCollectionLen
	n := 0
	switch m := msg.(type) {
	case *hyparview.Shuffle:
		n = len(m.Peers)
	case *hyparview.ShuffleReply:
		n = len(m.Peers)
	case *plumtree.IHave:
		n = len(m.Entries)
	case interface{ Validate() error }:
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%w: %T: %v", ErrLimit, msg, err)
		}
	}
	if n > limit {
		return fmt.Errorf("%w: %T has %d entries > %d", ErrLimit, msg, n, limit)
	}
	return nil
}

// StreamBytes is how many bytes a frame of frameLen bytes occupies on a
// connection: the transport's record header (a uvarint of frameLen<<1,
// see transport's framing) and the frame itself. The simulator counts
// traffic with it.
func StreamBytes(frameLen int) int {
	var hdr [binary.MaxVarintLen64]byte
	return binary.PutUvarint(hdr[:], uint64(frameLen)<<1) + frameLen
}
