package harness

import (
	"io"
	"net"
	"sync/atomic"
)

// CountConn wraps c so that the bytes written to it, and also the bytes
// read from it if reads is set, are added to counter. Counting reads on the
// dialling side of a connection whose other end is in the same process
// counts what that end wrote, so all of a connection's traffic is counted
// without wrapping the listener. A *net.TCPConn keeps its TCP methods
// (SetLinger, SetKeepAlive, CloseWrite...), so libraries that look for them
// still find them.
func CountConn(c net.Conn, counter *atomic.Uint64, reads bool) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &countingTCPConn{TCPConn: tc, n: counter, reads: reads}
	}
	return &countingConn{Conn: c, n: counter, reads: reads}
}

type countingConn struct {
	net.Conn
	n     *atomic.Uint64
	reads bool
}

// Write implements net.Conn, counting the bytes written.
func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(uint64(n))
	return n, err
}

// Read implements net.Conn, counting the bytes read if asked to.
func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.reads {
		c.n.Add(uint64(n))
	}
	return n, err
}

type countingTCPConn struct {
	*net.TCPConn
	n     *atomic.Uint64
	reads bool
}

// Write implements net.Conn, counting the bytes written.
func (c *countingTCPConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	c.n.Add(uint64(n))
	return n, err
}

// Read implements net.Conn, counting the bytes read if asked to.
func (c *countingTCPConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	if c.reads {
		c.n.Add(uint64(n))
	}
	return n, err
}

// ReadFrom implements io.ReaderFrom through Write: it overrides the promoted
// *net.TCPConn method (as WriteTo does), which would move bytes uncounted.
func (c *countingTCPConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{c}, r)
}

// WriteTo implements io.WriterTo through Read.
func (c *countingTCPConn) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{c})
}
