//go:build !unix

package proxy

// idleProbe is empty where there is no non-blocking read of a socket at
// hand: an idle connection the backend closed is then found by the request
// that reuses it (and retried when that is safe).
type idleProbe struct{}

func (c *h1Conn) initProbe() {}

func (c *h1Conn) alive() bool { return true }
