package membership

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/plumview/plumview/hyparview"
	"github.com/plumview/plumview/peer"
	"github.com/plumview/plumview/transport"
)

// formatAddr returns the address others pass to Join: the base64url
// (unpadded) public key, "@", and the transport address.
func formatAddr(key ed25519.PublicKey, addr string) string {
	return base64.RawURLEncoding.EncodeToString(key) + "@" + addr
}

// parseAddr splits "key@host:port" into the pinned key and the transport
// address; an address without "@" has no pin (key nil).
func parseAddr(s string) (ed25519.PublicKey, string, error) {
	k, addr, pinned := strings.Cut(s, "@")
	if !pinned {
		if s == "" {
			return nil, "", fmt.Errorf("membership: empty address")
		}
		return nil, s, nil
	}
	key, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, "", fmt.Errorf("membership: address %q: the part before @ is not a base64url ed25519 key", s)
	}
	if addr == "" {
		return nil, "", fmt.Errorf("membership: address %q has no host", s)
	}
	return ed25519.PublicKey(key), addr, nil
}

// peerOf returns the protocol's view of a peer with key key at addr.
func peerOf(key ed25519.PublicKey, addr string) hyparview.Peer {
	return hyparview.Peer{ID: peer.ID(transport.KeyID(key)), Addr: formatAddr(key, addr)}
}

// privateAddr reports whether the host of a member address
// ("key@host:port" or "host:port") is a private IP address (RFC 1918,
// RFC 4193): gossip.MembersConfig.PrivateAddress.
func privateAddr(addr string) bool {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		addr = addr[i+1:]
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsPrivate()
}
