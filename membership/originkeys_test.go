package membership

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// pPlus returns the encoding of y = p + k, x's sign bit clear: for k < 19
// it still fits in 255 bits, an encoding of y = k that is not the
// canonical one.
func pPlus(k byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = 0xff
	}
	b[0] = 0xed + k // p = 2²⁵⁵ - 19 ends in 0xed, …, 0xff, 0x7f
	b[31] = 0x7f
	return b
}

var (
	// nonCanonicalIdentity encodes the identity point (y = 1) as y = p + 1.
	nonCanonicalIdentity = pPlus(1)
	// nonCanonicalOrder4 encodes a point of order 4 (y = 0) as y = p.
	nonCanonicalOrder4 = pPlus(0)
)

// addL returns the 32-byte little-endian s plus the group's order L,
// which still fits when s < L: an encoding of the same scalar that the
// rules refuse (S must be below L).
func addL(s []byte) []byte {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	out := make([]byte, 32)
	carry := 0
	for i := range out {
		v := int(s[i]) + int(l[i]) + carry
		out[i], carry = byte(v), v>>8
	}
	return out
}

// order8Point is a point of order 8.
func order8Point(t require.TestingT) *edwards25519.Point {
	b, err := hex.DecodeString("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	require.NoError(t, err)
	p, err := new(edwards25519.Point).SetBytes(b)
	require.NoError(t, err)
	return p
}

// signWithR signs msg with the scalar a for the key pub, R being the
// encoding rEnc of the point [r]B plus whatever it encodes beyond: S = r +
// k·a with k the hash of rEnc, pub and msg. It makes signatures whose R
// has a small-order component or a non-canonical encoding, which only the
// cofactored equation takes.
func signWithR(t require.TestingT, a, r *edwards25519.Scalar, rEnc, pub, msg []byte) []byte {
	h := sha512.New()
	h.Write(rEnc)
	h.Write(pub)
	h.Write(msg)
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	require.NoError(t, err)
	S := new(edwards25519.Scalar).MultiplyAdd(k, a, r)
	return append(append([]byte(nil), rEnc...), S.Bytes()...)
}

// The checks on curve25519-voi with expanded keys decide as the checks of
// ed25519consensus before them, alone and in batches, under ZIP-215's
// rules: honest signatures, bent ones, malleated ones (S + L), signatures
// whose R has a small-order component or is a small-order point in a
// non-canonical encoding, a key of small order (every S with R = [S]B
// passes the cofactored equation for it), one encoded non-canonically, a
// key with a small-order component, and keys that are no point. ed25519consensus stays as this test's oracle.
func TestOriginChecksDecideAsBefore(t *testing.T) {
	T := order8Point(t)
	var s identitySigner
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(rt, "checks")
		checks := make([]peer.Check, n)
		oracle := ed25519consensus.NewBatchVerifier()
		for i := range checks {
			seed := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(rt, "seed")
			priv := ed25519.NewKeyFromSeed(seed)
			pub := priv.Public().(ed25519.PublicKey)
			hs := sha512.Sum512(seed)
			a, err := new(edwards25519.Scalar).SetBytesWithClamping(hs[:32])
			require.NoError(rt, err)
			r, err := new(edwards25519.Scalar).SetUniformBytes(rapid.SliceOfN(rapid.Byte(), 64, 64).Draw(rt, "nonce"))
			require.NoError(rt, err)
			msg := []byte(fmt.Sprintf("statement %d", i))
			var sig []byte
			kind := rapid.IntRange(0, 9).Draw(rt, "kind")
			switch kind {
			case 0: // honest
				sig = ed25519.Sign(priv, msg)
			case 1: // R with a small-order component
				R := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(r), T)
				sig = signWithR(rt, a, r, R.Bytes(), pub, msg)
			case 2: // R the identity, encoded non-canonically
				sig = signWithR(rt, a, edwards25519.NewScalar(), nonCanonicalIdentity, pub, msg)
			case 3: // a key of small order
				pub = T.Bytes()
				R := new(edwards25519.Point).ScalarBaseMult(r)
				sig = append(R.Bytes(), r.Bytes()...)
			case 4: // a key with a small-order component, signed with its scalar a
				pub = new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(a), T).Bytes()
				R := new(edwards25519.Point).ScalarBaseMult(r)
				sig = signWithR(rt, a, r, R.Bytes(), pub, msg)
			case 5: // a key that is no point (y = 2 has no x)
				pub = make([]byte, 32)
				pub[0] = 2
				sig = ed25519.Sign(priv, msg)
			case 6: // bent
				sig = ed25519.Sign(priv, msg)
				sig[rapid.IntRange(0, 63).Draw(rt, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
			case 7: // S + L, the same signature made malleable
				sig = ed25519.Sign(priv, msg)
				sig = append(sig[:32:32], addL(sig[32:])...)
			case 8: // the key the identity, encoded non-canonically
				pub = nonCanonicalIdentity
				R := new(edwards25519.Point).ScalarBaseMult(r)
				sig = append(R.Bytes(), r.Bytes()...)
			case 9: // R a point of order 4 (y = 0), encoded as y = p
				sig = signWithR(rt, a, edwards25519.NewScalar(), nonCanonicalOrder4, pub, msg)
			}
			id := peer.ID(transport.KeyID(pub))
			checks[i] = peer.Check{Signer: id, Key: pub, Msg: msg, Sig: sig}
			got := s.Verify(id, pub, msg, sig)
			require.Equal(rt, ed25519consensus.Verify(pub, msg, sig), got, "check %d alone", i)
			// ZIP-215 takes every kind but the bent, the malleated and
			// the key that is no point.
			require.Equal(rt, kind != 5 && kind != 6 && kind != 7, got, "check %d of kind %d", i, kind)
			oracle.Add(pub, msg, sig)
		}
		require.Equal(rt, oracle.Verify(), s.VerifyBatch(checks), "the batch")
	})
}

// The expanded keys are one per key, kept while in use, and bounded: a
// flood of keys holds at most two generations.
func TestExpandedKeysBounded(t *testing.T) {
	var k expandedKeys
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	first, ok := k.get(pub)
	require.True(t, ok)
	again, ok := k.get(pub)
	require.True(t, ok)
	require.Same(t, first, again, "expanded once")
	for i := range 3 * maxExpandedKeys {
		other, _, err := ed25519.GenerateKey(nil)
		require.NoError(t, err)
		_, ok := k.get(other)
		require.True(t, ok)
		if i%(maxExpandedKeys/2) == 0 {
			kept, _ := k.get(pub)
			require.Same(t, first, kept, "a key in use stays")
		}
		require.LessOrEqual(t, k.len(), 2*maxExpandedKeys)
	}
	_, ok = k.get(make([]byte, 31))
	require.False(t, ok, "a key of the wrong size")
	noPoint := make([]byte, 32)
	noPoint[0] = 2
	_, ok = k.get(noPoint)
	require.False(t, ok, "no point of the curve")
}
