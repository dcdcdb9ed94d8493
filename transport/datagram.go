package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Datagrams is implemented by transports that also carry authenticated,
// connectionless datagrams: one packet each way, no handshake, lost
// silently. It suits the small messages whose loss the protocol already
// tolerates and that go to a peer this node holds no connection to (a
// liveness probe and its answer), where setting up a connection would cost
// far more than the message (a QUIC handshake: a few kilobytes and two
// key exchanges). Both QUIC and MemNetwork implement it.
//
// A datagram carries a tag under a key only its sender and its receiver
// can derive from their identity keys (datagramkeys.go), over the
// receiver's key too, so it proves who sent it to its receiver and cannot
// be replayed to another node; the receiver applies its admission (Config.Admission) to the
// sender as it would on a connection, with the sender's CA-issued
// certificate carried in the datagram when it has one. What a peer sends
// this way is as untrusted as anything else it sends: the payload is
// bounded (MaxDatagramPayload), checks of tags and signatures have a budget
// (Config.DatagramBudget), and refused or dropped datagrams are counted in
// Stats.
type Datagrams interface {
	// SendDatagram sends payload, at most MaxDatagramPayload bytes, to
	// the node holding key at addr, an IP address and port over QUIC
	// (a name is refused rather than resolved). A nil error says only
	// that the datagram left: it may be lost, and to a peer that signs
	// its datagrams it may be the tagged try of once a minute, which such
	// a peer refuses, so the caller sends it again when unanswered.
	SendDatagram(addr string, key ed25519.PublicKey, payload []byte) error
	// SendDatagramAnswer is SendDatagram for a datagram its sender does
	// not send again when it is lost or refused (an answer): to a peer
	// that signs its datagrams (an agent of the version before tagged
	// ones) it always goes signed, never as the tagged datagram by which
	// the transport learns once a minute whether the peer was upgraded,
	// which such a peer refuses.
	SendDatagramAnswer(addr string, key ed25519.PublicKey, payload []byte) error
	// ReceiveDatagram returns the next datagram whose tag (or signature)
	// and sender passed the checks, or ErrClosed once the transport closed.
	ReceiveDatagram(ctx context.Context) (Datagram, error)
}

// DatagramsOf returns tr's datagrams, or false when it has none: it does
// not implement Datagrams, it runs as an agent of a version before
// datagrams would (Config.MaxProtocol below 3), which neither sends nor
// reads them, or its CA-issued certificate is too large to travel in a
// datagram (above 640 bytes; an ed25519 certificate is about 300).
func DatagramsOf(tr Transport) (Datagrams, bool) {
	d, ok := tr.(interface {
		Datagrams
		datagramsOn() bool
	})
	if !ok || !d.datagramsOn() {
		return nil, false
	}
	return d, true
}

// datagramProtocol is the first protocol version that carries datagrams.
const datagramProtocol = 3

// datagramsOn reports whether a transport capped at maxProtocol (0: none)
// carries datagrams.
func datagramsOn(maxProtocol int) bool {
	return maxProtocol == 0 || maxProtocol >= datagramProtocol
}

// errDatagramsOff is SendDatagram's error on a transport that runs as an
// agent of a version before datagrams.
var errDatagramsOff = errors.New("transport: datagrams are off below protocol version 3 (Config.MaxProtocol)")

// Datagram is a datagram received from an authenticated, admitted peer.
type Datagram struct {
	// From is the sender's key, proven by the datagram's tag (or
	// signature).
	From ed25519.PublicKey
	// Addr is the address the datagram came from, where an answer goes
	// (behind a NAT, not the one the sender advertises).
	Addr string
	// Payload is what the sender passed to SendDatagram.
	Payload []byte
}

// MaxDatagramPayload bounds a datagram's payload. A datagram, header,
// certificate and tag or signature included, also stays within maxDatagramBytes,
// which every IPv6 path carries unfragmented (a minimum MTU of 1,280 bytes
// less the IPv6 and UDP headers): with a CA-issued certificate the room
// for the payload is smaller, and SendDatagram refuses what does not fit.
const MaxDatagramPayload = 1024

