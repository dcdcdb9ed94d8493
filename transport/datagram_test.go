package transport

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receiveDatagram waits for b's next datagram.
func receiveDatagram(t testing.TB, b Transport) Datagram {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	d, err := b.(Datagrams).ReceiveDatagram(ctx)
	require.NoError(t, err)
	return d
}

// waitStats polls tr's counters until cond holds (the real network
// delivers asynchronously), failing after waitTimeout.
func waitStats(t testing.TB, tr Transport, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s := tr.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters never reached the condition: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDatagramsBothWays(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("ping")))
		d := receiveDatagram(t, b)
		assert.True(t, d.From.Equal(keyOf(a)), "the sender's key, proven by its signature")
		assert.Equal(t, "ping", string(d.Payload))
		// The answer goes to where the datagram came from.
		require.NoError(t, b.(Datagrams).SendDatagram(d.Addr, d.From, []byte("ack")))
		back := receiveDatagram(t, a)
		assert.True(t, back.From.Equal(keyOf(b)))
		assert.Equal(t, "ack", string(back.Payload))
		assert.Equal(t, int64(1), a.Stats().DatagramsSent)
		// The datagram is queued for the reader before it is counted
		// (datagramEndpoint.received): wait for the count.
		waitStats(t, a, func(s Stats) bool { return s.DatagramsReceived == 1 })
		assert.Equal(t, int64(0), a.Stats().DatagramsRefused+b.Stats().DatagramsRefused)
	})
}

func TestDatagramRefusals(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		listed := mustIdentity(t)
		a := mk(Config{Identity: listed})
		stranger := mk(Config{})
		b := mk(Config{Admission: Admission{AllowList: []ed25519.PublicKey{listed.Public()}}})
		c := mk(Config{})

		// Sealed for c, delivered to b: b's key is not the one signed
		// over, so a datagram cannot be replayed to another node.
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(c), []byte("for c")))
		waitStats(t, b, func(s Stats) bool { return s.DatagramsRefused == 1 })
		// Admission applies as on a connection.
		require.NoError(t, stranger.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("let me in")))
		waitStats(t, b, func(s Stats) bool { return s.DatagramsRefused == 2 })
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("listed")))
		assert.Equal(t, "listed", string(receiveDatagram(t, b).Payload), "refusals leave the next datagram alone")
		waitStats(t, b, func(s Stats) bool { return s.DatagramsReceived == 1 })

		err := a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), make([]byte, MaxDatagramPayload+1))
		require.ErrorIs(t, err, ErrFrameTooLarge)
		require.ErrorContains(t, a.(Datagrams).SendDatagram(b.Addr(), nil, []byte("x")), "receiver's key")
	})
}

func TestDatagramAdmissionByCertificate(t *testing.T) {
	_, caKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	bothTransports(t, func(t *testing.T, mk newFunc) {
		id := mustIdentity(t)
		id.CACert, err = IssueCertificate(caKey, id.Public(), time.Hour)
		require.NoError(t, err)
		adm := Admission{CAKey: caKey.Public().(ed25519.PublicKey)}
		a, b := mk(Config{Identity: id, Admission: adm}), mk(Config{Admission: adm})
		plain := mk(Config{})
		for i := range 2 { // the second passes on the remembered admission
			msg := fmt.Sprint("certified ", i)
			require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte(msg)))
			assert.Equal(t, msg, string(receiveDatagram(t, b).Payload))
		}
		require.NoError(t, plain.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("uncertified")))
		waitStats(t, b, func(s Stats) bool { return s.DatagramsRefused == 1 })
		// The certificate takes room: a payload that fits alone does not
		// fit with it.
		require.NoError(t, plain.(Datagrams).SendDatagram(b.Addr(), keyOf(b), make([]byte, MaxDatagramPayload)))
		require.ErrorIs(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), make([]byte, MaxDatagramPayload)), ErrFrameTooLarge)
	})
}

// A flood costs at most the budget's checks: the rest are
// dropped unchecked and counted.
func TestDatagramBudget(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{DatagramBudget: 1})
		const sent = 2 * defaultDatagramBurst
		for range sent {
			require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("flood")))
		}
		s := b.Stats()
		assert.Equal(t, int64(defaultDatagramBurst), s.DatagramsReceived+s.DatagramsRefused, "checked: the burst")
		assert.Equal(t, int64(sent-defaultDatagramBurst), s.DatagramsDropped)
	})
}

