package transport

import (
	"errors"
	"net"
	"syscall"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"
)

// transientSendErrnos are the errors with which the host refuses one
// datagram while the socket, the route and the peer may all be fine a
// moment later. A datagram refused so never left the host, which is what
// loss on the wire looks like to QUIC: the socket wrapper below reports the
// write as done, QUIC's loss recovery resends the frames it carried, and a
// refusal that lasts ends the connection the way lasting loss does, through
// the idle or handshake timeout (see "Send errors" in doc.go). quic-go
// itself would end the connection on the first one.
//
// Left out on purpose: EMSGSIZE, which quic-go's path MTU discovery relies
// on (a probe too large for the path is refused with it and counted as a
// lost probe); EIO, on which quic-go turns generic segmentation offload off
// and resends the packets one by one; and errors that no retry can cure
// (EBADF and a closed socket, EINVAL, EAFNOSUPPORT, EACCES for a broadcast
// address), which stay fatal.
var transientSendErrnos = [...]syscall.Errno{
	syscall.EPERM,        // dropped by the host's own firewall (netfilter OUTPUT)
	syscall.ENOBUFS,      // queue discipline or socket memory full
	syscall.EAGAIN,       // send buffer full (also EWOULDBLOCK)
	syscall.ECONNREFUSED, // an ICMP port unreachable reported on this socket
	syscall.EHOSTUNREACH, // no route to the host, or ICMP host unreachable
	syscall.ENETUNREACH,  // no route to the network (a route being replaced)
	syscall.ENETDOWN,     // the outgoing interface is down
}

// transientRecvErrnos are the errors a read may return for an ICMP error
// earlier datagrams provoked. Linux reports them on an unconnected UDP
// socket only with IP_RECVERR, which the transport does not set, but a
// socket given in Config.PacketConn may have it; quic-go would close the
// whole transport on such a read error, so the wrapper reads again.
var transientRecvErrnos = [...]syscall.Errno{
	syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
}

// maxIgnoredReads bounds how many transient read errors in a row are
// ignored: the kernel reports each pending ICMP error once, so a longer run
// means the socket is broken and the error is passed on.
const maxIgnoredReads = 1024

// transientErrno returns the errno behind err and its index in list, or -1.
func transientErrno(err error, list []syscall.Errno) int {
	if err == nil {
		return -1
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return -1
	}
	for i, e := range list {
		if errno == e {
			return i
		}
	}
	return -1
}

// dropSend counts err and reports true if it is a transient send error.
func (c *counters) dropSend(err error) bool {
	i := transientErrno(err, transientSendErrnos[:])
	if i < 0 {
		return false
	}
	c.sendDropped[i].Add(1)
	return true
}

// ignoreRead counts err and reports true if it is a transient read error
// and fewer than maxIgnoredReads came in a row (*run counts them).
func (c *counters) ignoreRead(err error, run *int) bool {
	if transientErrno(err, transientRecvErrnos[:]) < 0 || *run >= maxIgnoredReads {
		*run = 0
		return false
	}
	*run++
	c.recvIgnored.Add(1)
	return true
}

// lossConn wraps the transport's socket for quic-go: a write refused with a
// transient error (transientSendErrnos) is counted and reported as done,
// so quic-go treats the datagram as lost instead of ending the connection.
// Other errors pass through unchanged, with their types, for quic-go to
// act on (EMSGSIZE, EIO).
type lossConn struct {
	net.PacketConn
	stats   *counters
	readRun int // transient read errors in a row; quic-go reads from one goroutine
}

// WriteTo writes one datagram, or drops it on a transient error.
func (c *lossConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	if c.stats.dropSend(err) {
		return len(p), nil
	}
	return n, err
}

// ReadFrom reads one datagram, reading again after a transient error.
func (c *lossConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if !c.stats.ignoreRead(err, &c.readRun) {
			return n, addr, err
		}
	}
}

// bufferSizer is a socket whose buffers quic-go can size.
type bufferSizer interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

// SetReadBuffer passes quic-go's receive buffer sizing on to the socket, if
// it offers it: a wrapper over something that is not a socket (ice's
// adapter over an ICE agent) says so by accepting the size. Otherwise
// quic-go logs, once per process, that it could not size the buffer.
func (c *lossConn) SetReadBuffer(n int) error {
	if s, ok := c.PacketConn.(bufferSizer); ok {
		return s.SetReadBuffer(n)
	}
	return errors.New("transport: socket cannot set its receive buffer size")
}

