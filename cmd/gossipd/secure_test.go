package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

func TestCheckExposure(t *testing.T) {
	key := ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
	open := transport.Admission{}
	byCA := transport.Admission{CAKey: key}
	byPreviousCA := transport.Admission{ExtraCAKeys: []ed25519.PublicKey{key}}
	byList := transport.Admission{AllowList: []ed25519.PublicKey{key}}
	loopback := []string{"127.0.0.1:7946", "127.1.2.3:0", "[::1]:7946", "localhost:7946"}
	exposed := []string{"0.0.0.0:7946", ":7946", "[::]:7946", "10.0.0.1:7946", "192.168.1.5:0",
		"[2001:db8::1]:7946", "[fe80::1%eth0]:7946", "myhost:7946", "garbage"}
	for _, bind := range loopback {
		for name, adm := range map[string]transport.Admission{"open": open, "ca": byCA, "previous ca": byPreviousCA, "list": byList} {
			assert.NoError(t, checkExposure(bind, adm, false), "%s, %s", bind, name)
		}
		assert.NoError(t, checkExposure(bind, open, true), "%s, -insecure", bind)
	}
	for _, bind := range exposed {
		err := checkExposure(bind, open, false)
		if assert.Error(t, err, bind) {
			msg := err.Error()
			assert.Contains(t, msg, "gossipd: refusing to listen on "+bind)
			assert.Contains(t, msg, "-cluster-secret-file", "way out (a)")
			assert.Contains(t, msg, "GOSSIPD_CLUSTER_SECRET", "way out (a)")
			assert.Contains(t, msg, "-cluster-ca", "way out (b)")
			assert.Contains(t, msg, "-allow", "way out (b)")
			assert.Contains(t, msg, "-insecure")
		}
		for name, adm := range map[string]transport.Admission{"ca": byCA, "previous ca": byPreviousCA, "list": byList} {
			assert.NoError(t, checkExposure(bind, adm, false), "%s, %s", bind, name)
		}
		assert.NoError(t, checkExposure(bind, open, true), "%s, -insecure", bind)
	}
	for _, bind := range append(loopback, exposed...) {
		for _, adm := range []transport.Admission{byCA, byPreviousCA, byList} {
			assert.ErrorContains(t, checkExposure(bind, adm, true), "-insecure admits any peer", bind)
		}
	}
}

func TestClusterSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	noEnv := func(string) (string, bool) { return "", false }
	env := func(v string) func(string) (string, bool) {
		return func(name string) (string, bool) { return v, name == clusterSecretEnv }
	}

	_, err := clusterSecrets("", noEnv)
	require.ErrorIs(t, err, errNoSecretSource)

	got, err := clusterSecrets(write("one", "  current-secret-0123456789  \n"), noEnv)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("current-secret-0123456789")}, got)

	got, err = clusterSecrets(write("two", "current-secret-0123456789\n\nprevious-secret-0123456789\n"), noEnv)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("current-secret-0123456789"), []byte("previous-secret-0123456789")}, got)

	got, err = clusterSecrets("", env("from-the-environment-0123"))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("from-the-environment-0123")}, got)

	for _, tc := range []struct {
		name, file string
		lookup     func(string) (string, bool)
		want       string
	}{
		{"too short", write("short", "tooshort\n"), noEnv, "line 1 is 8 bytes; at least 16"},
		{"previous too short", write("short2", "current-secret-0123456789\nshort\n"), noEnv, "line 2 is 5 bytes"},
		{"three", write("three", "aaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbb\ncccccccccccccccccc\n"), noEnv, "at most 2"},
		{"empty", write("empty", "\n \n"), noEnv, "no cluster secret in it"},
		{"missing file", filepath.Join(dir, "none"), noEnv, "gossipd: -cluster-secret-file"},
		{"both file and env", write("both", "current-secret-0123456789"), env("from-the-environment-0123"), "given twice"},
		{"short env", "", env("short"), "$GOSSIPD_CLUSTER_SECRET: secret on line 1 is 5 bytes"},
	} {
		_, err := clusterSecrets(tc.file, tc.lookup)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
}

// The first secret signs and is CAKey, the second is trusted beside it, and
// the same secrets derive the same admission on every agent.
func TestClusterSecretAdmission(t *testing.T) {
	current, previous := []byte("current-secret-0123456789"), []byte("previous-secret-0123456789")
	adm, signer, err := clusterSecretAdmission([][]byte{current, previous})
	require.NoError(t, err)
	again, _, err := clusterSecretAdmission([][]byte{current})
	require.NoError(t, err)
	assert.True(t, adm.CAKey.Equal(again.CAKey), "derivation is deterministic")
	assert.True(t, signer.Public().(ed25519.PublicKey).Equal(adm.CAKey), "the first secret signs")
	old, _, err := clusterSecretAdmission([][]byte{previous})
	require.NoError(t, err)
	require.Len(t, adm.ExtraCAKeys, 1)
	assert.True(t, adm.ExtraCAKeys[0].Equal(old.CAKey), "the second secret is trusted")
	assert.False(t, adm.CAKey.Equal(old.CAKey), "two secrets, two CAs")
}

func TestDescribeAdmission(t *testing.T) {
	key := ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
	assert.Equal(t, "any key", describeAdmission(transport.Admission{}, false))
	assert.Equal(t, "cluster secret", describeAdmission(transport.Admission{CAKey: key}, true))
	assert.Equal(t, "cluster secret (and the previous one) + 1 allow-listed keys",
		describeAdmission(transport.Admission{CAKey: key, ExtraCAKeys: []ed25519.PublicKey{key}, AllowList: []ed25519.PublicKey{key}}, true))
	assert.Equal(t, "cluster CA", describeAdmission(transport.Admission{CAKey: key}, false))
	assert.Equal(t, "2 cluster CAs", describeAdmission(transport.Admission{CAKey: key, ExtraCAKeys: []ed25519.PublicKey{key}}, false))
}

