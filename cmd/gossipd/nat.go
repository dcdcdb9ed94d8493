package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plumview/plumview/ice"
)

// natConfig is the agent's part in connections through NATs
// (docs/nat.md): whether it checks its own reachability, and whether it
// serves STUN, or STUN and TURN, to the members.
type natConfig struct {
	mode, stun, relay, relayIP, iceServers string
}

func natFlags(fs *flag.FlagSet, c *natConfig) {
	fs.StringVar(&c.mode, "nat", "off", "`mode`: auto (ask a neighbour to dial this agent back, at start and when its neighbours change, at most once a minute, and say in its signed record whether it can be dialled, naming a rendezvous if not) or off (say nothing: every member dials it)")
	fs.StringVar(&c.stun, "stun", "", "serve STUN (binding requests: a member learns its public address) on this UDP `address`, another port than -bind's")
	fs.StringVar(&c.relay, "relay", "", "serve STUN and TURN (relayed paths for members behind NATs, 8 allocations and 1 MiB/s per member) on this UDP `address`, another port than -bind's; needs a cluster secret, which the relay key is derived from")
	fs.StringVar(&c.relayIP, "relay-ip", "", "the public `IP` the relay gives out for relayed addresses (default: -relay's IP, else -advertise's)")
	fs.StringVar(&c.iceServers, "ice-servers", "", "with -nat auto, the STUN and TURN servers this agent's ICE negotiations use, comma-separated `list` of stun:IP:PORT and turn:IP:PORT (other agents' -stun and -relay; turn: serves STUN too, and needs the cluster secret its credentials are derived from); an agent's own -stun or -relay is added")
}

// natRoles are the NAT settings checked.
type natRoles struct {
	auto      bool
	stunAt    []string // -ice-servers' STUN servers, and this agent's own
	turnAt    []string // -ice-servers' TURN servers, and this agent's own
	turnKey   []byte   // the relay key members' TURN credentials come from
	serve     string   // the UDP address STUN (and TURN) is served on, "" for none
	turn      bool     // TURN too (-relay)
	relayIP   net.IP
	relayBind string
	relayKey  []byte
}

// check refuses a bad combination of the NAT flags with the rest of the
// configuration, each with the reason and the way out.
func (c *natConfig) check(a *agentConfig, signer ed25519.PrivateKey) (natRoles, error) {
	var r natRoles
	switch c.mode {
	case "auto":
		if a.trustMembers {
			return r, errors.New("gossipd: -nat auto needs signatures (whether this agent can be dialled is signed into its member record): drop -trust-members")
		}
		r.auto = true
	case "off":
	default:
		return r, fmt.Errorf("gossipd: -nat %q: want auto or off", c.mode)
	}
	if c.stun != "" && c.relay != "" {
		return r, errors.New("gossipd: -relay serves STUN too: give -stun or -relay, not both")
	}
	if c.relayIP != "" && c.relay == "" {
		return r, errors.New("gossipd: -relay-ip without -relay: it is the address the relay gives out")
	}
	if err := c.checkICEServers(&r, signer); err != nil {
		return r, err
	}
	flagName, addr := "-stun", c.stun
	if c.relay != "" {
		flagName, addr, r.turn = "-relay", c.relay, true
	}
	if addr == "" {
		return r, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 {
		return r, fmt.Errorf("gossipd: %s %q: want an ip:port with a port, such as 0.0.0.0:3478", flagName, addr)
	}
	if bind, err := netip.ParseAddrPort(a.bind); err == nil && bind.Port() == ap.Port() &&
		(bind.Addr() == ap.Addr() || bind.Addr().IsUnspecified() || ap.Addr().IsUnspecified()) {
		return r, fmt.Errorf("gossipd: %s %s: the QUIC socket (-bind %s) is not shared: STUN and TURN are served on a UDP port of their own (docs/nat.md, \"gossipd\"); give another port", flagName, addr, a.bind)
	}
	r.serve = addr
	own := addr
	if ap.Addr().IsUnspecified() { // its own ICE negotiations reach it on loopback
		own = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port()).String()
	}
	if !r.turn {
		r.stunAt = append(r.stunAt, own)
		return r, nil
	}
	r.turnAt = append(r.turnAt, own)
	if signer == nil {
		return r, errors.New("gossipd: -relay needs a cluster secret (-cluster-secret-file or $" + clusterSecretEnv + "): the relay key members' credentials are checked with is derived from it; a cluster admitted by -cluster-ca or -allow alone has none")
	}
	if r.relayKey, err = ice.RelayKey(signer); err != nil {
		return r, fmt.Errorf("gossipd: -relay: %w", err)
	}
	r.turnKey = r.relayKey // its own negotiations use it too
	if !ap.Addr().Is4() && !ap.Addr().IsUnspecified() {
		return r, fmt.Errorf("gossipd: -relay %s: the relay serves IPv4 only", addr)
	}
	r.relayBind = "0.0.0.0"
	if !ap.Addr().IsUnspecified() {
		r.relayBind = ap.Addr().String()
	}
	switch {
	case c.relayIP != "":
		ip, err := netip.ParseAddr(c.relayIP)
		if err != nil || !ip.Is4() || ip.IsUnspecified() {
			return r, fmt.Errorf("gossipd: -relay-ip %q: want the relay's public IPv4 address", c.relayIP)
		}
		r.relayIP = net.IP(ip.AsSlice())
	case !ap.Addr().IsUnspecified():
		r.relayIP = net.IP(ap.Addr().AsSlice())
	default:
		host := ""
		if a.advertise != "" {
			host, _, _ = net.SplitHostPort(a.advertise)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.IsUnspecified() {
			return r, fmt.Errorf("gossipd: -relay %s binds every address: give -relay-ip, the public IP members reach the relay at (or an -advertise IP)", addr)
		}
		r.relayIP = net.IP(ip.AsSlice())
	}
	return r, nil
}

// start serves STUN, or STUN and TURN, on a UDP socket of its own, or
// returns nil when the agent serves neither.
func (r natRoles) start() (*ice.Relay, error) {
	if r.serve == "" {
		return nil, nil
	}
	name := "-stun"
	if r.turn {
		name = "-relay"
	}
	sock, err := net.ListenPacket("udp4", r.serve)
	if err != nil {
		return nil, fmt.Errorf("gossipd: %s: %w", name, err)
	}
	cfg := ice.RelayConfig{PacketConn: sock, STUNOnly: !r.turn, RelayIP: r.relayIP, RelayBind: r.relayBind, Key: r.relayKey}
	relay, err := ice.StartRelay(cfg)
	if err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("gossipd: %s: %w", name, err)
	}
	return relay, nil
}

