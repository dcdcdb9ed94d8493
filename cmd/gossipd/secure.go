package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/plumview/plumview/transport"
)

// clusterSecretEnv is the environment variable that may hold the cluster
// secret itself (GOSSIPD_CLUSTER_SECRET_FILE, like every flag, names a
// file instead). There is deliberately no flag taking the secret's value:
// command lines are visible to every user in ps.
const clusterSecretEnv = "GOSSIPD_CLUSTER_SECRET"

// clusterCertValidity is how long the certificate an agent issues itself
// from the cluster secret stays valid. Every holder of the secret can issue
// one, so a short validity would protect nothing; it only has to outlive
// the agent's process.
const clusterCertValidity = 10 * 365 * 24 * time.Hour

// maxClusterSecrets is how many secrets a secret source may list: the
// current one, and the previous one while a rotation is under way.
const maxClusterSecrets = 2

// maxClusterCAKeys is how many CA public keys a -cluster-ca file may list:
// the cluster CA, and the other one while a rotation is under way.
const maxClusterCAKeys = 2

// errNoSecretSource marks the absence of any cluster secret source.
var errNoSecretSource = errors.New("gossipd: no cluster secret given")

// clusterSecrets returns the cluster secrets from -cluster-secret-file or,
// failing that, from $GOSSIPD_CLUSTER_SECRET: one per line, the first
// signs this agent's certificate and all are trusted. It returns
// errNoSecretSource when neither is set.
func clusterSecrets(file string, lookupEnv func(string) (string, bool)) ([][]byte, error) {
	env, envSet := lookupEnv(clusterSecretEnv)
	switch {
	case file != "" && envSet:
		return nil, fmt.Errorf("gossipd: the cluster secret is given twice, by -cluster-secret-file and by $%s; keep one", clusterSecretEnv)
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("gossipd: -cluster-secret-file: %w", err)
		}
		return parseClusterSecrets("-cluster-secret-file "+file, data)
	case envSet:
		return parseClusterSecrets("$"+clusterSecretEnv, []byte(env))
	}
	return nil, errNoSecretSource
}

// parseClusterSecrets splits data into secrets, one per line; surrounding
// white space and blank lines are ignored. source names where data came
// from, for the errors.
func parseClusterSecrets(source string, data []byte) ([][]byte, error) {
	var secrets [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			secrets = append(secrets, line)
		}
	}
	switch {
	case len(secrets) == 0:
		return nil, fmt.Errorf("gossipd: %s: no cluster secret in it", source)
	case len(secrets) > maxClusterSecrets:
		return nil, fmt.Errorf("gossipd: %s: %d secrets; at most %d (the current one first, then the previous one during a rotation)", source, len(secrets), maxClusterSecrets)
	}
	for i, s := range secrets {
		if len(s) < transport.MinClusterSecretBytes {
			return nil, fmt.Errorf("gossipd: %s: secret on line %d is %d bytes; at least %d are needed (generate one with: openssl rand -base64 32)", source, i+1, len(s), transport.MinClusterSecretBytes)
		}
	}
	return secrets, nil
}

// clusterCAKeys reads the -cluster-ca file and parses it with
// parseClusterCAKeys.
func clusterCAKeys(file string) ([]ed25519.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.Contains(file, ",") {
			return nil, fmt.Errorf("gossipd: -cluster-ca: %w (it names one file, which lists the CA public keys one per line)", err)
		}
		return nil, fmt.Errorf("gossipd: -cluster-ca: %w", err)
	}
	return parseClusterCAKeys("-cluster-ca "+file, data)
}

