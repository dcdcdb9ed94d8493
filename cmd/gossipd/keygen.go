package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"encoding/base64"

	"github.com/plumview/plumview/transport"
)

// runKeygen writes a new identity key file and prints its public key.
func runKeygen(args []string, stdout, stderr io.Writer) error {
	f := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := f.String("out", "", "`file` to write the new key to (mode 0600; must not exist)")
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
	id, err := transport.LoadOrCreateIdentity(*out)
	if err != nil {
		return fmt.Errorf("gossipd: keygen: %w", err)
	}
	pub := base64.RawURLEncoding.EncodeToString(id.Public())
	_, err = fmt.Fprintf(stdout, "key file:   %s\npublic key: %s\nid:         %016x\naddress:    %s@<host:port>\n",
		*out, pub, transport.KeyID(id.Public()), pub)
	return err
}