// Datagram layout: the format byte (its two top bits clear, so that QUIC
// stacks take it for a non-QUIC packet, RFC 9443 §5), the sender's key,
// the sender's clock when it sealed the datagram (Unix milliseconds,
// uint64, big-endian), the certificate's length (uint16, big-endian) and
// DER, the payload, and the proof of the sender over a domain tag, the
// receiver's key and everything before the proof. Under datagramTagged,
// what this version sends, the proof is a 16-byte tag under the key the
// sender and the receiver share (datagramkeys.go); under datagramSigned,
// what agents before tagged datagrams (up to 28f5729) send and this
// version still takes and answers, it is an ed25519 signature
// (datagramSignedDomain).
//
// A datagram is taken once: its receiver refuses one sealed more than
// datagramFreshness away from its own clock, and one whose proof it
// took within that window (a replay, from anyone who captured it on the
// path, which would otherwise charge the sender's budgets at the receiver
// and pass for a fresh sign of its life). Clocks of a cluster must agree
// within datagramFreshness, as certificates' validity periods need too.
const (
	datagramSigned         byte = 0x01
	datagramTagged         byte = 0x02
	datagramHeader              = 1 + ed25519.PublicKeySize + 8 + 2
	datagramFreshness           = time.Minute
	maxDatagramCert             = 640
	maxDatagramBytes            = 1280 - 40 - 8
	datagramQueue               = 256
	datagramSignedDomain        = "plumview datagram v1\x00"
	defaultDatagramBurst        = 256
	defaultDatagramBudget       = 1000
	datagramAdmittedMax         = 4096
	datagramAdmittedMaxAge      = time.Minute
	// signerRetry is how often a peer that signs its datagrams is sent a
	// tagged one, to learn whether it reads them now (signers).
	signerRetry = time.Minute
)

// Errors of a datagram refused on receipt (counted in
// Stats.DatagramsRefused; never returned to a caller).
var (
	errDatagramFormat    = errors.New("transport: datagram malformed")
	errDatagramSignature = errors.New("transport: datagram signature or tag invalid")
	errDatagramStale     = errors.New("transport: datagram sealed too long ago or ahead of this clock")
	errDatagramReplayed  = errors.New("transport: datagram taken already")
)

// errDatagramTooLarge is SendDatagram's error for a payload above
// MaxDatagramPayload.
var errDatagramTooLarge = fmt.Errorf("%w: datagram payload above %d bytes", ErrFrameTooLarge, MaxDatagramPayload)

// sealDatagram builds the datagram carrying payload from the holder of
// keys (and cert, the DER of its CA-issued certificate or nil) to the
// holder of to, tagged under the key the two share.
func sealDatagram(keys *pairKeys, cert []byte, to ed25519.PublicKey, payload []byte, now time.Time) ([]byte, error) {
	if len(payload) > MaxDatagramPayload {
		return nil, errDatagramTooLarge
	}
	if len(cert) > maxDatagramCert {
		return nil, fmt.Errorf("transport: certificate of %d bytes too large for a datagram (at most %d)", len(cert), maxDatagramCert)
	}
	if size := datagramHeader + len(cert) + len(payload) + pairTagSize; size > maxDatagramBytes {
		return nil, fmt.Errorf("%w: a datagram of %d bytes with its certificate, above %d", ErrFrameTooLarge, size, maxDatagramBytes)
	}
	key, err := keys.key(to)
	if err != nil {
		return nil, fmt.Errorf("transport: a datagram needs the receiver's key: %w", err)
	}
	pkt := make([]byte, 0, datagramHeader+len(cert)+len(payload)+pairTagSize)
	pkt = append(pkt, datagramTagged)
	pkt = append(pkt, keys.self...)
	pkt = binary.BigEndian.AppendUint64(pkt, uint64(now.UnixMilli()))
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(len(cert)))
	pkt = append(pkt, cert...)
	pkt = append(pkt, payload...)
	tag := pairTag(key, to, pkt)
	return append(pkt, tag[:]...), nil
}

