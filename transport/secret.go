package transport

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// MinClusterSecretBytes is the shortest cluster secret ClusterCAFromSecret
// accepts. It only stops obvious mistakes: the secret should be random (32
// bytes from a CSPRNG, e.g. openssl rand -base64 32), because anyone who
// connects can test guesses against a certificate offline.
const MinClusterSecretBytes = 16

// Domain separation of the derivation: changing either string derives
// other keys, so they are fixed for the life of the format.
const (
	clusterSecretSalt = "plumview cluster secret v1"
	clusterSecretInfo = "plumview cluster CA ed25519 seed"
)

// ClusterCAFromSecret derives the cluster CA key pair from a secret shared
// by every node: the ed25519 seed is HKDF-SHA256(secret, salt, info). The
// same secret always gives the same key pair, so each node can certify its
// own key (IssueCertificate) and admit peers certified by the same CA
// (Admission.CAKey) without a CA file to distribute. A secret shorter than
// MinClusterSecretBytes is refused.
func ClusterCAFromSecret(secret []byte) (ed25519.PrivateKey, error) {
	if len(secret) < MinClusterSecretBytes {
		return nil, fmt.Errorf("transport: cluster secret is %d bytes; at least %d are needed (generate one with: openssl rand -base64 32)", len(secret), MinClusterSecretBytes)
	}
	seed, err := hkdf.Key(sha256.New, secret, []byte(clusterSecretSalt), clusterSecretInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("transport: derive cluster CA: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
