package transport

import (
	"crypto/ed25519"
	"encoding/binary"
	"testing"
	"time"

	"filippo.io/edwards25519"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustPairKeys(t testing.TB, key ed25519.PrivateKey) *pairKeys {
	t.Helper()
	k, err := newPairKeys(key)
	require.NoError(t, err)
	return k
}

// mustSealSigned builds a signed datagram, as agents before tagged
// datagrams seal them.
func mustSealSigned(t testing.TB, key ed25519.PrivateKey, to ed25519.PublicKey, payload []byte, now time.Time) []byte {
	t.Helper()
	pkt, err := sealSignedDatagram(key, nil, to, payload, now)
	require.NoError(t, err)
	return pkt
}

// Both ends of a pair derive the same key, and no other pair does; the
// X25519 form of a node's private key matches that of its public key.
func TestPairKeysAgree(t *testing.T) {
	a, b, c := mustIdentity(t), mustIdentity(t), mustIdentity(t)
	ka, kb, kc := mustPairKeys(t, a.Key), mustPairKeys(t, b.Key), mustPairKeys(t, c.Key)
	ab, err := ka.key(b.Public())
	require.NoError(t, err)
	ba, err := kb.key(a.Public())
	require.NoError(t, err)
	assert.Equal(t, ab, ba, "both ends of a pair")
	ac, err := ka.key(c.Public())
	require.NoError(t, err)
	assert.NotEqual(t, ab, ac, "another pair, another key")
	cb, err := kc.key(b.Public())
	require.NoError(t, err)
	assert.NotEqual(t, ab, cb)
	for _, id := range []Identity{a, b, c} {
		pub, err := x25519Public(id.Public())
		require.NoError(t, err)
		own, err := x25519Private(id.Key)
		require.NoError(t, err)
		assert.Equal(t, own.PublicKey().Bytes(), pub.Bytes(), "the private key's X25519 form matches the public key's")
	}
}

// A key that is no point of the curve, or one of small order (whose
// agreement anyone could compute), takes part in no pair: a datagram to
// it is not sealed, one from it does not open.
func TestPairKeysRefuseUnusableKeys(t *testing.T) {
	id := mustIdentity(t)
	keys := mustPairKeys(t, id.Key)
	identity := edwards25519.NewIdentityPoint().Bytes()
	// A point of order 2: (0, -1).
	order2 := [32]byte{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2 // y = 2 has no x
	for name, bad := range map[string][]byte{"identity": identity, "order 2": order2[:], "not on the curve": notOnCurve, "short": make([]byte, 31)} {
		t.Run(name, func(t *testing.T) {
			_, err := keys.key(bad)
			require.ErrorIs(t, err, errPairKey)
			_, err = sealDatagram(keys, nil, bad, []byte("x"), time.Now())
			require.ErrorContains(t, err, "receiver's key")
			if len(bad) != ed25519.PublicKeySize {
				return
			}
			// A datagram claiming to come from it, whatever its tag.
			pkt := []byte{datagramTagged}
			pkt = append(pkt, bad...)
			pkt = binary.BigEndian.AppendUint64(pkt, uint64(time.Now().UnixMilli()))
			pkt = binary.BigEndian.AppendUint16(pkt, 0)
			pkt = append(pkt, "x"...)
			pkt = append(pkt, make([]byte, pairTagSize)...)
			_, err = openDatagram(keys, pkt)
			require.ErrorIs(t, err, errDatagramSignature)
		})
	}
	assert.Empty(t, keys.keys, "nothing remembered for them")
}

// A tagged datagram opens only unchanged, at its receiver, from the key
// it names; a signed one, as agents before tagged datagrams send, still
// opens.
func TestDatagramProofs(t *testing.T) {
	sender, receiver, other := mustIdentity(t), mustIdentity(t), mustIdentity(t)
	sk, rk, ok := mustPairKeys(t, sender.Key), mustPairKeys(t, receiver.Key), mustPairKeys(t, other.Key)
	now := time.Now()
	pkt, err := sealDatagram(sk, nil, receiver.Public(), []byte("ping"), now)
	require.NoError(t, err)
	d, err := openDatagram(rk, pkt)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(d.payload))
	assert.True(t, d.from.Equal(sender.Public()))
	_, err = openDatagram(ok, pkt)
	require.ErrorIs(t, err, errDatagramSignature, "at another receiver")
	for i := range pkt {
		if i == 0 {
			continue // the format: another layout altogether
		}
		bent := append([]byte(nil), pkt...)
		bent[i] ^= 0x10
		_, err := openDatagram(rk, bent)
		require.Error(t, err, "byte %d changed", i)
	}
	// Another sender's key in place of the sender's.
	forged := append([]byte(nil), pkt...)
	copy(forged[1:], other.Public())
	_, err = openDatagram(rk, forged)
	require.ErrorIs(t, err, errDatagramSignature)

	signed := mustSealSigned(t, sender.Key, receiver.Public(), []byte("old"), now)
	d, err = openDatagram(rk, signed)
	require.NoError(t, err)
	assert.Equal(t, "old", string(d.payload))
	_, err = openDatagram(ok, signed)
	require.ErrorIs(t, err, errDatagramSignature)
	signed[len(signed)-1] ^= 1
	_, err = openDatagram(rk, signed)
	require.ErrorIs(t, err, errDatagramSignature)
	_, err = openDatagram(rk, append([]byte{0x03}, pkt[1:]...))
	require.ErrorIs(t, err, errDatagramFormat, "a format this version does not read")
}

// A signed datagram from an agent of the version before tags passes the
// endpoint's checks (replay included) as a tagged one does.
func TestSignedDatagramsStillTaken(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		id := mustIdentity(t)
		a, b := mk(Config{Identity: id}), mk(Config{})
		ep := b.(*memTransport).datagrams
		pkt := mustSealSigned(t, id.Key, keyOf(b), []byte("from an older agent"), time.Now())
		ep.received(pkt, a.Addr())
		got := receiveDatagram(t, b)
		assert.Equal(t, "from an older agent", string(got.Payload))
		assert.True(t, got.From.Equal(id.Public()))
		ep.received(pkt, a.Addr())
		assert.Equal(t, int64(1), b.Stats().DatagramsRefused, "the replay")
	})
}

