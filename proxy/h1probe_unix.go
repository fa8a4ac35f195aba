//go:build unix

package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// idleProbe tells whether an idle connection is still open, with one
// non-blocking read of its socket: a read that would block says the
// backend has neither closed it nor sent anything (an answer nobody asked
// for makes it unusable too). http.Transport learns the same from the read
// its per-connection goroutine keeps pending; without that goroutine, the
// probe before reusing a connection idle for probeIdleAfter or more is what
// keeps a request that cannot be retried (a POST without an
// Idempotency-Key) off a connection the backend closed after its own idle
// timeout. The zero value probes nothing (always open).
type idleProbe struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // made once: a closure per probe would allocate
	open bool
	buf  [1]byte
}

func (c *h1Conn) initProbe() {
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p := &c.probe
	p.rc = rc
	p.fn = func(fd uintptr) bool {
		_, err := syscall.Read(int(fd), p.buf[:])
		p.open = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait: this is a look, not a read
	}
}

// alive reports whether c, idle until now, is still open.
func (c *h1Conn) alive() bool {
	p := &c.probe
	if p.rc == nil {
		return true
	}
	p.open = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.open
}
