package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Framing on a stream. Every record starts with a uvarint header
// h = length<<1 | control. control 0: a data frame of length bytes follows.
// control 1: a close record; length bytes of UTF-8 reason follow and the
// sender writes nothing more.
const maxReasonBytes = 1024

// appendHeader appends the record header for a body of n bytes.
func appendHeader(dst []byte, n int, control bool) []byte {
	h := uint64(n) << 1
	if control {
		h |= 1
	}
	return binary.AppendUvarint(dst, h)
}

// record is one record read from a stream.
type record struct {
	body    []byte
	control bool
}

// readRecord reads one record, refusing a data frame above maxFrame (and a
// close reason above maxReasonBytes) from its header, before reading or
// allocating the body.
func readRecord(r *bufio.Reader, maxFrame int) (record, error) {
	br := byteReader{r: r}
	h, err := binary.ReadUvarint(&br)
	if err != nil {
		if br.err != nil { // the stream failed, not the varint
			return record{}, br.err
		}
		return record{}, fmt.Errorf("%w: bad frame header: %v", ErrProtocol, err)
	}
	n, control := h>>1, h&1 == 1
	switch {
	case control && n > maxReasonBytes:
		return record{}, fmt.Errorf("%w: close reason of %d bytes", ErrProtocol, n)
	case !control && n > uint64(maxFrame):
		return record{}, fmt.Errorf("%w: peer announced %d bytes > %d", ErrFrameTooLarge, n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return record{}, err
	}
	return record{body: body, control: control}, nil
}

// byteReader remembers the reader's own error, to tell it apart from a
// varint overflow.
type byteReader struct {
	r   *bufio.Reader
	err error
}

func (b *byteReader) ReadByte() (byte, error) {
	c, err := b.r.ReadByte()
	if err != nil {
		b.err = err
	}
	return c, err
}
