package ice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// SignalKind says what a Signal carries.
type SignalKind uint8

// The kinds of signalling message.
const (
	// SignalCredentials carries the sender's ICE username fragment and
	// password (RFC 8445 §5.3). Each side sends it once, first.
	SignalCredentials SignalKind = 1
	// SignalCandidate carries one local candidate of the sender, as soon
	// as it is gathered (trickle ICE, RFC 8838).
	SignalCandidate SignalKind = 2
	// SignalEndOfCandidates says the sender gathered all its candidates.
	SignalEndOfCandidates SignalKind = 3
	// SignalReady says the sender has gathered and sent all its
	// candidates and applied all of the receiver's: the receiver may
	// start its connectivity checks (see Connect).
	SignalReady SignalKind = 4
)

func (k SignalKind) String() string {
	switch k {
	case SignalCredentials:
		return "credentials"
	case SignalCandidate:
		return "candidate"
	case SignalEndOfCandidates:
		return "end-of-candidates"
	case SignalReady:
		return "ready"
	}
	return fmt.Sprintf("SignalKind(%d)", uint8(k))
}

// Signal is one signalling message between two agents. The overlay carries
// it (through a rendezvous node) as opaque bytes: MarshalBinary and
// UnmarshalSignal are its encoding.
type Signal struct {
	Kind SignalKind
	// Ufrag and Pwd are set for SignalCredentials.
	Ufrag, Pwd string
	// Candidate is set for SignalCandidate: the candidate's SDP attribute
	// value (RFC 8839 §5.1), as pion's Candidate.Marshal writes it.
	Candidate string
}

// Limits of the encoding. RFC 8445 §5.3 asks for at least 4 characters of
// ufrag and 22 of password, and RFC 8839 §5.4 bounds both at 256.
const (
	signalVersion    = 1
	minUfrag         = 4
	minPwd           = 22
	maxCredential    = 256
	maxCandidate     = 512
	maxUvarintLength = 2 // lengths above are below 1<<14
)

// ErrBadSignal is wrapped by every error UnmarshalSignal returns.
var ErrBadSignal = errors.New("ice: malformed signal")

