package ice

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var validSignals = []Signal{
	{Kind: SignalCredentials, Ufrag: "abcd", Pwd: "abcdefghijklmnopqrstuv"},
	{Kind: SignalCredentials, Ufrag: strings.Repeat("Z", 256), Pwd: strings.Repeat("+/09", 64)},
	{Kind: SignalCandidate, Candidate: "1052353102 1 udp 2130706431 192.168.0.2 5036 typ host"},
	{Kind: SignalCandidate, Candidate: "3 1 udp 16777215 1.2.3.4 5980 typ relay raddr 28.1.1.1 rport 49152"},
	{Kind: SignalEndOfCandidates},
	{Kind: SignalReady},
}

func TestSignalRoundTrip(t *testing.T) {
	for _, s := range validSignals {
		b, err := s.MarshalBinary()
		require.NoError(t, err, "%+v", s)
		got, err := UnmarshalSignal(b)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
}

func TestSignalRefused(t *testing.T) {
	bad := map[string]Signal{
		"short ufrag":             {Kind: SignalCredentials, Ufrag: "abc", Pwd: strings.Repeat("p", 22)},
		"short password":          {Kind: SignalCredentials, Ufrag: "abcd", Pwd: strings.Repeat("p", 21)},
		"long ufrag":              {Kind: SignalCredentials, Ufrag: strings.Repeat("u", 257), Pwd: strings.Repeat("p", 22)},
		"ufrag not ice-char":      {Kind: SignalCredentials, Ufrag: "ab:d", Pwd: strings.Repeat("p", 22)},
		"credentials + candidate": {Kind: SignalCredentials, Ufrag: "abcd", Pwd: strings.Repeat("p", 22), Candidate: "x"},
		"empty candidate":         {Kind: SignalCandidate},
		"long candidate":          {Kind: SignalCandidate, Candidate: strings.Repeat("c", 513)},
		"candidate with newline":  {Kind: SignalCandidate, Candidate: "1 1 udp 1 1.2.3.4 5 typ host\r\n"},
		"candidate + ufrag":       {Kind: SignalCandidate, Candidate: "c", Ufrag: "abcd"},
		"end with a body":         {Kind: SignalEndOfCandidates, Candidate: "c"},
		"ready with a body":       {Kind: SignalReady, Ufrag: "abcd"},
		"unknown kind":            {Kind: 9},
	}
	for name, s := range bad {
		_, err := s.MarshalBinary()
		assert.ErrorIs(t, err, ErrBadSignal, name)
	}
	enc := func(s Signal) []byte {
		b, err := s.MarshalBinary()
		require.NoError(t, err)
		return b
	}
	cand := enc(validSignals[2])
	badBytes := map[string][]byte{
		"empty":              nil,
		"one byte":           {signalVersion},
		"other version":      append([]byte{2}, cand[1:]...),
		"unknown kind":       {signalVersion, 7},
		"trailing byte":      append(enc(validSignals[4]), 0),
		"truncated":          cand[:len(cand)-1],
		"length beyond max":  {signalVersion, byte(SignalCandidate), 0x81, 0x04}, // 513
		"non-minimal length": append([]byte{signalVersion, byte(SignalCandidate), 0x81, 0x00}, 'c'),
		"length overflow":    {signalVersion, byte(SignalCandidate), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, b := range badBytes {
		_, err := UnmarshalSignal(b)
		assert.ErrorIs(t, err, ErrBadSignal, name)
	}
}

// FuzzUnmarshalSignal: the decoder never panics, and what it accepts is
// valid and is exactly the encoding of what it returns.
func FuzzUnmarshalSignal(f *testing.F) {
	for _, s := range validSignals {
		b, err := s.MarshalBinary()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{signalVersion, byte(SignalCandidate), 0x81, 0x00, 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSignal(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadSignal)
			return
		}
		require.NoError(t, s.Validate())
		again, err := s.MarshalBinary()
		require.NoError(t, err)
		require.True(t, bytes.Equal(b, again), "accepted %x, re-encodes as %x", b, again)
	})
}

func TestMemSignallers(t *testing.T) {
	a, b := NewMemSignallers()
	ctx := context.Background()
	for _, s := range validSignals {
		require.NoError(t, a.Send(ctx, s))
	}
	for _, want := range validSignals {
		got, err := b.Receive(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	assert.Equal(t, len(validSignals), a.Sent())
	require.ErrorIs(t, a.Send(ctx, Signal{Kind: 0}), ErrBadSignal, "an invalid signal is not sent")

	// A tampered signal is refused by the receiver's decoder.
	a.Tap = func(b []byte) []byte { return append(b, 0xff) }
	require.NoError(t, a.Send(ctx, validSignals[4]))
	_, err := b.Receive(ctx)
	require.ErrorIs(t, err, ErrBadSignal)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.Receive(cctx)
	require.ErrorIs(t, err, context.Canceled)
}