// SetWriteBuffer is SetReadBuffer for the send buffer.
func (c *lossConn) SetWriteBuffer(n int) error {
	if s, ok := c.PacketConn.(bufferSizer); ok {
		return s.SetWriteBuffer(n)
	}
	return errors.New("transport: socket cannot set its send buffer size")
}

// batchReader is what quic-go reads a batch of datagrams with (recvmmsg on
// Linux); it uses ReadBatch of the socket it is given if there is one.
type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// lossUDPConn is lossConn for a socket with the methods quic-go looks for
// on a *net.UDPConn (quic.OOBCapablePacketConn: SyscallConn, SetReadBuffer,
// ReadMsgUDP, WriteMsgUDP; and SetWriteBuffer, ReadBatch), so that
// wrapping it keeps every optimisation quic-go enables on a bare socket:
// the don't-fragment bit (path MTU discovery needs it, and the transport
// turns discovery off: doc.go, "Defaults"), ECN, generic segmentation
// offload, batched reads and larger socket buffers.
type lossUDPConn struct {
	lossConn
	udp   quic.OOBCapablePacketConn
	batch batchReader
}

var (
	_ quic.OOBCapablePacketConn              = (*lossUDPConn)(nil)
	_ batchReader                            = (*lossUDPConn)(nil)
	_ interface{ SetWriteBuffer(int) error } = (*lossUDPConn)(nil)
)

// wrapSocket wraps pc in a lossConn, or in a lossUDPConn when pc offers
// what quic-go needs for its optimisations: quic.OOBCapablePacketConn, and
// ReadBatch or net.Conn (from which quic-go would build the batch reader
// itself, as wrapSocket does).
func wrapSocket(pc net.PacketConn, stats *counters) net.PacketConn {
	base := lossConn{PacketConn: pc, stats: stats}
	udp, ok := pc.(quic.OOBCapablePacketConn)
	if !ok {
		return &base
	}
	batch, ok := pc.(batchReader)
	if !ok {
		if _, isConn := pc.(net.Conn); !isConn {
			return &base
		}
		batch = ipv4.NewPacketConn(pc)
	}
	return &lossUDPConn{lossConn: base, udp: udp, batch: batch}
}

// WriteMsgUDP writes one datagram (several with a segmentation offload
// control message), or drops it on a transient error.
func (c *lossUDPConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	n, oobn, err := c.udp.WriteMsgUDP(b, oob, addr)
	if c.stats.dropSend(err) {
		return len(b), len(oob), nil
	}
	return n, oobn, err
}

// ReadMsgUDP reads one datagram, reading again after a transient error.
func (c *lossUDPConn) ReadMsgUDP(b, oob []byte) (int, int, int, *net.UDPAddr, error) {
	for {
		n, oobn, flags, addr, err := c.udp.ReadMsgUDP(b, oob)
		if !c.stats.ignoreRead(err, &c.readRun) {
			return n, oobn, flags, addr, err
		}
	}
}

// ReadBatch reads a batch of datagrams, reading again after a transient
// error.
func (c *lossUDPConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	for {
		n, err := c.batch.ReadBatch(ms, flags)
		if !c.stats.ignoreRead(err, &c.readRun) {
			return n, err
		}
	}
}

// SyscallConn returns the socket's raw connection, on which quic-go sets
// the don't-fragment bit and ECN reception and probes for segmentation
// offload.
func (c *lossUDPConn) SyscallConn() (syscall.RawConn, error) { return c.udp.SyscallConn() }

// SetReadBuffer sets the socket's receive buffer size.
func (c *lossUDPConn) SetReadBuffer(n int) error { return c.udp.SetReadBuffer(n) }

// SetWriteBuffer sets the socket's send buffer size, if it has one.
func (c *lossUDPConn) SetWriteBuffer(n int) error {
	if w, ok := c.udp.(interface{ SetWriteBuffer(int) error }); ok {
		return w.SetWriteBuffer(n)
	}
	return errors.New("transport: socket cannot set its send buffer size")
}
