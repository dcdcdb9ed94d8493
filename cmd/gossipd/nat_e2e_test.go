package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v2"
	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/transport"
)

// Bad combinations of the NAT flags stop the agent at start, each with
// its reason and the way out.
func TestNATFlagsChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("a cluster secret of enough bytes, surely\n"), 0o600))
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-nat", "maybe"}, `-nat "maybe": want auto or off`},
		{[]string{"-nat", "auto", "-trust-members"}, "-nat auto needs signatures"},
		{[]string{"-stun", "127.0.0.1:3478", "-relay", "127.0.0.1:3479"}, "-relay serves STUN too"},
		{[]string{"-relay", "127.0.0.1:3479"}, "-relay needs a cluster secret"},
		{[]string{"-relay-ip", "1.2.3.4"}, "-relay-ip without -relay"},
		{[]string{"-stun", "127.0.0.1"}, `-stun "127.0.0.1": want an ip:port`},
		{[]string{"-stun", "127.0.0.1:17946"}, "the QUIC socket (-bind 127.0.0.1:17946) is not shared"},
		{[]string{"-relay", "0.0.0.0:17946", "-cluster-secret-file", secret}, "is not shared"},
		{[]string{"-relay", "0.0.0.0:3479", "-cluster-secret-file", secret}, "give -relay-ip"},
		{[]string{"-relay", "127.0.0.1:3479", "-relay-ip", "::1", "-cluster-secret-file", secret}, "want the relay's public IPv4 address"},
	} {
		args := append([]string{"agent", "-bind", "127.0.0.1:17946", "-key-file", filepath.Join(dir, "k.key"), "-grpc-socket", filepath.Join(dir, "s.sock")}, tc.flags...)
		_, stderr, err := cli(t, args...)
		require.Equal(t, 1, exitCode(err), "%v: %s", tc.flags, stderr)
		require.Contains(t, stderr, tc.want, tc.flags)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %s", stderr)
	}
}

// Two agents with -nat auto on loopback learn that they can be dialled
// (each asks the other to dial it back); /debug/nat.json shows it, the
// path to the neighbour and each member's rendezvous (none); the one with
// -relay serves STUN to anyone and TURN to a member's credentials, derived
// from the cluster secret, and /metrics exports the relay's and the
// reachability checks' counters.
func TestNATAutoAndRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	secretText := "a cluster secret of enough bytes, surely"
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte(secretText+"\n"), 0o600))
	relayAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	aHTTP, bHTTP := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	a := startAgent(t, dir, "a", "-cluster-secret-file", secret, "-nat", "auto", "-relay", relayAddr, "-metrics-addr", aHTTP)
	startAgent(t, dir, "b", "-cluster-secret-file", secret, "-nat", "auto", "-seeds", a.addr(), "-metrics-addr", bHTTP)
	require.Regexp(t, `agent started.*"nat": "auto", "serves": "STUN and TURN on `+regexp.QuoteMeta(relayAddr)+`, relayed addresses on 127.0.0.1"`, a.log.String())

	get := func(addr, path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return buf.String()
	}
	status := func(addr string) natView {
		var v natView
		_ = json.Unmarshal([]byte(get(addr, "/debug/nat.json")), &v)
		return v
	}
	waitFor(t, 30*time.Second, "both agents learned that they can be dialled", func() bool {
		return status(aHTTP).Self.Reachability == "reachable" && status(bHTTP).Self.Reachability == "reachable"
	})
	for _, addr := range []string{aHTTP, bHTTP} {
		v := status(addr)
		require.NotEmpty(t, v.Self.CheckedBy)
		require.Empty(t, v.Self.Rendezvous)
		require.False(t, v.Self.Unreachable)
		require.Len(t, v.Neighbours, 1)
		require.Equal(t, "direct", v.Neighbours[0].Path)
		require.Equal(t, v.Self.CheckedBy, v.Neighbours[0].ID, "dialled back by its neighbour")
		require.Len(t, v.Members, 2)
		for _, m := range v.Members {
			require.Equal(t, "alive", m.State)
			require.Empty(t, m.Rendezvous)
			require.False(t, m.Unreachable)
		}
	}
	page := get(bHTTP, "/debug/")
	require.Contains(t, page, "<h2>Paths</h2><p>This agent: reachable")
	require.Contains(t, page, "<td>direct</td>")

	// STUN for anyone, TURN for a member's credentials only.
	sock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	ca, err := transport.ClusterCAFromSecret([]byte(secretText))
	require.NoError(t, err)
	key, err := ice.RelayKey(ca)
	require.NoError(t, err)
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	user, pass := ice.RelayCredentials(key, id.Public(), time.Now().Add(time.Hour))
	client, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: relayAddr, TURNServerAddr: relayAddr, Username: user, Password: pass, Conn: sock})
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.Listen())
	mapped, err := client.SendBindingRequest()
	require.NoError(t, err)
	require.Equal(t, sock.LocalAddr().String(), mapped.String(), "STUN: the asker's own address")
	alloc, err := client.Allocate()
	require.NoError(t, err, "TURN with a member's credentials")
	defer alloc.Close()
	require.Contains(t, alloc.LocalAddr().String(), "127.0.0.1:", "relayed addresses on -relay's IP")

	metric := regexp.MustCompile(`(?m)^plumview_relay_allocations_total 1$`)
	waitFor(t, 10*time.Second, "the allocation counted on /metrics", func() bool { return metric.MatchString(get(aHTTP, "/metrics")) })
	m := get(aHTTP, "/metrics")
	require.Regexp(t, `(?m)^plumview_relay_allocations 1$`, m)
	require.Regexp(t, `(?m)^plumview_ice_links_total\{kind="relay"\} 0$`, m)
	waitFor(t, 10*time.Second, "the check counted on /metrics", func() bool {
		return regexp.MustCompile(`(?m)^plumview_reach_checks_reachable_total 1$`).MatchString(get(bHTTP, "/metrics"))
	})
	require.Regexp(t, `(?m)^plumview_reach_dialbacks_received_total 1$`, get(bHTTP, "/metrics"))
}

// Every series of the NAT traversal layer on /metrics is documented in
// docs/operations.md.
func TestNATMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	for _, m := range natMetrics() {
		require.True(t, strings.Contains(string(doc), "plumview_"+m.name), "plumview_%s is not in docs/operations.md", m.name)
	}
}
