package wire

import (
	"errors"
	"fmt"
	"sync"

	msgpack "github.com/hashicorp/go-msgpack/v2/codec"
)

// ErrMalformedValue wraps every failure of UnmarshalValue.
var ErrMalformedValue = errors.New("wire: malformed value")

// ValueLimits bounds what UnmarshalValue accepts.
type ValueLimits struct {
	// MaxDepth bounds the nesting of msgpack containers.
	MaxDepth int
	// MaxCollectionLen bounds the preallocation of every list, string and
	// byte slice (go-msgpack's MaxInitLen).
	MaxCollectionLen int
}

// valueHandle returns the msgpack handle of nested values: structs as
// arrays, in the format of the first wire version (raw strings, no bin
// type), so that the bytes of a value, and a content hash taken over them,
// never change with the frame format.
func valueHandle(l ValueLimits) *msgpack.MsgpackHandle {
	h := &msgpack.MsgpackHandle{}
	h.StructToArray = true
	h.MaxDepth = int16(min(max(l.MaxDepth, 1), 1<<14))
	h.MaxInitLen = max(l.MaxCollectionLen, 1)
	return h
}

// MarshalValue encodes v, a pointer to a struct of plain data, as a value
// nested inside a message: a payload that a layer above the cores wraps
// (the composition's envelopes travel as Plumtree payloads).
func MarshalValue(v any) ([]byte, error) {
	var b []byte
	if err := msgpack.NewEncoderBytes(&b, encodeHandle).Encode(v); err != nil {
		return nil, fmt.Errorf("wire: encode %T: %w", v, err)
	}
	return b, nil
}

var encodeHandle = valueHandle(ValueLimits{MaxDepth: 1 << 14, MaxCollectionLen: 1})

// UnmarshalValue decodes b, produced by MarshalValue, into v within the
// limits. It never panics; trailing bytes are an error; every error wraps
// ErrMalformedValue.
func UnmarshalValue(b []byte, v any, l ValueLimits) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic: %v", ErrMalformedValue, r)
		}
	}()
	if b == nil {
		b = noBytes // a decoder ignores a nil slice, keeping the last one
	}
	vd := valueDecoderFor(l)
	d, _ := vd.decs.Get().(*msgpack.Decoder)
	if d == nil {
		d = msgpack.NewDecoderBytes(b, vd.handle)
	} else {
		d.ResetBytes(b)
	}
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedValue, err) // the decoder is not reused
	}
	read := d.NumBytesRead()
	d.ResetBytes(noBytes) // holds nothing of b in the pool
	vd.decs.Put(d)
	if read != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformedValue, len(b)-read)
	}
	return nil
}

// noBytes is the empty input a pooled decoder is left with.
var noBytes = []byte{}

// valueDecoder is the handle of one ValueLimits and a pool of decoders
// on it. A handle remembers how to decode each Go type it met; one made
// afresh for every value learned the type again each time, which cost
// more allocations than the value's own decoding (docs/benchmarks.md,
// "CPU: no metrics unless asked for, envelopes decoded on a kept
// handle"). A configured handle is safe for concurrent decoders.
type valueDecoder struct {
	handle *msgpack.MsgpackHandle
	decs   sync.Pool // *msgpack.Decoder
}

// maxValueDecoders bounds the handles kept, one per ValueLimits met; the
// limits are the caller's own settings, never a peer's, so a few at
// most. Beyond it each call takes a fresh handle, as before.
const maxValueDecoders = 16

// valueDecoders maps each ValueLimits kept to its *valueDecoder. Lookups
// take no lock (every envelope a node receives is decoded here, by every
// node of the process); keeping one takes keptMu, which guards kept, the
// number kept.
var (
	valueDecoders sync.Map
	keptMu        sync.Mutex
	kept          int
)

// valueDecoderFor returns the kept decoder of l, keeping one if there is
// room.
func valueDecoderFor(l ValueLimits) *valueDecoder {
	if vd, ok := valueDecoders.Load(l); ok {
		return vd.(*valueDecoder)
	}
	keptMu.Lock()
	defer keptMu.Unlock()
	if vd, ok := valueDecoders.Load(l); ok {
		return vd.(*valueDecoder)
	}
	vd := &valueDecoder{handle: valueHandle(l)}
	if kept < maxValueDecoders {
		valueDecoders.Store(l, vd)
		kept++
	}
	return vd
}
