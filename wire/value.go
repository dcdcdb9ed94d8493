package wire

import (
	"errors"
	"fmt"

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
	d := msgpack.NewDecoderBytes(b, valueHandle(l))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedValue, err)
	}
	if d.NumBytesRead() != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformedValue, len(b)-d.NumBytesRead())
	}
	return nil
}
