package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"encoding/base64"
	"encoding/pem"
	"time"

	"github.com/plumview/plumview/transport"
)

// runKeygen writes a new identity key file and prints its public key.
func runKeygen(args []string, stdout, stderr io.Writer) error {
	f := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := f.String("out", "", "`file` to write the new key to (mode 0600; must not exist)")
	caFile := f.String("ca", "", "cluster CA key `file` (itself made by keygen): also write a certificate of the new key signed by it, for agents started with -cluster-ca (gossipd certify re-certifies an existing key)")
	valid := f.Duration("valid", defaultCertValidity, "with -ca: how long the certificate is valid")
	if err := parseFlags(f, args, stderr); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("gossipd: keygen: -out is required")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("gossipd: keygen: %s already exists; refusing to overwrite a key", *out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gossipd: keygen: %w", err)
	}
	var ca transport.Identity
	if *caFile != "" {
		var err error
		if ca, err = loadCAKeyFile("keygen", *caFile); err != nil {
			return err
		}
	}
	id, err := transport.LoadOrCreateIdentity(*out)
	if err != nil {
		return fmt.Errorf("gossipd: keygen: %w", err)
	}
	if *caFile != "" {
		if err := appendCertificate(*out, ca, id, *valid); err != nil {
			_ = os.Remove(*out)
			return fmt.Errorf("gossipd: keygen: %w", err)
		}
	}
	pub := base64.RawURLEncoding.EncodeToString(id.Public())
	_, err = fmt.Fprintf(stdout, "key file:   %s\npublic key: %s\nid:         %016x\naddress:    %s@<host:port>\n",
		*out, pub, transport.KeyID(id.Public()), pub)
	return err
}

// appendCertificate adds to the key file a certificate of id's key signed
// by ca, and checks that the file then loads with it.
func appendCertificate(path string, ca, id transport.Identity, valid time.Duration) error {
	der, err := transport.IssueCertificate(ca.Key, id.Public(), valid)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	back, err := transport.LoadOrCreateIdentity(path)
	if err != nil {
		return err
	}
	if len(back.CACert) == 0 {
		return errors.New("the certificate did not load back from the key file")
	}
	return nil
}
