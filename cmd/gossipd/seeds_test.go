package main

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// Seeds that may be dialled, now or once a name resolves, pass; those
// that never can are refused, each with its reason.
func TestCheckSeed(t *testing.T) {
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	key := base64.RawURLEncoding.EncodeToString(id.Public())
	for _, ok := range []string{
		"127.0.0.1:7001", key + "@127.0.0.1:7001", "[::1]:7946", key + "@[fe80::1%eth0]:7946",
		"gossipd.default.svc.cluster.local:7946", "not-yet.invalid:1", "node_1.example.:65535",
	} {
		require.NoError(t, checkSeed(ok), ok)
	}
	for seed, want := range map[string]string{
		"x@@:":                 "the part before @ is not a base64url ed25519 public key",
		"@127.0.0.1:7001":      "the part before @ is not a base64url ed25519 public key",
		key + "@a@127.0.0.1:1": "more than one @",
		key + "@127.0.0.1":     "want key@host:port or host:port",
		"127.0.0.1:0":          `port "0" is not a number from 1 to 65535`,
		"127.0.0.1:-1":         `port "-1" is not a number from 1 to 65535`,
		":7001":                "no host",
		"a..b:7001":            `host "a..b" is neither an IP address nor a DNS name`,
		"héllo:7001":           `host "héllo" is neither an IP address nor a DNS name`,
	} {
		err := checkSeed(seed)
		require.Error(t, err, seed)
		require.Contains(t, err.Error(), want, seed)
	}
}

// The CLI's payload check and the agent's largest -max-payload and its
// default are one limit.
func TestOnePayloadLimit(t *testing.T) {
	require.Equal(t, 512<<10, maxPayloadBytes)
	var c agentConfig
	agentFlags(&c)
	require.Equal(t, maxPayloadBytes, c.maxPayload)
}

// Misspelt GOSSIPD_ variables are refused; the ones Kubernetes sets for
// Services are not flags and pass.
func TestCheckEnvironment(t *testing.T) {
	require.NoError(t, checkEnvironment([]string{
		"HOME=/root", "GOSSIPD_SEEDS=a:1", "GOSSIPD_CLUSTER_SECRET=x", "GOSSIPD_SOCKET=/s",
		"GOSSIPD_SERVICE_HOST=10.0.0.1", "GOSSIPD_SERVICE_PORT=7946", "GOSSIPD_SERVICE_PORT_GOSSIP=7946",
		"GOSSIPD_PORT=udp://10.0.0.1:7946", "GOSSIPD_PORT_7946_UDP=udp://10.0.0.1:7946",
		"GOSSIPD_PORT_7946_UDP_PROTO=udp", "GOSSIPD_PORT_7946_UDP_PORT=7946", "GOSSIPD_PORT_7946_UDP_ADDR=10.0.0.1",
		"GOSSIPD_METRICS_SERVICE_HOST=10.0.0.2", "GOSSIPD_METRICS_PORT_9090_TCP_ADDR=10.0.0.2",
	}))
	err := checkEnvironment([]string{"GOSSIPD_KEYFILE=k", "GOSSIPD_SEEDS=a:1", "GOSSIPD_METRICS_ADRR=x"})
	require.EqualError(t, err, "gossipd: unknown environment variable GOSSIPD_KEYFILE (did you mean GOSSIPD_KEY_FILE?)\n"+
		"gossipd: unknown environment variable GOSSIPD_METRICS_ADRR (did you mean GOSSIPD_METRICS_ADDR?)")
}

// -strict-signatures reaches the agent's configuration; it is off by
// default.
func TestStrictSignaturesFlag(t *testing.T) {
	var c agentConfig
	require.NoError(t, agentFlags(&c).Parse(nil))
	require.False(t, c.strictSigs)
	require.NoError(t, agentFlags(&c).Parse([]string{"-strict-signatures"}))
	require.True(t, c.strictSigs)
}
