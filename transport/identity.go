package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"time"
)

// Identity is a node's long-lived ed25519 key pair, plus an optional
// certificate for that key issued by a cluster CA (see IssueCertificate).
type Identity struct {
	Key    ed25519.PrivateKey
	CACert []byte // DER certificate for Key's public key signed by the cluster CA; optional
}

// GenerateIdentity returns a new identity with a random key and no
// certificate.
func GenerateIdentity() (Identity, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, fmt.Errorf("transport: generate key: %w", err)
	}
	return Identity{Key: key}, nil
}

// Public returns the identity's public key.
func (id Identity) Public() ed25519.PublicKey {
	if len(id.Key) != ed25519.PrivateKeySize {
		return nil
	}
	return id.Key.Public().(ed25519.PublicKey)
}

// validate checks the key and that CACert, if any, certifies this key.
func (id Identity) validate() error {
	if len(id.Key) != ed25519.PrivateKeySize {
		return errors.New("transport: identity has no valid ed25519 key")
	}
	if id.CACert == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(id.CACert)
	if err != nil {
		return fmt.Errorf("transport: identity certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(id.Public()) {
		return errors.New("transport: identity certificate is for another key")
	}
	return nil
}

// KeyID maps a public key to the compact identity the cores use
// (peer.ID, peer.ID): the first 8 bytes of SHA-256(pub),
// big-endian.
func KeyID(pub ed25519.PublicKey) uint64 {
	sum := sha256.Sum256(pub)
	return binary.BigEndian.Uint64(sum[:8])
}

// LoadOrCreateIdentity reads an identity from a PEM file holding a PKCS#8
// ed25519 "PRIVATE KEY" block and, optionally, a "CERTIFICATE" block (the
// CA-issued certificate). If the file does not exist it creates one with a
// new key and mode 0600. A file readable by group or others is refused.
func LoadOrCreateIdentity(path string) (Identity, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return createIdentity(path)
	}
	return LoadIdentity(path)
}

// LoadIdentity reads an identity file as LoadOrCreateIdentity does, with
// the same checks, but never creates one: a missing file is an error
// (wrapping fs.ErrNotExist).
func LoadIdentity(path string) (Identity, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Identity{}, fmt.Errorf("transport: identity file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return Identity{}, fmt.Errorf("transport: identity file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return Identity{}, fmt.Errorf("transport: identity file %s has permissions %#o; it must not be accessible by group or others (chmod 600)", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Identity{}, fmt.Errorf("transport: identity file: %w", err)
	}
	return parseIdentity(path, data)
}

func parseIdentity(path string, data []byte) (Identity, error) {
	var id Identity
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return Identity{}, fmt.Errorf("transport: identity file %s: %w", path, err)
			}
			key, ok := k.(ed25519.PrivateKey)
			if !ok {
				return Identity{}, fmt.Errorf("transport: identity file %s: key is %T, want ed25519", path, k)
			}
			id.Key = key
		case "CERTIFICATE":
			id.CACert = block.Bytes
		}
	}
	if id.Key == nil {
		return Identity{}, fmt.Errorf("transport: identity file %s: no PEM \"PRIVATE KEY\" block", path)
	}
	if err := id.validate(); err != nil {
		return Identity{}, fmt.Errorf("transport: identity file %s: %w", path, err)
	}
	return id, nil
}

func createIdentity(path string) (Identity, error) {
	id, err := GenerateIdentity()
	if err != nil {
		return Identity{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return Identity{}, fmt.Errorf("transport: encode key: %w", err)
	}
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Identity{}, fmt.Errorf("transport: create identity file: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		os.Remove(path)
		return Identity{}, fmt.Errorf("transport: write identity file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return Identity{}, fmt.Errorf("transport: write identity file: %w", err)
	}
	return id, nil
}

// IssueCertificate returns a DER certificate for nodePub, valid for
// validFor from now, signed by the cluster CA key ca. A node presents it
// (Identity.CACert) to peers whose Admission names ca's public key. Its
// validity starts an hour in the past, so a peer whose clock is behind
// (by less than that) admits a certificate issued just now.
func IssueCertificate(ca ed25519.PrivateKey, nodePub ed25519.PublicKey, validFor time.Duration) ([]byte, error) {
	if len(ca) != ed25519.PrivateKeySize || len(nodePub) != ed25519.PublicKeySize {
		return nil, errors.New("transport: issue certificate: bad key length")
	}
	if validFor <= 0 {
		return nil, errors.New("transport: issue certificate: validFor must be positive")
	}
	now := time.Now()
	parent := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "plumview cluster CA"},
		PublicKey: ca.Public(),
	}
	tmpl := certTemplate(nodePub, now.Add(-time.Hour), now.Add(validFor))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, nodePub, ca)
	if err != nil {
		return nil, fmt.Errorf("transport: issue certificate: %w", err)
	}
	return der, nil
}

func certTemplate(pub ed25519.PublicKey, notBefore, notAfter time.Time) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hex.EncodeToString(pub[:8])},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
}

// certificate returns the DER certificate the node presents: the CA-issued
// one if any, else a self-signed one on its key.
func (id Identity) certificate() ([]byte, error) {
	if id.CACert != nil {
		return id.CACert, nil
	}
	now := time.Now()
	tmpl := certTemplate(id.Public(), now.Add(-time.Hour), now.Add(100*365*24*time.Hour))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, id.Public(), id.Key)
	if err != nil {
		return nil, fmt.Errorf("transport: self-signed certificate: %w", err)
	}
	return der, nil
}

// admit applies adm to a peer holding pub that presented cert (nil if it
// presented none beyond its key).
func admit(adm Admission, pub ed25519.PublicKey, cert *x509.Certificate) error {
	if !adm.enabled() {
		return nil
	}
	for _, k := range adm.AllowList {
		if k.Equal(pub) {
			return nil
		}
	}
	if cert != nil && cert.SignatureAlgorithm == x509.PureEd25519 {
		for _, ca := range append([]ed25519.PublicKey{adm.CAKey}, adm.ExtraCAKeys...) {
			if len(ca) != ed25519.PublicKeySize || !ed25519.Verify(ca, cert.RawTBSCertificate, cert.Signature) {
				continue
			}
			now := time.Now()
			if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
				return fmt.Errorf("%w: certificate outside its validity period", ErrNotAdmitted)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: key %x neither CA-certified nor allow-listed", ErrNotAdmitted, pub[:8])
}