// Datagrams meet the in-memory network's partitions and crashes.
func TestMemDatagramsMeetFaults(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{})
		net := a.(*memTransport).net
		net.Partition([]string{a.Addr()}, []string{b.Addr()})
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("cut")))
		net.Heal()
		net.SetHook(func(from, to string, p []byte) bool { return !strings.Contains(string(p), "hooked") })
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("hooked")))
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("through")))
		assert.Equal(t, "through", string(receiveDatagram(t, b).Payload))
		assert.Equal(t, int64(2), a.Stats().FramesDropped)
		net.Crash(b.Addr())
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("gone")))
		assert.Equal(t, int64(3), a.Stats().FramesDropped)
	})
}

// synctestMem runs body against a MemNetwork alone.
func synctestMem(t *testing.T, body func(t *testing.T, mk newFunc)) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		if _, ok := mk(Config{}).(*QUIC); ok {
			return // the in-memory network only
		}
		body(t, mk)
	})
}

func FuzzOpenDatagram(f *testing.F) {
	id, err := GenerateIdentity()
	require.NoError(f, err)
	keys := mustPairKeys(f, id.Key)
	sender := mustIdentity(f)
	tagged, err := sealDatagram(mustPairKeys(f, sender.Key), nil, id.Public(), []byte("payload"), time.Unix(1700000000, 0))
	require.NoError(f, err)
	f.Add(tagged)
	f.Add(mustSealSigned(f, sender.Key, id.Public(), []byte("payload"), time.Unix(1700000000, 0)))
	f.Add([]byte{datagramTagged})
	f.Add(append([]byte{datagramTagged}, make([]byte, datagramHeader+pairTagSize)...))
	f.Add(append([]byte{datagramSigned}, make([]byte, datagramHeader+ed25519.SignatureSize)...))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		d, err := openDatagram(keys, pkt)
		if err != nil {
			return
		}
		// Only a datagram its sender sealed for us opens.
		assert.LessOrEqual(t, len(d.payload), MaxDatagramPayload)
		switch pkt[0] {
		case datagramTagged:
			shared, err := keys.key(d.from)
			require.NoError(t, err)
			tag := pairTag(shared, id.Public(), pkt[:len(pkt)-pairTagSize])
			assert.Equal(t, tag[:], pkt[len(pkt)-pairTagSize:])
		case datagramSigned:
			assert.True(t, ed25519.Verify(d.from, signedDatagram(id.Public(), pkt[:len(pkt)-ed25519.SignatureSize]), pkt[len(pkt)-ed25519.SignatureSize:]))
		default:
			t.Fatalf("a datagram of format %#x opened", pkt[0])
		}
	})
}

// The context ends a wait for a datagram; Close ends it with ErrClosed.
func TestReceiveDatagramEnds(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		a := mk(Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_, err := a.(Datagrams).ReceiveDatagram(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, a.Close())
		_, err = a.(Datagrams).ReceiveDatagram(context.Background())
		require.ErrorIs(t, err, ErrClosed)
	})
}

// A transport running as an agent of a version before datagrams
// (MaxProtocol 2) neither sends nor reads them.
func TestNoDatagramsBelowVersion3(t *testing.T) {
	bothTransports(t, func(t *testing.T, mk newFunc) {
		old, cur := mk(Config{MaxProtocol: 2}), mk(Config{})
		_, ok := DatagramsOf(old)
		assert.False(t, ok)
		dg, ok := DatagramsOf(cur)
		require.True(t, ok)
		require.ErrorContains(t, old.(Datagrams).SendDatagram(cur.Addr(), keyOf(cur), []byte("x")), "protocol version 3")
		require.NoError(t, dg.SendDatagram(old.Addr(), keyOf(old), []byte("lost")))
		require.NoError(t, dg.SendDatagram(cur.Addr(), keyOf(cur), []byte("to self")))
		assert.Equal(t, "to self", string(receiveDatagram(t, cur).Payload), "a later datagram to a reader arrives")
		assert.Zero(t, old.Stats().DatagramsReceived)
	})
}

