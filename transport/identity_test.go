package transport

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyIDIsSHA256Prefix(t *testing.T) {
	pub := mustIdentity(t).Public()
	sum := sha256.Sum256(pub)
	assert.Equal(t, binary.BigEndian.Uint64(sum[:8]), KeyID(pub))
	// Pinned value, so the mapping cannot change silently.
	assert.Equal(t, uint64(0x66687aadf862bd77), KeyID(make(ed25519.PublicKey, 32)))
}

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	created, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	loaded, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	assert.True(t, created.Key.Equal(loaded.Key), "the second call loads the same key")

	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"too open", write("open.key", "x", 0o644), "chmod 600"},
		{"not PEM", write("junk.key", "junk", 0o600), "no PEM"},
		{"bad PKCS#8", write("bad.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0o600), "identity file"},
		{"directory", dir, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadOrCreateIdentity(tc.path)
			assert.ErrorContains(t, err, tc.want)
			assert.ErrorContains(t, err, "transport:")
		})
	}
}

// LoadIdentity loads what LoadOrCreateIdentity wrote and never creates a
// file.
func TestLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	_, err := LoadIdentity(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "LoadIdentity created the file")
	created, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	loaded, err := LoadIdentity(path)
	require.NoError(t, err)
	assert.True(t, created.Key.Equal(loaded.Key))
	require.NoError(t, os.Chmod(path, 0o640))
	_, err = LoadIdentity(path)
	assert.ErrorContains(t, err, "chmod 600")
}

func TestIssueCertificateAdmits(t *testing.T) {
	_, ca, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	id := mustIdentity(t)
	id.CACert, err = IssueCertificate(ca, id.Public(), time.Hour)
	require.NoError(t, err)
	require.NoError(t, id.validate())
	other := mustIdentity(t)
	wrong := Identity{Key: other.Key, CACert: id.CACert}
	assert.ErrorContains(t, wrong.validate(), "another key")
	_, err = IssueCertificate(ca, id.Public(), 0)
	assert.Error(t, err)
	_, err = IssueCertificate(nil, id.Public(), time.Hour)
	assert.Error(t, err)
}