// The keys remembered stay bounded, however many senders come.
func TestPairKeysBounded(t *testing.T) {
	keys := mustPairKeys(t, mustIdentity(t).Key)
	for range maxPairKeys + 10 {
		pub, _, err := ed25519.GenerateKey(nil)
		require.NoError(t, err)
		_, err = keys.key(pub)
		require.NoError(t, err)
		require.LessOrEqual(t, len(keys.keys), maxPairKeys)
	}
	assert.Equal(t, 10, len(keys.keys), "cleared when full, then filled again")
}

// BenchmarkDatagramSealOpen compares what sealing and opening one
// datagram costs its two ends under each format: the ed25519 signature of
// agents before tagged datagrams, and the tag under the pair's key (derived
// once per peer, then remembered).
func BenchmarkDatagramSealOpen(b *testing.B) {
	sender, receiver := mustIdentity(b), mustIdentity(b)
	sk, rk := mustPairKeys(b, sender.Key), mustPairKeys(b, receiver.Key)
	payload := make([]byte, 120) // about a Ping's size
	b.Run("signed", func(b *testing.B) {
		for b.Loop() {
			pkt := mustSealSigned(b, sender.Key, receiver.Public(), payload, time.Now())
			if _, err := openDatagram(rk, pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tagged", func(b *testing.B) {
		// The receiver remembers the key once a datagram passed
		// (datagramEndpoint.received).
		if _, err := rk.key(sender.Public()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			pkt, err := sealDatagram(sk, nil, receiver.Public(), payload, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := openDatagram(rk, pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pair key", func(b *testing.B) {
		for b.Loop() {
			clear(rk.keys)
			if _, err := rk.key(sender.Public()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A key with a component of small order agrees as the key without it:
// refused, so that one private key cannot speak for eight IDs; so is an
// encoding that is not the canonical one.
func TestPairKeysRefuseAliases(t *testing.T) {
	keys := mustPairKeys(t, mustIdentity(t).Key)
	real := mustIdentity(t).Public()
	_, err := keys.key(real)
	require.NoError(t, err)
	p, err := new(edwards25519.Point).SetBytes(real)
	require.NoError(t, err)
	order2 := [32]byte{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	torsion, err := new(edwards25519.Point).SetBytes(order2[:])
	require.NoError(t, err)
	alias := new(edwards25519.Point).Add(p, torsion).Bytes()
	_, err = keys.key(alias)
	require.ErrorIs(t, err, errPairKey, "the key plus a point of order 2")
	// y = p + 1, a non-canonical encoding of y = 1.
	nonCanonical := [32]byte{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	_, err = keys.key(nonCanonical[:])
	require.ErrorIs(t, err, errPairKey)
}

// A node answers each peer in the format of the last datagram it took
// from it: an agent of the version before tagged datagrams refuses them
// (Config.SignedDatagrams runs as one), so a rolling upgrade keeps its
// probes answered.
func TestDatagramsAnswerInThePeersFormat(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		old, young := mk(Config{SignedDatagrams: true}), mk(Config{})
		require.NoError(t, old.(Datagrams).SendDatagram(young.Addr(), keyOf(young), []byte("ping")))
		d := receiveDatagram(t, young)
		require.NoError(t, young.(Datagrams).SendDatagram(d.Addr, d.From, []byte("ack")))
		assert.Equal(t, "ack", string(receiveDatagram(t, old).Payload), "answered signed")
		assert.Zero(t, old.Stats().DatagramsRefused)

		// A third node the old agent never heard from sends tagged: refused.
		other := mk(Config{})
		require.NoError(t, other.(Datagrams).SendDatagram(old.Addr(), keyOf(old), []byte("tagged")))
		waitStats(t, old, func(s Stats) bool { return s.DatagramsRefused == 1 })

		// Once the peer sends tagged, it is answered tagged again.
		ep := young.(*memTransport).datagrams
		key := [32]byte(keyOf(old))
		_, signs := ep.signers[key]
		require.True(t, signs)
		upgraded := mustPairKeys(t, old.(*memTransport).id.Key)
		pkt, err := sealDatagram(upgraded, nil, keyOf(young), []byte("upgraded"), time.Now())
		require.NoError(t, err)
		ep.received(pkt, old.Addr())
		assert.Equal(t, "upgraded", string(receiveDatagram(t, young).Payload))
		_, signs = ep.signers[key]
		assert.False(t, signs)
	})
}

// Once a minute a datagram to a peer that signs its own goes tagged, to
// learn whether the peer was upgraded, and an agent of the version before
// refuses it; an answer (SendDatagramAnswer) is never that try, since
// nobody sends it again: it goes signed and is taken.
func TestAnswersAreNeverTheTaggedTry(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		old, young := mk(Config{SignedDatagrams: true}), mk(Config{})
		require.NoError(t, old.(Datagrams).SendDatagram(young.Addr(), keyOf(young), []byte("ping")))
		d := receiveDatagram(t, young)
		ep := young.(*memTransport).datagrams
		key := [32]byte(keyOf(old))
		ep.mu.Lock()
		ep.signers[key] = time.Now().Add(-signerRetry) // the minute is up
		ep.mu.Unlock()

		require.NoError(t, young.(Datagrams).SendDatagramAnswer(d.Addr, d.From, []byte("ack")))
		assert.Equal(t, "ack", string(receiveDatagram(t, old).Payload), "the answer went signed")
		assert.Zero(t, old.Stats().DatagramsRefused)

		require.NoError(t, young.(Datagrams).SendDatagram(d.Addr, d.From, []byte("probe")))
		waitStats(t, old, func(s Stats) bool { return s.DatagramsRefused == 1 }) // the try, refused
		require.NoError(t, young.(Datagrams).SendDatagram(d.Addr, d.From, []byte("again")))
		assert.Equal(t, "again", string(receiveDatagram(t, old).Payload), "signed again for a minute")
		assert.Equal(t, int64(1), old.Stats().DatagramsRefused)
	})
}

// A forged tagged datagram, from a key made up for it, leaves no pair key
// behind: only keys whose datagrams passed are remembered, so forgeries
// cannot push out the keys of real peers.
func TestForgedDatagramsRememberNoKey(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		ep := b.(*memTransport).datagrams
		made := mustIdentity(t)
		pkt, err := sealDatagram(mustPairKeys(t, made.Key), nil, keyOf(b), []byte("x"), time.Now())
		require.NoError(t, err)
		pkt[len(pkt)-1] ^= 1
		ep.received(pkt, "forger")
		assert.Equal(t, int64(1), b.Stats().DatagramsRefused)
		assert.Empty(t, ep.keys.keys)
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("real")))
		receiveDatagram(t, b)
		assert.Len(t, ep.keys.keys, 1, "the real sender's key, once its datagram passed")
	})
}

// Two agents of this version that each took a signed datagram from the
// other (both upgraded during a rolling upgrade, each seen signing before)
// leave the signed format within signerRetry: a tagged datagram goes to a
// signer every signerRetry, and its taker answers tagged from then on.
func TestSignersAreRetriedWithTags(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		ida, idb := mustIdentity(t), mustIdentity(t)
		a, b := mk(Config{Identity: ida}), mk(Config{Identity: idb})
		epa, epb := a.(*memTransport).datagrams, b.(*memTransport).datagrams
		epa.received(mustSealSigned(t, idb.Key, ida.Public(), []byte("as of old"), time.Now()), b.Addr())
		epb.received(mustSealSigned(t, ida.Key, idb.Public(), []byte("as of old"), time.Now()), a.Addr())
		receiveDatagram(t, a)
		receiveDatagram(t, b)
		signs := func(ep *datagramEndpoint, peer ed25519.PublicKey) bool {
			ep.mu.Lock()
			defer ep.mu.Unlock()
			_, ok := ep.signers[[32]byte(peer)]
			return ok
		}
		require.True(t, signs(epa, idb.Public()))
		require.True(t, signs(epb, ida.Public()))
		exchange := func() {
			require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("ping")))
			d := receiveDatagram(t, b)
			require.NoError(t, b.(Datagrams).SendDatagram(d.Addr, d.From, []byte("ack")))
			receiveDatagram(t, a)
		}
		exchange()
		assert.True(t, signs(epa, idb.Public()), "still signed within signerRetry")
		assert.True(t, signs(epb, ida.Public()))
		time.Sleep(signerRetry)
		exchange()
		assert.False(t, signs(epa, idb.Public()), "a tagged datagram went, was taken and answered tagged")
		assert.False(t, signs(epb, ida.Public()))
		assert.Zero(t, a.Stats().DatagramsRefused+b.Stats().DatagramsRefused)
	})
}