// Validate checks that s is well formed: what MarshalBinary and
// UnmarshalSignal require.
func (s Signal) Validate() error {
	switch s.Kind {
	case SignalCredentials:
		if s.Candidate != "" {
			return fmt.Errorf("%w: credentials carry no candidate", ErrBadSignal)
		}
		if err := checkICEChars("ufrag", s.Ufrag, minUfrag); err != nil {
			return err
		}
		return checkICEChars("password", s.Pwd, minPwd)
	case SignalCandidate:
		if s.Ufrag != "" || s.Pwd != "" {
			return fmt.Errorf("%w: a candidate carries no credentials", ErrBadSignal)
		}
		if len(s.Candidate) == 0 || len(s.Candidate) > maxCandidate {
			return fmt.Errorf("%w: candidate of %d bytes (1 to %d)", ErrBadSignal, len(s.Candidate), maxCandidate)
		}
		for i := 0; i < len(s.Candidate); i++ {
			if c := s.Candidate[i]; c < 0x20 || c > 0x7e {
				return fmt.Errorf("%w: candidate byte %#x at %d is not printable ASCII", ErrBadSignal, c, i)
			}
		}
		return nil
	case SignalEndOfCandidates, SignalReady:
		if s.Ufrag != "" || s.Pwd != "" || s.Candidate != "" {
			return fmt.Errorf("%w: %s carries nothing", ErrBadSignal, s.Kind)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown kind %d", ErrBadSignal, s.Kind)
}

// checkICEChars checks v against ice-char (ALPHA / DIGIT / "+" / "/",
// RFC 8839 §5.4) and its length against [min, maxCredential].
func checkICEChars(what, v string, min int) error {
	if len(v) < min || len(v) > maxCredential {
		return fmt.Errorf("%w: %s of %d characters (%d to %d)", ErrBadSignal, what, len(v), min, maxCredential)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
		if !ok {
			return fmt.Errorf("%w: %s character %#x at %d is not an ice-char", ErrBadSignal, what, c, i)
		}
	}
	return nil
}

// MarshalBinary encodes s: a version byte, the kind byte, then for
// credentials the ufrag and the password and for a candidate its text,
// each as a uvarint length and its bytes. End-of-candidates and ready have
// no body.
func (s Signal) MarshalBinary() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+2*maxUvarintLength+len(s.Ufrag)+len(s.Pwd)+len(s.Candidate))
	b = append(b, signalVersion, byte(s.Kind))
	switch s.Kind {
	case SignalCredentials:
		b = appendString(b, s.Ufrag)
		b = appendString(b, s.Pwd)
	case SignalCandidate:
		b = appendString(b, s.Candidate)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalSignal decodes what MarshalBinary encoded. It refuses anything
// else: an unknown version or kind, a length beyond the limits or beyond
// the input, a non-minimal length, trailing bytes, characters outside the
// allowed sets. Every accepted input is the encoding of its result.
func UnmarshalSignal(b []byte) (Signal, error) {
	if len(b) < 2 {
		return Signal{}, fmt.Errorf("%w: %d bytes", ErrBadSignal, len(b))
	}
	if b[0] != signalVersion {
		return Signal{}, fmt.Errorf("%w: version %d", ErrBadSignal, b[0])
	}
	s := Signal{Kind: SignalKind(b[1])}
	rest := b[2:]
	var err error
	switch s.Kind {
	case SignalCredentials:
		if s.Ufrag, rest, err = readString(rest, maxCredential); err != nil {
			return Signal{}, err
		}
		if s.Pwd, rest, err = readString(rest, maxCredential); err != nil {
			return Signal{}, err
		}
	case SignalCandidate:
		if s.Candidate, rest, err = readString(rest, maxCandidate); err != nil {
			return Signal{}, err
		}
	}
	if len(rest) != 0 {
		return Signal{}, fmt.Errorf("%w: %d trailing bytes", ErrBadSignal, len(rest))
	}
	if err := s.Validate(); err != nil {
		return Signal{}, err
	}
	return s, nil
}

func readString(b []byte, max int) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return "", nil, fmt.Errorf("%w: bad length", ErrBadSignal)
	}
	if k != len(binary.AppendUvarint(nil, n)) {
		return "", nil, fmt.Errorf("%w: non-minimal length", ErrBadSignal)
	}
	if n > uint64(max) || n > uint64(len(b)-k) {
		return "", nil, fmt.Errorf("%w: length %d beyond %d or the input", ErrBadSignal, n, max)
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

// Signaller carries signals between the two agents of one negotiation.
// The membership runtime implements it over the overlay (the signals
// relayed through the callee's rendezvous node, membership.Node.ConnectICE);
// MemSignallers pass them in memory.
type Signaller interface {
	// Send delivers s to the other side, in order. It may block until
	// ctx is done.
	Send(ctx context.Context, s Signal) error
	// Receive returns the other side's next signal.
	Receive(ctx context.Context) (Signal, error)
}

// MemSignaller is one end of an in-memory signalling channel. Each signal
// goes through its binary encoding, as it would on the overlay.
type MemSignaller struct {
	out, in chan memSignal
	// Tap, if set, sees (and may rewrite) each encoded signal this end
	// sends; returning nil drops it. Set it before use.
	Tap func([]byte) []byte
	// Delay, if set, holds each signal this end sends for that long
	// before the other end receives it: the latency of the overlay path
	// through a rendezvous. Signals stay in order (one is never received
	// before an earlier one). Set it before use.
	Delay time.Duration
	// DelayOf, if set, adds a delay of its own to each signal; it is
	// called with the sender's lock held, one signal at a time.
	DelayOf func(Signal) time.Duration

	mu     sync.Mutex
	sent   int
	lastAt time.Time // when the last signal sent may be received
}

// NewMemSignallers returns the two connected ends of an in-memory
// signalling channel; each buffers up to 256 signals.
func NewMemSignallers() (*MemSignaller, *MemSignaller) {
	ab, ba := make(chan memSignal, 256), make(chan memSignal, 256)
	return &MemSignaller{out: ab, in: ba}, &MemSignaller{out: ba, in: ab}
}

// Send encodes s and queues it for the other end.
func (m *MemSignaller) Send(ctx context.Context, s Signal) error {
	b, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	if m.Tap != nil {
		if b = m.Tap(b); b == nil {
			return nil
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	at := time.Now().Add(m.Delay)
	if m.DelayOf != nil {
		at = at.Add(m.DelayOf(s))
	}
	if at.Before(m.lastAt) {
		at = m.lastAt
	}
	select {
	case m.out <- memSignal{b: b, at: at}:
		m.sent++
		m.lastAt = at
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Receive decodes the next signal from the other end.
func (m *MemSignaller) Receive(ctx context.Context) (Signal, error) {
	var s memSignal
	select {
	case s = <-m.in:
	case <-ctx.Done():
		return Signal{}, ctx.Err()
	}
	if d := time.Until(s.at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Signal{}, ctx.Err()
		}
	}
	return UnmarshalSignal(s.b)
}

// memSignal is an encoded signal and when it may be received.
type memSignal struct {
	b  []byte
	at time.Time
}

// Sent returns how many signals this end sent.
func (m *MemSignaller) Sent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent
}
