package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/plumview/plumview/transport"
)

// defaultCertValidity is how long a certificate made by keygen -ca or by
// certify stays valid unless -valid says otherwise.
const defaultCertValidity = 365 * 24 * time.Hour

// runCertify replaces the certificate in an existing key file with one
// signed by a (new) cluster CA, keeping the key: the node's id and address
// stay the same. It is the second step of a cluster CA rotation
// (docs/operations.md, "Rotating the cluster CA").
func runCertify(args []string, stdout, stderr io.Writer) error {
	f := flag.NewFlagSet("certify", flag.ContinueOnError)
	keyFile := f.String("key-file", "", "existing identity key `file` (the agent's -key-file): its key is kept, its certificate replaced by one signed by -ca")
	caFile := f.String("ca", "", "cluster CA key `file` (itself made by keygen) that signs the new certificate")
	valid := f.Duration("valid", defaultCertValidity, "how long the certificate is valid")
	if err := parseFlags(f, args, stderr); err != nil {
		return err
	}
	switch {
	case *keyFile == "":
		return errors.New("gossipd: certify: -key-file is required")
	case *caFile == "":
		return errors.New("gossipd: certify: -ca is required")
	case *valid <= 0:
		return fmt.Errorf("gossipd: certify: -valid %v: must be positive", *valid)
	}
	ca, err := loadCAKeyFile("certify", *caFile)
	if err != nil {
		return err
	}
	// Replace the file a symbolic link points to, not the link.
	path, err := filepath.EvalSymlinks(*keyFile)
	if err != nil {
		return fmt.Errorf("gossipd: certify: -key-file: %w", err)
	}
	id, err := transport.LoadIdentity(path)
	if err != nil {
		return fmt.Errorf("gossipd: certify: -key-file: %w", err)
	}
	der, err := transport.IssueCertificate(ca.Key, id.Public(), *valid)
	if err != nil {
		return fmt.Errorf("gossipd: certify: %w", err)
	}
	if err := replaceKeyFile(path, id.Key, der); err != nil {
		return fmt.Errorf("gossipd: certify: %s: %w", *keyFile, err)
	}
	back, err := transport.LoadIdentity(path)
	switch {
	case err != nil:
		return fmt.Errorf("gossipd: certify: the rewritten key file does not load: %w", err)
	case !back.Key.Equal(id.Key) || !bytes.Equal(back.CACert, der):
		return fmt.Errorf("gossipd: certify: %s: the rewritten key file does not hold the key and the new certificate", *keyFile)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("gossipd: certify: %w", err)
	}
	pub := base64.RawURLEncoding.EncodeToString(id.Public())
	_, err = fmt.Fprintf(stdout, "key file:   %s\npublic key: %s\nid:         %016x\naddress:    %s@<host:port>\nca:         %s\nvalid to:   %s\n",
		*keyFile, pub, transport.KeyID(id.Public()), pub,
		base64.RawURLEncoding.EncodeToString(ca.Public()), cert.NotAfter.UTC().Format(time.RFC3339))
	return err
}

// loadCAKeyFile loads the cluster CA's key file given to -ca of command
// cmd. A file holding public keys instead gets an error that says so.
func loadCAKeyFile(cmd, path string) (transport.Identity, error) {
	ca, err := transport.LoadIdentity(path)
	if err == nil {
		return ca, nil
	}
	if data, rerr := os.ReadFile(path); rerr == nil {
		if _, perr := parseClusterCAKeys(path, data); perr == nil {
			return ca, fmt.Errorf("gossipd: %s: -ca %s holds a public key; -ca wants the CA's key file (made by keygen), the one whose public key agents are given with -cluster-ca", cmd, path)
		}
	}
	return ca, fmt.Errorf("gossipd: %s: -ca: %w", cmd, err)
}

// replaceKeyFile replaces the identity file at path by one holding key and
// the DER certificate cert, atomically: it writes a temporary file (mode
// 0600, the owner of the file it replaces) in the same directory, syncs it
// and renames it over path, so a crash leaves either the old file or the
// new one.
func replaceKeyFile(path string, key ed25519.PrivateKey, cert []byte) (err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	_ = pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: cert})
	old, err := os.Stat(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if err = keepOwner(tmp, old); err != nil {
		return err
	}
	if _, err = tmp.Write(buf.Bytes()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable; best effort
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// keepOwner gives f the owner of the file old describes, so that an agent
// running as that user can still read its key after root re-certified it.
// A group that cannot be kept is no matter: the file is mode 0600.
func keepOwner(f *os.File, old fs.FileInfo) error {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid, gid := int(st.Uid), int(st.Gid)
	if uid != os.Geteuid() {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("keep the key file's owner (uid %d): %w", uid, err)
		}
		return nil
	}
	_ = f.Chown(-1, gid)
	return nil
}