// sealSignedDatagram builds the datagram carrying payload from the holder
// of key (and cert) to the holder of to as agents before tagged datagrams
// seal them (up to 28f5729): the same layout under datagramSigned, ending
// in an ed25519 signature. A node answers such agents in their format
// (datagramEndpoint.signers).
func sealSignedDatagram(key ed25519.PrivateKey, cert []byte, to ed25519.PublicKey, payload []byte, now time.Time) ([]byte, error) {
	if len(payload) > MaxDatagramPayload {
		return nil, errDatagramTooLarge
	}
	if len(cert) > maxDatagramCert {
		return nil, fmt.Errorf("transport: certificate of %d bytes too large for a datagram (at most %d)", len(cert), maxDatagramCert)
	}
	if size := datagramHeader + len(cert) + len(payload) + ed25519.SignatureSize; size > maxDatagramBytes {
		return nil, fmt.Errorf("%w: a datagram of %d bytes with its certificate, above %d", ErrFrameTooLarge, size, maxDatagramBytes)
	}
	pkt := make([]byte, 0, datagramHeader+len(cert)+len(payload)+ed25519.SignatureSize)
	pkt = append(pkt, datagramSigned)
	pkt = append(pkt, key.Public().(ed25519.PublicKey)...)
	pkt = binary.BigEndian.AppendUint64(pkt, uint64(now.UnixMilli()))
	pkt = binary.BigEndian.AppendUint16(pkt, uint16(len(cert)))
	pkt = append(pkt, cert...)
	pkt = append(pkt, payload...)
	return append(pkt, ed25519.Sign(key, signedDatagram(to, pkt))...), nil
}

// signedDatagram is what the signature of a datagramSigned datagram
// covers.
func signedDatagram(to ed25519.PublicKey, body []byte) []byte {
	msg := make([]byte, 0, len(datagramSignedDomain)+len(to)+len(body))
	msg = append(msg, datagramSignedDomain...)
	msg = append(msg, to...)
	return append(msg, body...)
}

// openedDatagram is a datagram whose layout checked out (parseDatagram)
// and then its proof (verify).
type openedDatagram struct {
	format  byte
	from    ed25519.PublicKey
	sealed  time.Time
	cert    []byte // DER, or nil
	payload []byte
	body    []byte // what the proof covers, the receiver's key aside
	proof   []byte // the signature or the tag
}

// proofSize returns the size of the proof that ends a datagram of format
// f, or 0 for a format this version does not read.
func proofSize(f byte) int {
	switch f {
	case datagramTagged:
		return pairTagSize
	case datagramSigned:
		return ed25519.SignatureSize
	}
	return 0
}

// parseDatagram checks a datagram's layout and bounds, which costs next to
// nothing, and returns its parts, which alias pkt.
func parseDatagram(pkt []byte) (openedDatagram, error) {
	if len(pkt) == 0 || proofSize(pkt[0]) == 0 {
		return openedDatagram{}, errDatagramFormat
	}
	proof := proofSize(pkt[0])
	if len(pkt) < datagramHeader+proof || len(pkt) > maxDatagramBytes {
		return openedDatagram{}, errDatagramFormat
	}
	from := ed25519.PublicKey(pkt[1 : 1+ed25519.PublicKeySize])
	ms := binary.BigEndian.Uint64(pkt[1+ed25519.PublicKeySize:])
	certLen := int(binary.BigEndian.Uint16(pkt[1+ed25519.PublicKeySize+8:]))
	body := pkt[:len(pkt)-proof]
	if ms > math.MaxInt64 || certLen > maxDatagramCert || datagramHeader+certLen > len(body) || len(body)-datagramHeader-certLen > MaxDatagramPayload {
		return openedDatagram{}, errDatagramFormat
	}
	d := openedDatagram{format: pkt[0], from: from, sealed: time.UnixMilli(int64(ms)), payload: body[datagramHeader+certLen:],
		body: body, proof: pkt[len(body):]}
	if certLen > 0 {
		d.cert = body[datagramHeader : datagramHeader+certLen]
	}
	return d, nil
}

// verify checks the proof of a parsed datagram addressed to the holder
// of keys. For a tagged datagram whose pair key was not remembered it
// returns the key it derived and true, for the caller to remember once
// the datagram passed every check (pairKeys.lookup).
func (d openedDatagram) verify(keys *pairKeys) (key [sha256.Size]byte, derived bool, err error) {
	switch d.format {
	case datagramTagged:
		key, remembered, err := keys.lookup(d.from)
		if err != nil {
			return key, false, errDatagramSignature
		}
		tag := pairTag(key, keys.self, d.body)
		if !hmac.Equal(tag[:], d.proof) {
			return key, false, errDatagramSignature
		}
		return key, !remembered, nil
	case datagramSigned:
		if !ed25519.Verify(d.from, signedDatagram(keys.self, d.body), d.proof) {
			return key, false, errDatagramSignature
		}
		return key, false, nil
	}
	return key, false, errDatagramFormat
}

