package systems

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/plumview/plumview/bench/harness"
)

// countingTransport wraps memberlist's NetTransport to count the bytes a
// node sends and to refuse any address other than 127.0.0.1. UDP is counted
// at WriteTo; a TCP connection is counted on the dialling side, bytes
// written plus bytes read, which is what both ends wrote since both are in
// this process.
type countingTransport struct {
	*memberlist.NetTransport
	sent *atomic.Uint64
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

// WriteTo implements memberlist.Transport.
func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if err := loopbackOnly(a.Addr); err != nil {
		return time.Time{}, err
	}
	at, err := t.NetTransport.WriteToAddress(b, a)
	if err == nil {
		t.sent.Add(uint64(len(b)))
	}
	return at, err
}

// DialTimeout implements memberlist.Transport.
func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *countingTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if err := loopbackOnly(a.Addr); err != nil {
		return nil, err
	}
	c, err := t.NetTransport.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return harness.CountConn(c, t.sent, true), nil
}

// loopbackOnly refuses any destination but 127.0.0.1: the comparison never
// sends anywhere else.
func loopbackOnly(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("refusing to send to %s: only 127.0.0.1 is allowed", hostport)
	}
	return nil
}
