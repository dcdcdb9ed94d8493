package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/plumview/plumview/cmd/gossipd/internal/server"
	"github.com/plumview/plumview/plumtree"
	"github.com/plumview/plumview/transport"
)

// agentConfig is the agent's configuration: every field is a flag, an
// environment variable and a config file key.
type agentConfig struct {
	config, bind, advertise, seeds, keyFile string
	grpcSocket, grpcAddr, metricsAddr, meta string
	healthAddr, topics                      string
	logLevel, logFormat, clusterCA, allow   string
	clusterSecretFile, dataDir              string
	insecure, trustMembers, strictSigs      bool
	shutdownTimeout, retention              time.Duration
	calmRetention                           time.Duration
	maxPayload, retentionBytes              int
	resumeRetain, resumeRetainBytes         int
	detection                               detectionConfig
	nat                                     natConfig
}

func agentFlags(c *agentConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&c.config, "config", "", "YAML or JSON `file` with any of these flags in snake_case (key_file: ...)")
	fs.StringVar(&c.bind, "bind", "0.0.0.0:7946", "QUIC (UDP) `address` to bind; a non-loopback one needs an admission (-cluster-secret-file, $"+clusterSecretEnv+", -cluster-ca or -allow) or -insecure")
	fs.StringVar(&c.advertise, "advertise", "", "`address` other nodes dial (default: the bound address)")
	fs.StringVar(&c.seeds, "seeds", "", "comma-separated seeds: key@host:port or host:port (DNS names are re-resolved)")
	fs.StringVar(&c.keyFile, "key-file", "./gossipd.key", "identity key `file`, created (mode 0600) on first start")
	fs.StringVar(&c.grpcSocket, "grpc-socket", "/tmp/gossipd.sock", "Unix socket `path` of the gRPC API")
	fs.StringVar(&c.grpcAddr, "grpc-addr", "", "optional loopback TCP `address` of the gRPC API")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "optional HTTP `address` serving /metrics, /debug/, /healthz (liveness) and /readyz (readiness)")
	fs.StringVar(&c.healthAddr, "health-addr", "", "optional TCP `address` serving only the gRPC health service, for readiness probes")
	fs.StringVar(&c.meta, "metadata", "", "this node's metadata `string`")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "json", "log `format`: json or console")
	fs.StringVar(&c.clusterCA, "cluster-ca", "", "`file` with the cluster CA public key, or two (one per line, both trusted) while the CA is rotated: admit only peers whose key file carries a certificate signed by one of them (gossipd keygen -ca, gossipd certify)")
	fs.StringVar(&c.allow, "allow", "", "comma-separated public keys to admit")
	fs.StringVar(&c.clusterSecretFile, "cluster-secret-file", "", "`file` with the cluster secret (one per line: the current one, then the previous one during a rotation): admit only agents given the same secret; or set $"+clusterSecretEnv+" to the secret itself")
	fs.BoolVar(&c.insecure, "insecure", false, "admit any peer even on a non-loopback -bind (a lab only)")
	fs.BoolVar(&c.trustMembers, "trust-members", false, "neither sign broadcasts and member records nor check others' signatures: only where every admitted member is trusted, and on every agent of the cluster alike")
	fs.BoolVar(&c.strictSigs, "strict-signatures", false, "check every signature alone with the cofactorless ed25519 equation, as agents up to d4f7fc8 (2026-12-07) did, instead of in batches under ZIP-215's rules: on every upgraded agent while a cluster is upgraded from such agents, dropped in a second rolling restart (docs/security.md)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful stop may take")
	fs.IntVar(&c.maxPayload, "max-payload", maxPayloadBytes, "largest broadcast payload, in `bytes` (at most the default, 512 KiB)")
	fs.StringVar(&c.topics, "topics", "", "comma-separated topics broadcasts may use (default: any)")
	fs.DurationVar(&c.retention, "retention", plumtree.DefaultPayloadRetention, "how long delivered broadcasts are kept, once a failure is seen, to repair neighbours that missed them (Plumtree GRAFTs, a neighbour back from a partition); see -calm-retention for while nothing fails")
	fs.DurationVar(&c.calmRetention, "calm-retention", 0, "how long delivered broadcasts are kept while nothing fails: from a failed neighbour or a suspected member on, which is how a partition shows, they are kept for -retention (default 10s, or -retention when shorter; at most -retention)")
	fs.IntVar(&c.retentionBytes, "retention-bytes", plumtree.DefaultMaxCachedBytes, "the most `bytes` of payloads kept for -retention, oldest dropped first; at least 1 MiB")
	fs.IntVar(&c.resumeRetain, "resume-retain", server.DefaultRetain, "how many recent deliveries are kept for subscribers that resume (resume_from)")
	fs.IntVar(&c.resumeRetainBytes, "resume-retain-bytes", server.DefaultRetainBytes, "the most `bytes` of deliveries kept for -resume-retain, oldest dropped first")
	fs.StringVar(&c.dataDir, "data-dir", "", "optional `directory` where the agent keeps, across restarts, the members it last saw alive (to rejoin without seeds), its incarnation and its message ID reservation (never reused, whatever the clock)")
	detectionFlags(fs, &c.detection)
	natFlags(fs, &c.nat)
	return fs
}

