package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/transport"
)

// The ICE configuration an agent's negotiations run with: the servers of
// -ice-servers and its own -stun or -relay (on loopback when bound to
// every address), every TURN server asked for bindings too, fresh TURN
// credentials for each negotiation, loopback only for an agent bound to
// loopback; none without -nat auto.
func TestICEConfigOfTheAgent(t *testing.T) {
	ca, err := transport.ClusterCAFromSecret([]byte("a cluster secret of enough bytes, surely"))
	require.NoError(t, err)
	id, err := transport.GenerateIdentity()
	require.NoError(t, err)
	for _, tc := range []struct {
		name       string
		nat        natConfig
		bind       string
		stun, turn []string
		loopback   bool
		none       bool
	}{
		{name: "off", nat: natConfig{mode: "off"}, bind: "10.0.0.1:7946", none: true},
		{name: "auto, no servers", nat: natConfig{mode: "auto"}, bind: "10.0.0.1:7946"},
		{name: "servers", nat: natConfig{mode: "auto", iceServers: "stun:192.0.2.1:3478, turn:192.0.2.2:3478"}, bind: "10.0.0.1:7946",
			stun: []string{"192.0.2.1:3478", "192.0.2.2:3478"}, turn: []string{"192.0.2.2:3478"}},
		{name: "its own relay", nat: natConfig{mode: "auto", relay: "0.0.0.0:3479", relayIP: "192.0.2.9", iceServers: "turn:192.0.2.2:3478"}, bind: "10.0.0.1:7946",
			stun: []string{"192.0.2.2:3478", "127.0.0.1:3479"}, turn: []string{"192.0.2.2:3478", "127.0.0.1:3479"}},
		{name: "its own STUN", nat: natConfig{mode: "auto", stun: "192.0.2.9:3478"}, bind: "10.0.0.1:7946", stun: []string{"192.0.2.9:3478"}},
		{name: "on loopback", nat: natConfig{mode: "auto"}, bind: "127.0.0.1:7946", loopback: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := agentConfig{bind: tc.bind}
			r, err := tc.nat.check(&a, ca)
			require.NoError(t, err)
			links := r.iceLinks(transport.Config{Identity: id, ListenAddr: tc.bind})
			if tc.none {
				require.Nil(t, links)
				return
			}
			require.NotNil(t, links)
			cfg := links.Config()
			require.True(t, cfg.Transport.Identity.Public().Equal(id.Public()))
			require.Empty(t, cfg.Transport.ListenAddr)
			require.Equal(t, tc.stun, cfg.STUN)
			var turn []string
			for _, s := range cfg.TURN {
				turn = append(turn, s.Addr)
				require.NotEmpty(t, s.Username)
				require.NotEmpty(t, s.Password)
			}
			require.Equal(t, tc.turn, turn)
			require.Equal(t, tc.loopback, cfg.IncludeLoopback)
			if tc.loopback {
				require.NotEmpty(t, cfg.Interfaces)
			} else {
				require.Empty(t, cfg.Interfaces)
			}
			again := links.Config()
			require.Equal(t, tc.stun, again.STUN, "each negotiation's lists are its own")
		})
	}
}
