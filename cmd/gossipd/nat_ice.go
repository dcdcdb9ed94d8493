package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/plumview/plumview/ice"
	"github.com/plumview/plumview/membership"
	"github.com/plumview/plumview/transport"
)

// HyParView over ICE links (docs/nat.md, "HyParView over ICE links"):
// with -nat auto, the agent reaches a member that cannot be dialled by an
// ICE negotiation through its rendezvous, gathering host candidates on its
// own interfaces, server-reflexive ones from the STUN servers of
// -ice-servers and relayed ones from its TURN servers, with credentials
// derived from the cluster secret.

// iceCredentialLifetime is how long the TURN credentials minted for one
// negotiation stay valid: the allocation they open is refreshed with them
// for as long as the link lasts.
const iceCredentialLifetime = 24 * time.Hour

// checkICEServers parses -ice-servers into r.
func (c *natConfig) checkICEServers(r *natRoles, signer ed25519.PrivateKey) error {
	if c.iceServers == "" {
		return nil
	}
	if !r.auto {
		return errors.New("gossipd: -ice-servers without -nat auto: the servers serve the ICE negotiations -nat auto runs")
	}
	for _, s := range strings.Split(c.iceServers, ",") {
		s = strings.TrimSpace(s)
		scheme, addr, ok := strings.Cut(s, ":")
		ap, err := netip.ParseAddrPort(addr)
		if !ok || err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() || (scheme != "stun" && scheme != "turn") {
			return fmt.Errorf("gossipd: -ice-servers %q: want stun:IP:PORT or turn:IP:PORT, such as turn:203.0.113.7:3478", s)
		}
		if scheme == "stun" {
			r.stunAt = append(r.stunAt, addr)
		} else {
			r.turnAt = append(r.turnAt, addr)
		}
	}
	if len(r.turnAt) > 0 {
		if signer == nil {
			return errors.New("gossipd: -ice-servers turn: needs a cluster secret (-cluster-secret-file or $" + clusterSecretEnv + "): the TURN credentials are derived from it")
		}
		var err error
		if r.turnKey, err = ice.RelayKey(signer); err != nil {
			return fmt.Errorf("gossipd: -ice-servers: %w", err)
		}
	}
	return nil
}

// iceLinks is the agent's membership.Config.ICE, nil without -nat auto.
func (r natRoles) iceLinks(tc transport.Config) *membership.ICELinks {
	if !r.auto {
		return nil
	}
	bind := tc.ListenAddr
	tc.ListenAddr, tc.AdvertiseAddr, tc.PacketConn = "", "", nil
	base := ice.Config{Transport: tc, STUN: r.stunAt}
	if ap, err := netip.ParseAddrPort(bind); err == nil && ap.Addr().IsLoopback() {
		// An agent on loopback (a test, a single host) negotiates on
		// loopback only, never through the host's other interfaces.
		base.IncludeLoopback, base.Interfaces = true, loopbackInterfaces()
	}
	id := tc.Identity
	return &membership.ICELinks{Config: func() ice.Config {
		cfg := base
		cfg.TURN = nil
		for _, a := range r.turnAt {
			user, pass := ice.RelayCredentials(r.turnKey, id.Public(), time.Now().Add(iceCredentialLifetime))
			cfg.TURN = append(cfg.TURN, ice.TURNServer{Addr: a, Username: user, Password: pass})
		}
		// Every TURN server answers binding requests too.
		cfg.STUN = append(append([]string(nil), base.STUN...), r.turnAt...)
		return cfg
	}}
}

// loopbackInterfaces names the host's loopback interfaces.
func loopbackInterfaces() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return []string{"lo"}
	}
	var names []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			names = append(names, i.Name)
		}
	}
	return names
}
