package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// runCmd runs one gossipd command in this process and returns its exit
// status, stdout and stderr.
func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// certifiedBy reports whether cert is signed by the CA whose public key is
// ca, the check admission makes.
func certifiedBy(t *testing.T, der []byte, ca ed25519.PublicKey) bool {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert.SignatureAlgorithm == x509.PureEd25519 && ed25519.Verify(ca, cert.RawTBSCertificate, cert.Signature)
}

// certify replaces the certificate of an existing key file with one from
// another CA: the key (so the id and the address) is unchanged, the file
// holds only the new certificate, which the new CA signed, and its mode is
// 0600.
func TestCertifyKeepsTheKey(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA, node := filepath.Join(dir, "old-ca.key"), filepath.Join(dir, "new-ca.key"), filepath.Join(dir, "node.key")
	for _, f := range []string{oldCA, newCA} {
		code, _, stderr := runCmd("keygen", "-out", f)
		require.Zero(t, code, stderr)
	}
	code, out, stderr := runCmd("keygen", "-out", node, "-ca", oldCA)
	require.Zero(t, code, stderr)
	before, err := transport.LoadIdentity(node)
	require.NoError(t, err)
	oldPub, newPub := loadPublic(t, oldCA), loadPublic(t, newCA)
	require.True(t, certifiedBy(t, before.CACert, oldPub))

	code, out2, stderr := runCmd("certify", "-key-file", node, "-ca", newCA, "-valid", "48h")
	require.Zero(t, code, stderr)
	after, err := transport.LoadIdentity(node)
	require.NoError(t, err)
	assert.True(t, after.Key.Equal(before.Key), "the key changed")
	assert.True(t, certifiedBy(t, after.CACert, newPub), "the new CA did not sign the certificate")
	assert.False(t, certifiedBy(t, after.CACert, oldPub), "the old certificate is still there")
	cert, err := x509.ParseCertificate(after.CACert)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(48*time.Hour), cert.NotAfter, time.Minute, "-valid")
	assert.True(t, cert.PublicKey.(ed25519.PublicKey).Equal(after.Public()))

	data, err := os.ReadFile(node)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(data), "BEGIN PRIVATE KEY"))
	assert.Equal(t, 1, strings.Count(string(data), "BEGIN CERTIFICATE"), "the certificates are replaced, not added to")
	info, err := os.Stat(node)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "a temporary file was left behind")

	pub := base64.RawURLEncoding.EncodeToString(before.Public())
	for _, o := range []string{out, out2} {
		assert.Contains(t, o, "public key: "+pub, "keygen and certify print the same key")
		assert.Contains(t, o, "address:    "+pub+"@<host:port>")
	}
	assert.Contains(t, out2, "ca:         "+base64.RawURLEncoding.EncodeToString(newPub))
	assert.Contains(t, out2, "valid to:   "+cert.NotAfter.UTC().Format(time.RFC3339))

	// A key file without a certificate, mode 0400, reached through a
	// symbolic link: the file it points to is replaced, mode 0600, and the
	// link stays a link.
	bare := filepath.Join(dir, "bare.key")
	id, err := transport.LoadOrCreateIdentity(bare)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(bare, 0o400))
	link := filepath.Join(dir, "link.key")
	require.NoError(t, os.Symlink("bare.key", link))
	code, _, stderr = runCmd("certify", "-key-file", link, "-ca", oldCA)
	require.Zero(t, code, stderr)
	li, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, li.Mode().Type(), "the link was replaced")
	got, err := transport.LoadIdentity(bare)
	require.NoError(t, err)
	assert.True(t, got.Key.Equal(id.Key))
	assert.True(t, certifiedBy(t, got.CACert, oldPub))
	info, err = os.Stat(bare)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

// loadPublic returns the public key of a key file.
func loadPublic(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	id, err := transport.LoadIdentity(path)
	require.NoError(t, err)
	return id.Public()
}

// certify's errors name what is wrong, and leave the key file as it was.
func TestCertifyErrors(t *testing.T) {
	dir := t.TempDir()
	ca, node := filepath.Join(dir, "ca.key"), filepath.Join(dir, "node.key")
	code, out, stderr := runCmd("keygen", "-out", ca)
	require.Zero(t, code, stderr)
	caPub := filepath.Join(dir, "ca.pub")
	require.NoError(t, os.WriteFile(caPub, []byte(strings.Fields(strings.SplitN(out, "public key:", 2)[1])[0]+"\n"), 0o644))
	code, _, stderr = runCmd("keygen", "-out", node)
	require.Zero(t, code, stderr)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	garbage := write("garbage", "not a key\n", 0o600)
	open := write("open.key", "x", 0o644)
	missing := filepath.Join(dir, "missing.key")
	original, err := os.ReadFile(node)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no -key-file", []string{"-ca", ca}, 1, "gossipd: certify: -key-file is required"},
		{"no -ca", []string{"-key-file", node}, 1, "gossipd: certify: -ca is required"},
		{"zero -valid", []string{"-key-file", node, "-ca", ca, "-valid", "0s"}, 1, "-valid 0s: must be positive"},
		{"unknown flag", []string{"-out", node}, 2, "flag provided but not defined: -out"},
		{"missing key file", []string{"-key-file", missing, "-ca", ca}, 1, "gossipd: certify: -key-file: lstat " + missing + ": no such file"},
		{"key file that does not load", []string{"-key-file", garbage, "-ca", ca}, 1, "gossipd: certify: -key-file: transport: identity file " + garbage + ": no PEM"},
		{"key file readable by others", []string{"-key-file", open, "-ca", ca}, 1, "chmod 600"},
		{"missing CA file", []string{"-key-file", node, "-ca", missing}, 1, "gossipd: certify: -ca: transport: identity file: stat " + missing + ": no such file"},
		{"CA file that is not a key", []string{"-key-file", node, "-ca", garbage}, 1, "gossipd: certify: -ca: transport: identity file " + garbage + ": no PEM"},
		{"CA's public key instead of its key", []string{"-key-file", node, "-ca", caPub}, 1, "holds a public key; -ca wants the CA's key file"},
	} {
		code, _, stderr := runCmd(append([]string{"certify"}, tc.args...)...)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
	}
	_, err = os.Stat(missing)
	assert.ErrorIs(t, err, os.ErrNotExist, "certify created a key file")
	after, err := os.ReadFile(node)
	require.NoError(t, err)
	assert.Equal(t, original, after, "a failed certify changed the key file")

	code, _, stderr = runCmd("keygen", "-out", filepath.Join(dir, "new.key"), "-ca", caPub)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "gossipd: keygen: -ca "+caPub+" holds a public key", "keygen -ca says so too")
}
