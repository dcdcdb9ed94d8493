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
	"strconv"
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
		{[]string{"-ice-servers", "turn:127.0.0.1:3478"}, "-ice-servers without -nat auto"},
		{[]string{"-nat", "auto", "-ice-servers", "relay:127.0.0.1:3478", "-cluster-secret-file", secret}, `-ice-servers "relay:127.0.0.1:3478": want stun:IP:PORT or turn:IP:PORT`},
		{[]string{"-nat", "auto", "-ice-servers", "stun:example.org:3478", "-cluster-secret-file", secret}, "want stun:IP:PORT or turn:IP:PORT"},
		{[]string{"-nat", "auto", "-ice-servers", "turn:0.0.0.0:3478", "-cluster-secret-file", secret}, "want stun:IP:PORT or turn:IP:PORT"},
		{[]string{"-nat", "auto", "-ice-servers", "stun:127.0.0.1:3478,turn:127.0.0.1:3479", "-insecure"}, "-ice-servers turn: needs a cluster secret"},
	} {
		args := append([]string{"agent", "-bind", "127.0.0.1:17946", "-key-file", filepath.Join(dir, "k.key"), "-grpc-socket", filepath.Join(dir, "s.sock")}, tc.flags...)
		_, stderr, err := cli(t, args...)
		require.Equal(t, 1, exitCode(err), "%v: %s", tc.flags, stderr)
		require.Contains(t, stderr, tc.want, tc.flags)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %s", stderr)
	}
}