// A config file names the secret file (cluster_secret_file), like any flag.
func TestClusterSecretFileFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("cluster_secret_file: /etc/gossipd/secret\ninsecure: false\n"), 0o600))
	var c agentConfig
	require.NoError(t, parseFlags(agentFlags(&c), []string{"-config", cfg}, io.Discard))
	assert.Equal(t, "/etc/gossipd/secret", c.clusterSecretFile)
}

// newPublicKey returns a fresh ed25519 public key and its base64url form,
// as keygen prints it.
func newPublicKey(t *testing.T) (ed25519.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return pub, base64.RawURLEncoding.EncodeToString(pub)
}

// A -cluster-ca file lists one or two CA public keys, one per line (or as
// PEM blocks); white space and blank lines around them are ignored.
func TestParseClusterCAKeys(t *testing.T) {
	k1, s1 := newPublicKey(t)
	k2, s2 := newPublicKey(t)
	_, s3 := newPublicKey(t)
	der, err := x509.MarshalPKIXPublicKey(k2)
	require.NoError(t, err)
	pem2 := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	_, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))

	for _, tc := range []struct {
		name, data string
		want       []ed25519.PublicKey
	}{
		{"one key", s1 + "\n", []ed25519.PublicKey{k1}},
		{"one key, no newline, white space", "  \t" + s1 + "  ", []ed25519.PublicKey{k1}},
		{"two keys, in order", s1 + "\n" + s2 + "\n", []ed25519.PublicKey{k1, k2}},
		{"two keys, blank lines and CRLF", "\r\n\n  " + s2 + "  \r\n\r\n\t" + s1 + "\r\n\n", []ed25519.PublicKey{k2, k1}},
		{"a PEM block and a line", pem2 + "\n" + s1 + "\n", []ed25519.PublicKey{k2, k1}},
	} {
		got, err := parseClusterCAKeys("-cluster-ca f", []byte(tc.data))
		if assert.NoError(t, err, tc.name) {
			assert.Equal(t, tc.want, got, tc.name)
		}
	}

	for _, tc := range []struct{ name, data, want string }{
		{"three keys", s1 + "\n" + s2 + "\n" + s3 + "\n", "-cluster-ca f: 3 CA public keys; at most 2"},
		{"garbage", "hello, world\n", "-cluster-ca f: line 1: not a base64url ed25519 public key"},
		{"garbage after a key", s1 + "\n\n" + s2 + "x\n", "line 3: not a base64url ed25519 public key"},
		{"garbage after a PEM block", pem2 + "\n" + s1[:20] + "\n", "line 5: not a base64url"},
		{"two keys on one line", s1 + " " + s2 + "\n", "line 1: not a base64url"},
		{"empty", " \n\n", "-cluster-ca f: no CA public key in it"},
		{"the same key twice", s1 + "\n" + s1 + "\n", "lines 1 and 2 hold the same key"},
		{"a private key", privPEM, "line 1: a private key"},
		{"a broken PEM block", "-----BEGIN PUBLIC KEY-----\nAAAA\n", "line 1: a PEM block that does not decode"},
	} {
		_, err := parseClusterCAKeys("-cluster-ca f", []byte(tc.data))
		assert.ErrorContains(t, err, tc.want, tc.name)
	}

	dir := t.TempDir()
	_, err = clusterCAKeys(filepath.Join(dir, "none.pub"))
	assert.ErrorContains(t, err, "gossipd: -cluster-ca: open")
	_, err = clusterCAKeys(filepath.Join(dir, "old.pub") + "," + filepath.Join(dir, "new.pub"))
	assert.ErrorContains(t, err, "it names one file, which lists the CA public keys one per line")
}

// A config file names the CA file (cluster_ca), like any flag, and the
// file's keys become the admission's: the first CAKey, the second an extra
// CA key.
func TestClusterCAFromConfigFile(t *testing.T) {
	k1, s1 := newPublicKey(t)
	k2, s2 := newPublicKey(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pub")
	require.NoError(t, os.WriteFile(caFile, []byte(s1+"\n"+s2+"\n"), 0o644))
	for name, content := range map[string]string{
		"c.yaml": "cluster_ca: " + caFile + "\n",
		"c.json": `{"cluster_ca": "` + caFile + `"}`,
	} {
		cfg := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(cfg, []byte(content), 0o600))
		var c agentConfig
		require.NoError(t, parseFlags(agentFlags(&c), []string{"-config", cfg}, io.Discard), name)
		assert.Equal(t, caFile, c.clusterCA, name)
		adm, signer, err := c.admission()
		require.NoError(t, err, name)
		assert.Nil(t, signer, name)
		assert.Equal(t, k1, adm.CAKey, name)
		assert.Equal(t, []ed25519.PublicKey{k2}, adm.ExtraCAKeys, name)
	}
	one := filepath.Join(dir, "one.pub")
	require.NoError(t, os.WriteFile(one, []byte(s1+"\n"), 0o644))
	c := agentConfig{clusterCA: one}
	adm, _, err := c.admission()
	require.NoError(t, err)
	assert.Equal(t, k1, adm.CAKey)
	assert.Empty(t, adm.ExtraCAKeys)
}