// checkRetention reports a retention flag out of range.
func (c *agentConfig) checkRetention() error {
	switch {
	case c.retention <= 0:
		return fmt.Errorf("gossipd: -retention must be positive, got %v", c.retention)
	case c.calmRetention < 0 || c.calmRetention > c.retention:
		return fmt.Errorf("gossipd: -calm-retention must be between 0 (the default) and -retention (%v), got %v", c.retention, c.calmRetention)
	case c.retentionBytes < plumtree.DefaultMaxPayloadBytes:
		return fmt.Errorf("gossipd: -retention-bytes must be at least %d (the largest payload a node relays), got %d", plumtree.DefaultMaxPayloadBytes, c.retentionBytes)
	case c.resumeRetain <= 0 || c.resumeRetainBytes <= 0:
		return fmt.Errorf("gossipd: -resume-retain and -resume-retain-bytes must be positive")
	}
	return nil
}

// logger builds the zap logger the flags ask for.
func (c *agentConfig) logger() (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil || lvl > zapcore.ErrorLevel {
		return nil, fmt.Errorf("gossipd: -log-level %q: want debug, info, warn or error", c.logLevel)
	}
	var zc zap.Config
	switch c.logFormat {
	case "json":
		zc = zap.NewProductionConfig()
	case "console":
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	default:
		return nil, fmt.Errorf("gossipd: -log-format %q: want json or console", c.logFormat)
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	zc.Sampling = nil
	l, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("gossipd: logger: %w", err)
	}
	return l, nil
}

// admission builds the transport admission from the cluster secret
// (-cluster-secret-file or $GOSSIPD_CLUSTER_SECRET), -cluster-ca (its
// first key is the CAKey, a second one an ExtraCAKeys) and -allow. With a cluster secret it also returns the CA key that signs this
// agent's certificate; otherwise that key is nil.
func (c *agentConfig) admission() (transport.Admission, ed25519.PrivateKey, error) {
	var adm transport.Admission
	var signer ed25519.PrivateKey
	secrets, err := clusterSecrets(c.clusterSecretFile, os.LookupEnv)
	switch {
	case errors.Is(err, errNoSecretSource):
	case err != nil:
		return adm, nil, err
	case c.clusterCA != "":
		return adm, nil, errors.New("gossipd: a cluster secret and -cluster-ca are two ways to certify agents; use one")
	default:
		if adm, signer, err = clusterSecretAdmission(secrets); err != nil {
			return adm, nil, err
		}
	}
	if c.clusterCA != "" {
		keys, err := clusterCAKeys(c.clusterCA)
		if err != nil {
			return adm, nil, err
		}
		adm.CAKey, adm.ExtraCAKeys = keys[0], keys[1:]
	}
	for _, s := range splitList(c.allow) {
		key, err := parsePublicKey(s)
		if err != nil {
			return adm, nil, fmt.Errorf("gossipd: -allow %q: %w", s, err)
		}
		adm.AllowList = append(adm.AllowList, key)
	}
	return adm, signer, nil
}

// parsePublicKey reads an ed25519 public key: base64url (as keygen prints
// it, optionally followed by "@host:port") or a PEM "PUBLIC KEY" block.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode([]byte(s)); block != nil {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if pub, ok := k.(ed25519.PublicKey); ok {
			return pub, nil
		}
		return nil, fmt.Errorf("key is %T, want ed25519", k)
	}
	s, _, _ = strings.Cut(strings.TrimSpace(s), "@")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not a base64url ed25519 public key")
	}
	return ed25519.PublicKey(b), nil
}