// Three agents with -nat auto on loopback: two learn that they can be
// dialled (each asks a neighbour to dial it back), the third, which
// advertises a port nobody listens on (as a node behind a NAT advertises
// its private address), learns that it cannot and names one of the two
// as its rendezvous; /debug/nat.json shows it all, with the path to each
// neighbour and each member's rendezvous. The agent with -relay serves
// STUN to anyone and TURN to a member's credentials, derived from the
// cluster secret, and /metrics exports the relay's and the reachability
// checks' counters.
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
	aHTTP, bHTTP, cHTTP := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	a := startAgent(t, dir, "a", "-cluster-secret-file", secret, "-nat", "auto", "-relay", relayAddr, "-metrics-addr", aHTTP)
	startAgent(t, dir, "b", "-cluster-secret-file", secret, "-nat", "auto", "-seeds", a.addr(), "-metrics-addr", bHTTP, "-ice-servers", "turn:"+relayAddr)
	startAgent(t, dir, "c", "-cluster-secret-file", secret, "-nat", "auto", "-seeds", a.addr(), "-metrics-addr", cHTTP, "-ice-servers", "turn:"+relayAddr,
		"-advertise", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
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
	var c natView
	waitFor(t, 30*time.Second, "a and b learned that they can be dialled, c that it cannot", func() bool {
		c = status(cHTTP)
		return status(aHTTP).Self.Reachability == "reachable" && status(bHTTP).Self.Reachability == "reachable" &&
			c.Self.Reachability == "unreachable" && c.Self.Rendezvous != ""
	})
	require.True(t, c.Self.Unreachable)
	require.NotEqual(t, c.Self.ID, c.Self.Rendezvous)
	waitFor(t, 30*time.Second, "every agent holds c's record naming its rendezvous", func() bool {
		for _, addr := range []string{aHTTP, bHTTP} {
			found := false
			for _, m := range status(addr).Members {
				found = found || m.ID == c.Self.ID && m.Unreachable && m.Rendezvous == c.Self.Rendezvous
			}
			if !found {
				return false
			}
		}
		return true
	})
	ids := map[string]bool{}
	for _, addr := range []string{aHTTP, bHTTP} {
		ids[status(addr).Self.ID] = true
	}
	require.True(t, ids[c.Self.Rendezvous], "a rendezvous that can be dialled")
	// A neighbour's path reads "none" for the moment its connection is
	// being (re)opened, so wait for the paths before reading them. c
	// cannot be dialled: a link to it that another agent opened is an ICE
	// link, whose path on one loopback is host to host.
	wantPath := func(from, to string) string {
		if from == c.Self.ID || to == c.Self.ID {
			return "direct or host"
		}
		return "direct"
	}
	waitFor(t, 30*time.Second, "every agent reaches each of its neighbours by the path expected", func() bool {
		for _, addr := range []string{aHTTP, bHTTP, cHTTP} {
			v := status(addr)
			if len(v.Neighbours) == 0 {
				return false
			}
			for _, n := range v.Neighbours {
				if n.Path == "none" || !strings.Contains(wantPath(v.Self.ID, n.ID), n.Path) {
					return false
				}
			}
		}
		return true
	})
	for _, addr := range []string{aHTTP, bHTTP, cHTTP} {
		v := status(addr)
		require.NotEmpty(t, v.Self.CheckedBy)
		require.NotEmpty(t, v.Neighbours)
		for _, n := range v.Neighbours {
			require.Contains(t, []string{"direct", "host", "none"}, n.Path, "loopback only: no hole punched, nothing relayed")
		}
		require.Len(t, v.Members, 3)
		for _, m := range v.Members {
			require.Equal(t, "alive", m.State)
			if m.ID != c.Self.ID {
				require.Empty(t, m.Rendezvous)
				require.False(t, m.Unreachable)
			}
		}
		if addr != cHTTP {
			require.Empty(t, v.Self.Rendezvous)
			require.False(t, v.Self.Unreachable)
		}
	}
	page := get(bHTTP, "/debug/")
	require.Contains(t, page, "<h2>Paths</h2><p>This agent: reachable")
	require.Contains(t, page, "<td>direct</td>")
	require.Contains(t, page, "<code>"+c.Self.Rendezvous+"</code> (cannot be dialled)")
	require.Contains(t, get(cHTTP, "/debug/"), "This agent: unreachable, rendezvous <code>"+c.Self.Rendezvous+"</code>")

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
	metricValue := func(addr, name string) int {
		mm := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9]+)$`).FindStringSubmatch(get(addr, "/metrics"))
		if mm == nil {
			return -1
		}
		v, _ := strconv.Atoi(mm[1])
		return v
	}
	// The agents' own ICE negotiations allocate on the relay too (c
	// cannot be dialled), so count from here.
	before := metricValue(aHTTP, "plumview_relay_allocations_total")
	require.GreaterOrEqual(t, before, 0)
	alloc, err := client.Allocate()
	require.NoError(t, err, "TURN with a member's credentials")
	defer alloc.Close()
	require.Contains(t, alloc.LocalAddr().String(), "127.0.0.1:", "relayed addresses on -relay's IP")

	waitFor(t, 10*time.Second, "the allocation counted on /metrics", func() bool {
		return metricValue(aHTTP, "plumview_relay_allocations_total") > before
	})
	require.Positive(t, metricValue(aHTTP, "plumview_relay_allocations"), "allocations open now")
	require.Regexp(t, `(?m)^plumview_ice_links_total\{kind="relay"\} 0$`, get(aHTTP, "/metrics"), "loopback: host pairs, never the relay")
	waitFor(t, 10*time.Second, "the check counted on /metrics", func() bool {
		return regexp.MustCompile(`(?m)^plumview_reach_checks_reachable_total 1$`).MatchString(get(bHTTP, "/metrics"))
	})
	reachLines := func(addr string) string {
		return strings.Join(regexp.MustCompile(`(?m)^plumview_reach_.*$`).FindAllString(get(addr, "/metrics"), -1), "\n")
	}
	require.Regexp(t, `(?m)^plumview_reach_dialbacks_received_total 1$`, reachLines(bHTTP))
	waitFor(t, 10*time.Second, "c's check counted on /metrics", func() bool {
		return regexp.MustCompile(`(?m)^plumview_reach_checks_unreachable_total 1$`).MatchString(reachLines(cHTTP))
	})
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