// Behind a NAT (MemConfig.BehindNAT) a transport receives a datagram
// only from an address it sent one to: the answer to its own.
func TestMemDatagramsBehindNAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		listen := func(addr string, mc MemConfig) Transport {
			tr, err := n.Listen(addr, mustIdentity(t), mc)
			require.NoError(t, err)
			t.Cleanup(func() { _ = tr.Close() })
			return tr
		}
		natted, public := listen("nat", MemConfig{BehindNAT: true}), listen("pub", MemConfig{})
		require.NoError(t, public.(Datagrams).SendDatagram(natted.Addr(), keyOf(natted), []byte("unsolicited")))
		require.NoError(t, natted.(Datagrams).SendDatagram(public.Addr(), keyOf(public), []byte("out")))
		require.Equal(t, "out", string(receiveDatagram(t, public).Payload))
		require.NoError(t, public.(Datagrams).SendDatagram(natted.Addr(), keyOf(natted), []byte("answer")))
		require.Equal(t, "answer", string(receiveDatagram(t, natted).Payload), "the answer, not the unsolicited one")
		time.Sleep(natMappingLife + time.Second)
		require.NoError(t, public.(Datagrams).SendDatagram(natted.Addr(), keyOf(natted), []byte("late")))
		synctest.Wait()
		assert.Equal(t, int64(1), natted.Stats().DatagramsReceived, "the mapping expired")
	})
}

// A datagram is taken once, and only fresh: a replay (by anyone who
// captured it on the path) and one sealed far from the receiver's clock
// are refused, so neither charges the sender's budgets nor passes for a
// sign of its life.
func TestDatagramReplayAndStaleRefused(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		id := mustIdentity(t)
		a, b := mk(Config{Identity: id}), mk(Config{})
		ep := b.(*memTransport).datagrams
		keys := mustPairKeys(t, id.Key)
		pkt, err := sealDatagram(keys, nil, keyOf(b), []byte("ping"), time.Now())
		require.NoError(t, err)
		ep.received(pkt, a.Addr())
		assert.Equal(t, "ping", string(receiveDatagram(t, b).Payload))
		ep.received(pkt, "elsewhere")
		assert.Equal(t, int64(1), b.Stats().DatagramsRefused, "the replay")
		for i, at := range []time.Time{time.Now().Add(-2 * datagramFreshness), time.Now().Add(2 * datagramFreshness)} {
			old, err := sealDatagram(keys, nil, keyOf(b), []byte("ping"), at)
			require.NoError(t, err)
			ep.received(old, a.Addr())
			assert.Equal(t, int64(2+i), b.Stats().DatagramsRefused)
		}
		assert.Equal(t, int64(1), b.Stats().DatagramsReceived)
		// Long after, the replay is refused as stale.
		time.Sleep(2 * datagramFreshness)
		ep.received(pkt, "elsewhere")
		assert.Equal(t, int64(4), b.Stats().DatagramsRefused)
	})
}

// Junk refused by its layout spends none of the signature budget: an
// honest datagram after a flood of it still gets through.
func TestDatagramJunkSpendsNoBudget(t *testing.T) {
	synctestMem(t, func(t *testing.T, mk newFunc) {
		a, b := mk(Config{}), mk(Config{DatagramBudget: 1})
		ep := b.(*memTransport).datagrams
		for range 4 * defaultDatagramBurst {
			ep.received([]byte{datagramTagged}, "junk")
		}
		require.NoError(t, a.(Datagrams).SendDatagram(b.Addr(), keyOf(b), []byte("honest")))
		assert.Equal(t, "honest", string(receiveDatagram(t, b).Payload))
		assert.Equal(t, int64(4*defaultDatagramBurst), b.Stats().DatagramsRefused)
		assert.Zero(t, b.Stats().DatagramsDropped)
	})
}

// Over QUIC a datagram goes to an IP address only: a name would be
// resolved on the caller's goroutine.
func TestQUICDatagramNeedsAnIPAddress(t *testing.T) {
	a, b := newQUIC(t, Config{}), newQUIC(t, Config{})
	require.ErrorIs(t, a.SendDatagram("localhost:1", keyOf(b), []byte("x")), ErrUnreachable)
}

// An identity whose certificate would not leave room in a datagram has
// none: its probes go over connections.
func TestNoDatagramsWithAnOversizedCertificate(t *testing.T) {
	id := mustIdentity(t)
	id.CACert = make([]byte, maxDatagramCert+1)
	q := &QUIC{cfg: Config{Identity: id}}
	assert.False(t, q.datagramsOn())
	id.CACert = id.CACert[:maxDatagramCert]
	q.cfg.Identity = id
	assert.True(t, q.datagramsOn())
}