// openDatagram parses a datagram addressed to the holder of keys and
// checks its proof.
func openDatagram(keys *pairKeys, pkt []byte) (openedDatagram, error) {
	d, err := parseDatagram(pkt)
	if err == nil {
		_, _, err = d.verify(keys)
	}
	return d, err
}

// datagramEndpoint is the part of a transport that seals, checks and
// queues datagrams, whatever carries them.
type datagramEndpoint struct {
	keys      *pairKeys
	key       ed25519.PrivateKey // for the datagrams to signers
	cert      []byte             // CA-issued certificate's DER, or nil
	admission Admission
	stats     *counters
	budget    *rate.Limiter // checks of tags and signatures
	queue     chan Datagram
	done      <-chan struct{}
	// signedOnly seals and takes signed datagrams only, as agents before
	// tagged datagrams did (Config.SignedDatagrams).
	signedOnly bool

	mu       sync.Mutex
	admitted map[string]time.Time // keys admitted through their certificate, and when
	// signers holds the peers whose last datagram taken was signed, and
	// when a tagged one last went to each: agents of a version before
	// tagged datagrams, which refuse them, so that what goes to them is
	// signed too (a rolling upgrade), but for a tagged one every
	// signerRetry, which an agent upgraded since takes (it then answers
	// tagged, and both ends leave the signed format, which two upgraded
	// agents that each saw the other sign would otherwise keep). At most
	// maxPairKeys, then forgotten (their next signed datagram tells again).
	signers map[[ed25519.PublicKeySize]byte]time.Time
	// taken holds a prefix of the proof of every datagram taken
	// within datagramFreshness, and when it was sealed: a replay is
	// refused. At most the budget's checks of one window.
	taken map[[16]byte]time.Time
	// takenMax bounds taken; sweptAt is when it was last swept.
	takenMax int
	sweptAt  time.Time
}

func newDatagramEndpoint(keys *pairKeys, id Identity, adm Admission, budget int, signedOnly bool, stats *counters, done <-chan struct{}) *datagramEndpoint {
	if budget <= 0 {
		budget = defaultDatagramBudget
	}
	burst := max(defaultDatagramBurst, budget/4)
	return &datagramEndpoint{keys: keys, key: id.Key, signedOnly: signedOnly, signers: map[[ed25519.PublicKeySize]byte]time.Time{},
		cert: id.CACert, admission: adm, stats: stats,
		budget: rate.NewLimiter(rate.Limit(budget), burst),
		queue:  make(chan Datagram, datagramQueue), done: done, admitted: map[string]time.Time{},
		taken: map[[16]byte]time.Time{}, takenMax: burst + budget*int(2*datagramFreshness/time.Second)}
}

// datagramsFit reports whether an identity's datagrams leave room for a
// payload: its CA-issued certificate travels in each.
func datagramsFit(id Identity) bool { return len(id.CACert) <= maxDatagramCert }

// seal builds a datagram to the holder of to: tagged, or signed when
// the peer signs its own (signers), but for a tagged one every
// signerRetry if mayTry (a datagram its sender sends again when
// unanswered, so that the peer's refusal costs a datagram sent again, not
// an answer).
func (e *datagramEndpoint) seal(to ed25519.PublicKey, payload []byte, mayTry bool) ([]byte, error) {
	if len(to) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("transport: a datagram needs the receiver's key")
	}
	now := time.Now()
	e.mu.Lock()
	tried, signs := e.signers[[ed25519.PublicKeySize]byte(to)]
	if signs && mayTry && now.Sub(tried) >= signerRetry {
		signs = false // try a tagged one: the peer may read them now
		e.signers[[ed25519.PublicKeySize]byte(to)] = now
	}
	e.mu.Unlock()
	var pkt []byte
	var err error
	if signs || e.signedOnly {
		pkt, err = sealSignedDatagram(e.key, e.cert, to, payload, time.Now())
	} else {
		pkt, err = sealDatagram(e.keys, e.cert, to, payload, time.Now())
	}
	if err == nil {
		e.stats.datagramsSent.Add(1)
	}
	return pkt, err
}

