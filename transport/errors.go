package transport

import (
	"errors"
	"sync/atomic"
)

// Errors returned by transports and connections. Returned errors may wrap
// these with detail; test with errors.Is.
var (
	// ErrSendQueueFull: Send found the connection's bounded queue full.
	ErrSendQueueFull = errors.New("transport: send queue full")
	// ErrFrameTooLarge: a frame exceeded Config.MaxFrameBytes, on Send or
	// on receipt (then the connection is closed).
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrClosed: the connection or transport was closed.
	ErrClosed = errors.New("transport: closed")
	// ErrWrongKey: the dialled peer does not hold the expected key.
	ErrWrongKey = errors.New("transport: peer presented the wrong key")
	// ErrNotAdmitted: admission refused the peer, or the peer refused us.
	ErrNotAdmitted = errors.New("transport: peer not admitted")
	// ErrIdleTimeout: nothing, not even a keep-alive, arrived from the peer
	// within Config.IdleTimeout; the peer is presumed dead.
	ErrIdleTimeout = errors.New("transport: peer silent past the idle timeout")
	// ErrUnreachable: the peer could not be reached (no listener, network
	// partition, handshake timeout).
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrProtocol: the peer broke the framing protocol.
	ErrProtocol = errors.New("transport: protocol violation")
)

// CloseError is the Err of a connection ended deliberately: by Close, on
// either side, or by the peer giving up on it for a reason of its own (its
// dial or stream set-up timed out after we accepted, a failure on its
// side, a frame of ours above its limit). Reason is the string given to
// Close, or the peer's error; Remote tells whether the peer closed. A peer
// that closes is alive, so a runtime must not take a CloseError with
// Remote set for a failure of that peer. errors.Is(err, ErrClosed) holds
// for a CloseError.
type CloseError struct {
	Reason string
	Remote bool
}

// Error returns a description naming the side that closed and the reason.
func (e *CloseError) Error() string {
	if e.Remote {
		return "transport: closed by peer: " + e.Reason
	}
	return "transport: closed: " + e.Reason
}

// Is reports whether target is ErrClosed.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// Stats is a snapshot of a transport's counters since it started.
type Stats struct {
	Dials           int64 // Dial calls
	DialFailures    int64 // Dial calls that returned an error
	Accepts         int64 // inbound connections handed to Accept
	Rejected        int64 // peers refused for a wrong key or by admission
	FramesSent      int64 // frames written to the network
	FramesReceived  int64 // frames read from the network
	BytesSent       int64 // frame bodies written (framing overhead excluded)
	BytesReceived   int64 // frame bodies read
	OversizedFrames int64 // frames refused above MaxFrameBytes, either way
	SendQueueFull   int64 // Send calls refused with ErrSendQueueFull
	FramesDropped   int64 // frames lost to injected faults (in-memory only)
	ConnsOpen       int64 // connections currently open
	// SendErrorsDropped counts datagram writes the host refused with a
	// transient error, which the QUIC transport dropped as lost instead of
	// ending the connection (doc.go, "Send errors"); the sum of SendErrors.
	// With segmentation offload one write may carry several packets.
	SendErrorsDropped int64
	// SendErrors splits SendErrorsDropped by error.
	SendErrors SendErrorCounts
	// ReceiveErrorsIgnored counts reads that returned an error reported by
	// ICMP (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH) and were retried.
	ReceiveErrorsIgnored int64
	// DatagramsSent, DatagramsReceived: authenticated datagrams sent and
	// received (Datagrams).
	DatagramsSent, DatagramsReceived int64
	// DatagramsRefused counts datagrams refused on receipt: malformed, a
	// bad tag or signature, or a sender that admission refuses.
	DatagramsRefused int64
	// DatagramsDropped counts datagrams dropped unchecked: over the
	// DatagramBudget, or with the receive queue full.
	DatagramsDropped int64
	// SilenceTimeouts counts connections closed with ErrIdleTimeout by
	// the transport's own judgement of a silent peer (silence.go).
	SilenceTimeouts int64
	// SilenceForgiven counts the watch's ticks on which every
	// connection's silence started over because this host was not
	// keeping its own time: the tick came late, or the process's
	// goroutines had waited too long to run (QUIC only; silence.go).
	SilenceForgiven int64
}

// SendErrorCounts counts datagram writes dropped, by the error the host
// refused them with.
type SendErrorCounts struct {
	EPERM        int64 // refused by the host's firewall
	ENOBUFS      int64 // no buffer space (queue discipline or memory)
	EAGAIN       int64 // send buffer full (EWOULDBLOCK)
	ECONNREFUSED int64 // ICMP port unreachable reported on the socket
	EHOSTUNREACH int64 // no route to the host
	ENETUNREACH  int64 // no route to the network
	ENETDOWN     int64 // outgoing interface down
}

// counters is the live, atomically updated form of Stats.
type counters struct {
	dials, dialFailures, accepts, rejected         atomic.Int64
	framesSent, framesReceived                     atomic.Int64
	bytesSent, bytesReceived                       atomic.Int64
	oversized, queueFull, framesDropped, connsOpen atomic.Int64
	sendDropped                                    [len(transientSendErrnos)]atomic.Int64
	recvIgnored                                    atomic.Int64
	datagramsSent, datagramsReceived               atomic.Int64
	datagramsRefused, datagramsDropped             atomic.Int64
	silenceTimeouts, silenceForgiven               atomic.Int64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Dials: c.dials.Load(), DialFailures: c.dialFailures.Load(),
		Accepts: c.accepts.Load(), Rejected: c.rejected.Load(),
		FramesSent: c.framesSent.Load(), FramesReceived: c.framesReceived.Load(),
		BytesSent: c.bytesSent.Load(), BytesReceived: c.bytesReceived.Load(),
		OversizedFrames: c.oversized.Load(), SendQueueFull: c.queueFull.Load(),
		FramesDropped: c.framesDropped.Load(), ConnsOpen: c.connsOpen.Load(),
		ReceiveErrorsIgnored: c.recvIgnored.Load(),
		DatagramsSent:        c.datagramsSent.Load(), DatagramsReceived: c.datagramsReceived.Load(),
		DatagramsRefused: c.datagramsRefused.Load(), DatagramsDropped: c.datagramsDropped.Load(),
		SilenceTimeouts: c.silenceTimeouts.Load(), SilenceForgiven: c.silenceForgiven.Load(),
	}
	// In the order of transientSendErrnos.
	for i, p := range []*int64{
		&s.SendErrors.EPERM, &s.SendErrors.ENOBUFS, &s.SendErrors.EAGAIN,
		&s.SendErrors.ECONNREFUSED, &s.SendErrors.EHOSTUNREACH,
		&s.SendErrors.ENETUNREACH, &s.SendErrors.ENETDOWN,
	} {
		*p = c.sendDropped[i].Load()
		s.SendErrorsDropped += *p
	}
	return s
}

// countDial counts one dial and, if it failed, one failure, and hands its
// result on as a Conn (a nil *conn becomes a nil Conn).
func (c *counters) countDial(cn *conn, err error) (Conn, error) {
	c.dials.Add(1)
	if err != nil {
		c.dialFailures.Add(1)
		return nil, err
	}
	return cn, nil
}
