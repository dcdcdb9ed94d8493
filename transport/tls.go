package transport

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The application protocols negotiated in the TLS handshake (ALPN), one
// per version of what the frames may carry: "plumview/N" for version N.
// Version 2 adds messages that an agent of version 1 cannot decode (it
// closes the connection on an unknown one); version 3 adds the signals of
// connections through NATs (gossip.Signal) and the authenticated datagrams
// (Datagrams), which an agent of version 2 neither decodes nor reads. Both
// ends offer every version they speak, the highest first, and
// Conn.Protocol tells the driver which one the two agreed on, so that it
// never sends a peer what it cannot read and a rolling upgrade keeps every
// link.
const (
	ALPN   = "plumview/3" // this version's
	ALPNv2 = "plumview/2"
	ALPNv1 = "plumview/1"
)

// ProtocolVersion is the highest version of the application protocol this
// transport speaks (ALPN).
const ProtocolVersion = 3

// protocolNames returns the ALPN names of the versions up to max (every
// one for 0), the highest first.
func protocolNames(max int) []string {
	if max <= 0 || max > ProtocolVersion {
		max = ProtocolVersion
	}
	names := make([]string, 0, max)
	for v := max; v >= 1; v-- {
		names = append(names, "plumview/"+strconv.Itoa(v))
	}
	return names
}

// protocolOf returns the version an ALPN name stands for: 1 for anything
// unknown (a peer that negotiated none predates the versions).
func protocolOf(name string) int {
	if v, ok := strings.CutPrefix(name, "plumview/"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= ProtocolVersion {
			return n
		}
	}
	return 1
}

// peerVerdict records why the handshake's VerifyConnection refused a peer,
// so Dial can return ErrWrongKey or ErrNotAdmitted instead of a TLS alert.
type peerVerdict struct {
	mu  sync.Mutex
	err error
	pub ed25519.PublicKey // the key the peer proved, for an unpinned dial
}

func (v *peerVerdict) setKey(pub ed25519.PublicKey) {
	v.mu.Lock()
	v.pub = pub
	v.mu.Unlock()
}

func (v *peerVerdict) key() ed25519.PublicKey {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pub
}

func (v *peerVerdict) set(err error) {
	v.mu.Lock()
	v.err = err
	v.mu.Unlock()
}

func (v *peerVerdict) get() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

// baseTLS is the part shared by both sides: TLS 1.3 only, our certificate,
// the ALPN, and no session resumption (tickets off, no client session
// cache) so every connection runs the full handshake and the checks below.
func baseTLS(cert tls.Certificate, maxProtocol int) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		NextProtos:             protocolNames(maxProtocol),
		SessionTicketsDisabled: true,
	}
}

// serverTLS requires a client certificate and applies admission to it.
func (t *QUIC) serverTLS() *tls.Config {
	c := baseTLS(t.cert, t.cfg.MaxProtocol)
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := t.verifyPeer(cs, nil)
		return err
	}
	return c
}

// clientTLS pins the server's key to want (nil: no pin) and applies
// admission. The chain
// is not verified against roots (InsecureSkipVerify); VerifyConnection, which
// runs on every handshake including resumed ones, does the checking.
func (t *QUIC) clientTLS(want ed25519.PublicKey, v *peerVerdict) *tls.Config {
	c := baseTLS(t.cert, t.cfg.MaxProtocol)
	c.InsecureSkipVerify = true
	c.ServerName = "plumview"
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		pub, err := t.verifyPeer(cs, want)
		v.set(err)
		v.setKey(pub)
		return err
	}
	return c
}

// verifyPeer extracts the peer's ed25519 key from its certificate, checks it
// against want (if non-nil) and applies admission. TLS itself proves the
// peer holds the certificate's private key (CertificateVerify).
func (t *QUIC) verifyPeer(cs tls.ConnectionState, want ed25519.PublicKey) (ed25519.PublicKey, error) {
	pub, leaf, err := peerKey(cs)
	if err == nil && want != nil && !pub.Equal(want) {
		err = fmt.Errorf("%w: got %x, want %x", ErrWrongKey, pub[:8], want[:8])
	}
	if err == nil {
		err = admit(t.cfg.Admission, pub, leaf)
	}
	if err != nil {
		t.stats.rejected.Add(1)
		return nil, err
	}
	return pub, nil
}

func peerKey(cs tls.ConnectionState) (ed25519.PublicKey, *x509.Certificate, error) {
	if cs.Version != tls.VersionTLS13 {
		return nil, nil, errors.New("transport: peer did not negotiate TLS 1.3")
	}
	if len(cs.PeerCertificates) == 0 {
		return nil, nil, fmt.Errorf("%w: no certificate", ErrNotAdmitted)
	}
	leaf := cs.PeerCertificates[0]
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("%w: certificate key is %T, want ed25519", ErrNotAdmitted, leaf.PublicKey)
	}
	return pub, leaf, nil
}
