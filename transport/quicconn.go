package transport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/quic-go/quic-go"
)

// Application error codes sent in QUIC CONNECTION_CLOSE.
const (
	codeClosed        quic.ApplicationErrorCode = 0 // Close or Transport.Close; the message is the reason
	codeError         quic.ApplicationErrorCode = 1 // local failure; the message says which
	codeFrameTooLarge quic.ApplicationErrorCode = 2 // the peer announced a frame above our limit
)

// linkBufferBytes sizes each connection's write and read buffers. They
// batch the small frames of the protocol into fewer stream operations; a
// frame larger than the buffer passes through it. Two of 32 KiB per
// connection held 131 MB of the 256-node bench's heap (docs/benchmarks.md).
const linkBufferBytes = 8 << 10

// quicLink carries a conn over one bidirectional QUIC stream.
type quicLink struct {
	qc  *quic.Conn
	st  *quic.Stream
	bw  *bufio.Writer
	hdr []byte
	c   *conn
	// silence is the watch's measure of the peer's silence (silence.go);
	// only the watch's goroutine touches it.
	silence silenceClock
}

func newQUICConn(t *QUIC, qc *quic.Conn, st *quic.Stream, key []byte, addr string) *conn {
	l := &quicLink{qc: qc, st: st, bw: bufio.NewWriterSize(st, linkBufferBytes), hdr: make([]byte, 0, 10)}
	c := newConn(l, &t.stats, t.cfg.MaxFrameBytes, t.cfg.SendQueueFrames, t.cfg.CloseTimeout, key, addr)
	c.protocol = protocolOf(qc.ConnectionState().TLS.NegotiatedProtocol)
	l.c = c
	return c
}

// start runs the writer and reader goroutines, accounted in t.wg.
func (l *quicLink) start(t *QUIC) {
	t.wg.Add(2)
	go func() { defer t.wg.Done(); l.c.writeLoop() }()
	go func() { defer t.wg.Done(); l.readLoop() }()
}

func (l *quicLink) write(f outFrame) error {
	l.hdr = appendHeader(l.hdr[:0], len(f.b), false)
	if _, err := l.bw.Write(l.hdr); err != nil {
		return l.mapErr(err)
	}
	if _, err := l.bw.Write(f.b); err != nil {
		return l.mapErr(err)
	}
	l.c.stats.framesSent.Add(1)
	l.c.stats.bytesSent.Add(int64(len(f.b)))
	return nil
}

func (l *quicLink) flush() error {
	if err := l.bw.Flush(); err != nil {
		return l.mapErr(err)
	}
	return nil
}

func (l *quicLink) closing(deadline time.Time) { _ = l.st.SetWriteDeadline(deadline) }

func (l *quicLink) finish(reason string, deadline time.Time) {
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	l.hdr = appendHeader(l.hdr[:0], len(reason), true)
	_, _ = l.bw.Write(l.hdr)
	_, _ = l.bw.WriteString(reason)
	if l.bw.Flush() != nil || l.st.Close() != nil {
		return
	}
	// Wait for the peer to read everything and close the connection in
	// response, so the frames are not cut off by our CONNECTION_CLOSE.
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-l.qc.Context().Done():
	case <-timer.C:
	}
}

func (l *quicLink) teardown(err error) {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		_ = l.qc.CloseWithError(codeClosed, ce.Reason)
	case errors.Is(err, ErrFrameTooLarge):
		_ = l.qc.CloseWithError(codeFrameTooLarge, err.Error())
	default:
		_ = l.qc.CloseWithError(codeError, err.Error())
	}
}

func (l *quicLink) readLoop() {
	br := bufio.NewReaderSize(l.st, linkBufferBytes)
	for {
		rec, err := readRecord(br, l.c.maxFrame)
		if (err != nil || rec.control) && l.c.closeRequested() {
			// We are closing: the peer's answer (its close record or
			// CONNECTION_CLOSE) ends the connection with our reason.
			l.c.fail(&CloseError{Reason: l.c.reason})
			return
		}
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				l.c.stats.oversized.Add(1)
			}
			l.c.fail(l.mapErr(err))
			return
		}
		if rec.control {
			l.c.fail(&CloseError{Reason: string(rec.body), Remote: true})
			return
		}
		if !l.c.deliver(rec.body) {
			return
		}
	}
}

// mapErr turns a quic-go or stream error into the package's errors.
func (l *quicLink) mapErr(err error) error {
	var (
		ae   *quic.ApplicationError
		idle *quic.IdleTimeoutError
		sr   *quic.StatelessResetError
	)
	switch {
	case errors.As(err, &ae) && ae.Remote:
		// Whatever the code (Close, a failure on the peer's side, its
		// dial giving up after we accepted), the peer ended the
		// connection deliberately and is alive: see CloseError.
		return &CloseError{Reason: ae.ErrorMessage, Remote: true}
	case errors.As(err, &idle):
		return ErrIdleTimeout
	case errors.As(err, &sr):
		return fmt.Errorf("%w: peer restarted (stateless reset)", ErrUnreachable)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: stream ended without a close record", ErrProtocol)
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrProtocol):
		return err
	}
	return fmt.Errorf("transport: connection failed: %w", err)
}