// received checks a datagram that arrived from addr and queues it for
// ReceiveDatagram; what fails a check, or finds the budget spent or the
// queue full, is dropped and counted.
func (e *datagramEndpoint) received(pkt []byte, addr string) {
	now := time.Now()
	d, err := parseDatagram(pkt)
	if err == nil && (d.sealed.Before(now.Add(-datagramFreshness)) || d.sealed.After(now.Add(datagramFreshness))) {
		err = errDatagramStale
	}
	if err != nil { // refused before the budget: junk spends none of it
		e.stats.datagramsRefused.Add(1)
		return
	}
	if !e.budget.Allow() {
		e.stats.datagramsDropped.Add(1)
		return
	}
	var key [sha256.Size]byte
	var derived bool
	if e.signedOnly && d.format != datagramSigned {
		err = errDatagramFormat
	} else {
		key, derived, err = d.verify(e.keys)
	}
	if err == nil {
		err = e.take(d, now)
	}
	if err == nil {
		err = e.admit(d)
	}
	if err != nil {
		e.stats.datagramsRefused.Add(1)
		return
	}
	if derived {
		e.keys.remember(d.from, key)
	}
	e.noteFormat(d)
	out := Datagram{From: append(ed25519.PublicKey(nil), d.from...), Addr: addr, Payload: append([]byte(nil), d.payload...)}
	select {
	case e.queue <- out:
		e.stats.datagramsReceived.Add(1)
	default:
		e.stats.datagramsDropped.Add(1)
	}
}

// noteFormat remembers whether the sender of a datagram taken signs its
// datagrams, to answer it in its format (signers).
func (e *datagramEndpoint) noteFormat(d openedDatagram) {
	id := [ed25519.PublicKeySize]byte(d.from)
	e.mu.Lock()
	defer e.mu.Unlock()
	if d.format != datagramSigned {
		delete(e.signers, id)
		return
	}
	if _, ok := e.signers[id]; ok {
		return // keep when a tagged one last went
	}
	if len(e.signers) >= maxPairKeys {
		clear(e.signers)
	}
	e.signers[id] = time.Now()
}

// take records a verified datagram's proof, refusing one taken
// already within datagramFreshness (a replay), or any while the record is
// full of fresh ones (only the budget's worth of verified datagrams can
// fill it).
func (e *datagramEndpoint) take(d openedDatagram, now time.Time) error {
	var k [16]byte
	copy(k[:], d.proof)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.taken[k]; ok {
		return errDatagramReplayed
	}
	if len(e.taken) >= e.takenMax || now.Sub(e.sweptAt) > datagramFreshness {
		for s, at := range e.taken {
			if now.Sub(at) > datagramFreshness {
				delete(e.taken, s)
			}
		}
		e.sweptAt = now
		if len(e.taken) >= e.takenMax {
			return errDatagramReplayed
		}
	}
	e.taken[k] = d.sealed
	return nil
}

// admit applies the admission to a datagram's sender, remembering for a
// while the keys whose certificates passed so that a certificate is
// checked once a minute per peer, not once a datagram.
func (e *datagramEndpoint) admit(d openedDatagram) error {
	if !e.admission.enabled() {
		return nil
	}
	now := time.Now()
	e.mu.Lock()
	at, ok := e.admitted[string(d.from)]
	e.mu.Unlock()
	if ok && now.Sub(at) < datagramAdmittedMaxAge {
		return nil
	}
	var cert *x509.Certificate
	if d.cert != nil {
		c, err := x509.ParseCertificate(d.cert)
		if err != nil {
			return fmt.Errorf("%w: datagram certificate: %v", ErrNotAdmitted, err)
		}
		if pub, ok := c.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(d.from) {
			return fmt.Errorf("%w: datagram certificate is for another key", ErrNotAdmitted)
		}
		cert = c
	}
	if err := admit(e.admission, d.from, cert); err != nil {
		return err
	}
	if cert != nil {
		e.mu.Lock()
		if len(e.admitted) >= datagramAdmittedMax {
			clear(e.admitted) // bounded: the next datagrams prove themselves again
		}
		e.admitted[string(d.from)] = now
		e.mu.Unlock()
	}
	return nil
}

// receive returns the next queued datagram.
func (e *datagramEndpoint) receive(ctx context.Context) (Datagram, error) {
	select {
	case d := <-e.queue:
		return d, nil
	case <-ctx.Done():
		return Datagram{}, ctx.Err()
	case <-e.done:
		return Datagram{}, ErrClosed
	}
}
