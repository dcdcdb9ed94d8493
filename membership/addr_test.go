package membership

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// privateAddr tells the addresses of private networks (RFC 1918, RFC
// 4193), with or without a key, from public, loopback and unparsable ones.
func TestPrivateAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"k@10.1.2.3:7946": true, "192.168.0.1:1": true, "k@172.16.0.9:7946": true, "k@[fd00::1]:7946": true,
		"k@203.0.113.1:7946": false, "k@127.0.0.1:7946": false, "k@[2001:db8::1]:7946": false,
		"node3": false, "k@host.example:7946": false, "k@10.1.2.3": false,
	} {
		require.Equal(t, want, privateAddr(addr), addr)
	}
}