// parseClusterCAKeys reads the CA public keys of a -cluster-ca file: one
// or two ed25519 keys, each on a line of its own as keygen prints them
// (base64url) or as a PEM "PUBLIC KEY" block; surrounding white space and
// blank lines are ignored. All of them are trusted; the file lists two
// while the cluster CA is rotated. source names where data came from, for
// the errors.
func parseClusterCAKeys(source string, data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	var lines []int // the line each key starts on
	line := 1
	for {
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		line += bytes.Count(data[:len(data)-len(trimmed)], []byte("\n"))
		if data = trimmed; len(data) == 0 {
			break
		}
		var chunk, rest []byte
		if bytes.HasPrefix(data, []byte("-----BEGIN ")) {
			block, after := pem.Decode(data)
			switch {
			case block == nil:
				return nil, fmt.Errorf("gossipd: %s: line %d: a PEM block that does not decode", source, line)
			case strings.Contains(block.Type, "PRIVATE KEY"):
				return nil, fmt.Errorf("gossipd: %s: line %d: a private key; list the CA's public key (the public key line keygen printed) and keep its private key off the agents' hosts", source, line)
			}
			chunk, rest = data[:len(data)-len(after)], after
		} else {
			chunk, rest, _ = bytes.Cut(data, []byte("\n"))
		}
		key, err := parsePublicKey(string(chunk))
		if err != nil {
			return nil, fmt.Errorf("gossipd: %s: line %d: %w", source, line, err)
		}
		for i, k := range keys {
			if k.Equal(key) {
				return nil, fmt.Errorf("gossipd: %s: lines %d and %d hold the same key; list the cluster CA once, or the old and the new one during a rotation", source, lines[i], line)
			}
		}
		keys, lines = append(keys, key), append(lines, line)
		line += bytes.Count(data[:len(data)-len(rest)], []byte("\n"))
		data = rest
	}
	switch {
	case len(keys) == 0:
		return nil, fmt.Errorf("gossipd: %s: no CA public key in it", source)
	case len(keys) > maxClusterCAKeys:
		return nil, fmt.Errorf("gossipd: %s: %d CA public keys; at most %d (the old and the new CA during a rotation, see docs/operations.md, \"Rotating the cluster CA\")", source, len(keys), maxClusterCAKeys)
	}
	return keys, nil
}

// clusterSecretAdmission derives the admission of secrets: the first
// secret's CA signs this agent's certificate and is Admission.CAKey, the
// second's (if any) is trusted too. It returns the signing CA key.
func clusterSecretAdmission(secrets [][]byte) (transport.Admission, ed25519.PrivateKey, error) {
	var adm transport.Admission
	var signer ed25519.PrivateKey
	for i, s := range secrets {
		ca, err := transport.ClusterCAFromSecret(s)
		if err != nil {
			return adm, nil, fmt.Errorf("gossipd: cluster secret: %w", err)
		}
		pub := ca.Public().(ed25519.PublicKey)
		if i == 0 {
			signer, adm.CAKey = ca, pub
		} else {
			adm.ExtraCAKeys = append(adm.ExtraCAKeys, pub)
		}
	}
	return adm, signer, nil
}

// isLoopbackBind reports whether the host of bind is a loopback address
// (127.0.0.0/8, ::1) or "localhost". An empty host, 0.0.0.0, ::, any other
// IP and any other name count as reachable from other hosts.
func isLoopbackBind(bind string) bool {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses an agent that would listen on an address other
// hosts can reach while admitting any key, unless insecure asks for
// exactly that. It also refuses -insecure beside an admission, whose
// meaning would be unclear.
func checkExposure(bind string, adm transport.Admission, insecure bool) error {
	open := len(adm.CAKey) == 0 && len(adm.ExtraCAKeys) == 0 && len(adm.AllowList) == 0
	switch {
	case insecure && !open:
		return errors.New("gossipd: -insecure admits any peer, but an admission (-cluster-secret-file, $GOSSIPD_CLUSTER_SECRET, -cluster-ca or -allow) is configured too; keep one")
	case insecure || !open || isLoopbackBind(bind):
		return nil
	}
	return fmt.Errorf(`gossipd: refusing to listen on %s with no cluster admission: any host that reaches this port could join the cluster and read its broadcasts. Either
  (a) give every agent the same cluster secret: -cluster-secret-file FILE, or the secret itself in $%s (make one with: openssl rand -base64 32); or
  (b) admit only certified or listed keys: -cluster-ca FILE (a CA public key, see gossipd keygen -ca) or -allow KEY,KEY.
A loopback -bind (127.0.0.1:7946) needs neither; -insecure admits anyone, for a lab only. See docs/operations.md, "Cluster admission"`, bind, clusterSecretEnv)
}

// describeAdmission names, for the start-up log, what an agent admits.
func describeAdmission(adm transport.Admission, bySecret bool) string {
	var parts []string
	switch {
	case bySecret && len(adm.ExtraCAKeys) > 0:
		parts = append(parts, "cluster secret (and the previous one)")
	case bySecret:
		parts = append(parts, "cluster secret")
	case len(adm.CAKey) != 0 && len(adm.ExtraCAKeys) > 0:
		parts = append(parts, fmt.Sprintf("%d cluster CAs", 1+len(adm.ExtraCAKeys)))
	case len(adm.CAKey) != 0:
		parts = append(parts, "cluster CA")
	}
	if len(adm.AllowList) > 0 {
		parts = append(parts, fmt.Sprintf("%d allow-listed keys", len(adm.AllowList)))
	}
	if len(parts) == 0 {
		return "any key"
	}
	return strings.Join(parts, " + ")
}
