package membership

import (
	"context"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"filippo.io/edwards25519"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// The runtime's batch check passes exactly the batches whose checks each
// pass alone: a bent byte anywhere, a key that is not the signer's, or a
// key or signature of the wrong size fails it.
func TestIdentitySignerBatchesAgreeWithSingleChecks(t *testing.T) {
	type signer struct {
		id   peer.ID
		pub  ed25519.PublicKey
		priv ed25519.PrivateKey
	}
	var signers []signer
	for range 4 {
		pub, priv, err := ed25519.GenerateKey(nil)
		require.NoError(t, err)
		signers = append(signers, signer{peer.ID(transport.KeyID(pub)), pub, priv})
	}
	var s identitySigner
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 24).Draw(rt, "checks")
		checks := make([]peer.Check, n)
		for i := range checks {
			sg := signers[rapid.IntRange(0, len(signers)-1).Draw(rt, "signer")]
			msg := []byte(fmt.Sprintf("message %d", i))
			checks[i] = peer.Check{Signer: sg.id, Key: sg.pub, Msg: msg, Sig: ed25519.Sign(sg.priv, msg)}
		}
		if rapid.Bool().Draw(rt, "bent") {
			c := &checks[rapid.IntRange(0, n-1).Draw(rt, "which")]
			c.Key, c.Msg, c.Sig = append([]byte(nil), c.Key...), append([]byte(nil), c.Msg...), append([]byte(nil), c.Sig...)
			switch rapid.IntRange(0, 4).Draw(rt, "how") {
			case 0:
				c.Msg[rapid.IntRange(0, len(c.Msg)-1).Draw(rt, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
			case 1:
				c.Sig[rapid.IntRange(0, len(c.Sig)-1).Draw(rt, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(rt, "bit")
			case 2:
				c.Signer++ // another node's ID
			case 3:
				c.Sig = c.Sig[:len(c.Sig)-1]
			case 4:
				c.Key = append(c.Key, 0)
			}
		}
		all := true
		for _, c := range checks {
			all = all && s.Verify(c.Signer, c.Key, c.Msg, c.Sig)
		}
		require.Equal(rt, all, s.VerifyBatch(checks))
	})
}

// A signature whose signer built it with a small-order component in R
// (R' = rB + T, T of order 8) passes the cofactored equation and not the
// cofactorless one. The runtime checks every signature under ZIP-215's
// rules, alone as in a batch, so it decides the same either way; Go's
// ed25519.Verify, which agents before batches used, refuses it
// (docs/security.md, "Signed origins").
func TestSmallOrderSignaturesPassAloneAsInABatch(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	msg := []byte("a statement")
	sig := smallOrderSignature(t, priv, msg)
	var s identitySigner
	id := peer.ID(transport.KeyID(pub))
	require.False(t, ed25519.Verify(pub, msg, sig), "refused by the cofactorless check")
	require.True(t, s.Verify(id, pub, msg, sig), "taken alone under ZIP-215")
	other := []byte("another")
	require.True(t, s.VerifyBatch([]peer.Check{{Signer: id, Key: pub, Msg: msg, Sig: sig}, {Signer: id, Key: pub, Msg: other, Sig: ed25519.Sign(priv, other)}}),
		"and in a batch")
	sig[40] ^= 1
	require.False(t, s.Verify(id, pub, msg, sig), "a bent S is refused")
}

// Under Config.StrictSignatures a node checks every signature alone with
// Go's ed25519.Verify, as agents before batches did: it refuses what they
// refuse, and checks no batch even with frames queued.
func TestStrictSignatures(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	msg := []byte("a statement")
	id := peer.ID(transport.KeyID(pub))
	var strict strictSigner
	require.False(t, strict.Verify(id, pub, msg, smallOrderSignature(t, priv, msg)), "the small-order signature refused")
	require.True(t, strict.Verify(id, pub, msg, ed25519.Sign(priv, msg)))
	_, batches := any(strict).(peer.BatchAuthenticator)
	require.False(t, batches)

	synctest.Test(t, func(t *testing.T) {
		receiver, origin, sub, release := heldPair(t, "strict", func(cfg *Config) { cfg.StrictSignatures = true })
		ctx := context.Background()
		const k = 6
		for i := range k {
			_, err := origin.Broadcast(ctx, "strict", []byte(fmt.Sprint("m", i)))
			require.NoError(t, err)
		}
		synctest.Wait()
		close(release)
		require.Len(t, receiveN(t, sub, k, 10*time.Second), k)
		require.Zero(t, receiver.Counters().Engine.SignatureBatches)
	})
}

// heldPair is a joined pair of nodes eagerly linked, the receiver
// subscribed to topic, and its state goroutine held until release is
// closed, so that the origin's frames queue in the receiver's inbox.
func heldPair(t *testing.T, topic string, configure func(*Config)) (receiver, origin *Node, sub *Subscription, release chan struct{}) {
	c := newMemClusterWith(t, 2, configure)
	c.joinAll()
	receiver, origin = c.nodes[0], c.nodes[1]
	sub = receiver.Subscribe(topic)
	t.Cleanup(sub.Close)
	waitFor(t, 10*time.Second, "the link eager both ways", func() bool {
		re, _ := receiver.Trees()
		oe, _ := origin.Trees()
		return len(re) == 1 && len(oe) == 1
	})
	held := make(chan struct{})
	release = make(chan struct{})
	go func() { _ = receiver.call(context.Background(), func() { close(held); <-release }) }()
	<-held
	return receiver, origin, sub, release
}

// smallOrderSignature signs msg with priv as ed25519 does, but with R
// shifted by a point of order 8.
func smallOrderSignature(t *testing.T, priv ed25519.PrivateKey, msg []byte) []byte {
	h := sha512.Sum512(priv.Seed())
	a, err := new(edwards25519.Scalar).SetBytesWithClamping(h[:32])
	require.NoError(t, err)
	order8, err := hex.DecodeString("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	require.NoError(t, err)
	T, err := new(edwards25519.Point).SetBytes(order8)
	require.NoError(t, err)
	nonce := sha512.New() // ed25519's: the key's prefix, then the message
	nonce.Write(h[32:])
	nonce.Write(msg)
	r, err := new(edwards25519.Scalar).SetUniformBytes(nonce.Sum(nil))
	require.NoError(t, err)
	R := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(r), T)
	k := sha512.New()
	k.Write(R.Bytes())
	k.Write(priv.Public().(ed25519.PublicKey))
	k.Write(msg)
	kk, err := new(edwards25519.Scalar).SetUniformBytes(k.Sum(nil))
	require.NoError(t, err)
	S := new(edwards25519.Scalar).MultiplyAdd(kk, a, r)
	return append(R.Bytes(), S.Bytes()...)
}

// Frames that wait in a node's inbox behind one another are taken
// together: their origin signatures are checked in one batch, each is
// delivered once, and work queued between frames runs after the frames
// before it and before those after it, which make a second batch.
func TestQueuedFramesAreCheckedInOneBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const k = 12
		var delivered int // on the state goroutine, as the hook runs
		receiver, origin, sub, release := heldPair(t, "batch", func(cfg *Config) {})
		ctx := context.Background()
		// The hook is registered through the held goroutine's inbox, so
		// it is in place before any frame is stepped.
		stopped := make(chan func())
		go func() {
			stopped <- receiver.OnMessage(func(m Message) {
				if m.Topic == "batch" {
					delivered++
				}
			})
		}()
		synctest.Wait()
		broadcast := func(from, to int) {
			for i := from; i < to; i++ {
				_, err := origin.Broadcast(ctx, "batch", []byte(fmt.Sprint("m", i)))
				require.NoError(t, err)
			}
			synctest.Wait() // the frames are read and queued
		}
		broadcast(0, k)
		require.GreaterOrEqual(t, len(receiver.inbox), k, "the frames wait in the inbox")
		between := -1
		require.True(t, receiver.post(func() { between = delivered }))
		broadcast(k, 2*k)
		close(release)
		defer (<-stopped)()
		got := receiveN(t, sub, 2*k, 10*time.Second)
		require.Len(t, got, 2*k)
		for m, n := range got {
			require.Equal(t, 1, n, "%s delivered once", m)
		}
		synctest.Wait()
		cnt := receiver.Counters().Engine
		// A member record broadcast or exchanged meanwhile may join a batch
		// or make one of its own.
		require.GreaterOrEqual(t, cnt.SignatureBatches, uint64(2), "a batch each side of the work")
		require.Zero(t, cnt.SignatureBatchesFailed)
		require.GreaterOrEqual(t, cnt.SignaturesBatched, uint64(2*k), "every origin signature checked in a batch")
		require.Equal(t, k, between, "the work ran after the frames before it and before those after it")
	})
}