// role names what the agent serves, for its start-up line.
func (r natRoles) role() string {
	switch {
	case r.turn:
		return "STUN and TURN on " + r.serve + ", relayed addresses on " + r.relayIP.String()
	case r.serve != "":
		return "STUN on " + r.serve
	}
	return "none"
}

// natMetric is one series of the NAT traversal layer on /metrics.
type natMetric struct {
	name, help string
	counter    bool
	kind       string // the path kind label, "" for none
	value      func(s ice.MetricsSnapshot, r ice.RelayStats) int64
}

// natMetrics are the counters of ice.Metrics (ice.Default: every ICE link
// this agent makes) and of the relay it serves (Relay.Stats; 0 without
// one), declared up front like membership.MetricDefs.
func natMetrics() []natMetric {
	var ms []natMetric
	for _, k := range []ice.PathKind{ice.PathHost, ice.PathSrflx, ice.PathRelay} {
		ms = append(ms,
			natMetric{"ice_links_total", "ICE links established, by the selected path's kind", true, k.String(),
				func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.Links[k] }},
			natMetric{"ice_links_open", "ICE links open now, by the selected path's kind", false, k.String(),
				func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.Open[k] }})
	}
	return append(ms,
		natMetric{"ice_holepunch_attempts_total", "ICE negotiations that started their connectivity checks", true, "",
			func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.HolePunchAttempts }},
		natMetric{"ice_holepunch_successes_total", "ICE negotiations that nominated a direct pair", true, "",
			func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.HolePunchSuccesses }},
		natMetric{"ice_holepunch_failures_total", "ICE negotiations that ended on a relayed pair or none", true, "",
			func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.HolePunchFailures }},
		natMetric{"ice_no_path_total", "ICE negotiations that found no path at all", true, "",
			func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.NoPath }},
		natMetric{"ice_relayed_bytes_total", "bytes this agent sent and received over relayed ICE links", true, "",
			func(s ice.MetricsSnapshot, _ ice.RelayStats) int64 { return s.RelayedBytes }},
		natMetric{"relay_allocations", "TURN allocations open on this agent's relay", false, "",
			func(_ ice.MetricsSnapshot, r ice.RelayStats) int64 { return r.Allocations }},
		natMetric{"relay_allocations_total", "TURN allocations this agent's relay granted", true, "",
			func(_ ice.MetricsSnapshot, r ice.RelayStats) int64 { return r.AllocationsTotal }},
		natMetric{"relay_auth_refused_total", "TURN requests refused for their credentials (expired, too long-lived, malformed; all on a STUN-only server)", true, "",
			func(_ ice.MetricsSnapshot, r ice.RelayStats) int64 { return r.AuthRefused }},
		natMetric{"relay_quota_refused_total", "TURN allocations refused: the member held 8 already", true, "",
			func(_ ice.MetricsSnapshot, r ice.RelayStats) int64 { return r.QuotaRefused }},
		natMetric{"relay_bytes_total", "bytes this agent's relay relayed to and from peers", true, "",
			func(_ ice.MetricsSnapshot, r ice.RelayStats) int64 { return r.RelayedBytes }},
		natMetric{"relay_dropped_bytes_total", "bytes this agent's relay dropped over a member's 1 MiB/s", true, "",
			func(_ ice.MetricsSnapshot, r ice.RelayStats) int64 { return r.DroppedBytes }},
	)
}

// registerNATMetrics exports natMetrics on reg, read at each scrape from
// m and relay (nil: its counters stay 0).
func registerNATMetrics(reg prometheus.Registerer, m *ice.Metrics, relay *ice.Relay) error {
	for _, d := range natMetrics() {
		value := func() float64 {
			var rs ice.RelayStats
			if relay != nil {
				rs = relay.Stats()
			}
			return float64(d.value(m.Snapshot(), rs))
		}
		opts := prometheus.Opts{Name: metricsService + "_" + d.name, Help: d.help}
		if d.kind != "" {
			opts.ConstLabels = prometheus.Labels{"kind": d.kind}
		}
		var c prometheus.Collector
		if d.counter {
			c = prometheus.NewCounterFunc(prometheus.CounterOpts(opts), value)
		} else {
			c = prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts), value)
		}
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("gossipd: metrics: %s: %w", d.name, err)
		}
	}
	return nil
}