// BenchmarkOriginChecks compares checking origin signatures one by one
// (identitySigner.Verify, ZIP-215; strictSigner.Verify, Go's
// ed25519.Verify) with checking them in batches of several sizes
// (VerifyBatch), per signature, the signers drawn from 64 keys as in the
// bench's cluster.
func BenchmarkOriginChecks(b *testing.B) {
	const signers = 64
	var checks []peer.Check
	for i := range signers {
		pub, priv, err := ed25519.GenerateKey(nil)
		require.NoError(b, err)
		msg := make([]byte, 300)
		msg[0] = byte(i)
		checks = append(checks, peer.Check{Signer: peer.ID(transport.KeyID(pub)), Key: pub, Msg: msg, Sig: ed25519.Sign(priv, msg)})
	}
	var s identitySigner
	for _, alone := range []struct {
		name string
		auth peer.Authenticator
	}{{"alone", s}, {"alone-strict", strictSigner{}}} {
		b.Run(alone.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				c := checks[i%len(checks)]
				if !alone.auth.Verify(c.Signer, c.Key, c.Msg, c.Sig) {
					b.Fatal("refused")
				}
			}
		})
	}
	for _, n := range []int{2, 4, 8, 16, 32, 64} {
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
			for b.Loop() {
				if !s.VerifyBatch(checks[:n]) {
					b.Fatal("refused")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/signature")
		})
	}
}
