package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// h1Transport is a lean HTTP/1.1 http.RoundTripper for the backends (the
// default, transport.client: lean). It does each round trip on the
// caller's goroutine over a pooled keep-alive connection: the request is
// written through a pooled bufio.Writer and flushed once, the answer read
// with the connection's bufio.Reader and http.ReadResponse (which frames
// Content-Length, chunked, HEAD, 1xx, 204 and 304 answers), and the
// connection goes back to the idle pool when the body has been read to its
// end, or is closed when the body is closed early, either side said
// Connection: close, or anything failed.
//
// http.Transport runs a read and a write goroutine per connection and hands
// every request and response over channels; on the proxy's one-thread budget
// those handoffs cost more than the proxy's own code (measured in paired
// rounds: 6-15 us less CPU per proxied request, of 58-81). What it keeps of
// http.Transport, as configured by newStdlibTransport: the dial timeout, the
// response header timeout (a net.Error whose Timeout is true, so statusFor
// answers 504), the idle timeout and the idle pool bound per host, prompt
// cancellation by the request's context while writing, waiting or reading
// the body (the context's error is returned, so statusFor answers 499), idle
// connections the backend closed kept off requests (a non-blocking read
// probes one idle for long before reuse: idleProbe, probeIdleAfter), the
// transparent retry on a fresh connection of a request whose reused
// connection the backend closed before answering (same rules as
// http.Transport), dial errors as *net.OpError with Op "dial"
// (retryTransport retries them), 1xx answers passed to
// httptrace.ClientTrace.Got1xxResponse (ReverseProxy forwards them), and
// protocol upgrades (a 101's body is the connection).
//
// What it does not do: HTTP/2, proxies from the environment, transparent
// compression (a proxy passes encodings through), a bound on the size of an
// answer's header (http.Transport's 10 MB: the backends are ours), and Expect:
// 100-continue, which it honours by sending the body at once (a server must
// accept that; the 100 answer is then skipped). A request body of unknown or
// large length is written by a goroutine of its own while the answer is
// read, as http.Transport does, so a backend that answers before reading
// the whole body (or streams while it reads) cannot deadlock the round trip.
//
// Create one with newH1Transport; it is safe for concurrent use and must
// not be copied.
type h1Transport struct {
	dialer                net.Dialer
	tlsConfig             *tls.Config // nil: crypto/tls defaults (system roots)
	maxIdlePerHost        int
	idleTimeout           time.Duration
	responseHeaderTimeout time.Duration
	writers               sync.Pool // *h1Writer

	mu        sync.Mutex
	idle      map[connKey][]*h1Conn // most recently used last
	closeIdle bool                  // set by CloseIdleConnections until the next request: connections that become idle close
}

var _ backendTransport = (*h1Transport)(nil)

// newH1Transport returns the lean transport of one backend, tuned by cfg.
func newH1Transport(cfg TransportConfig) *h1Transport {
	return &h1Transport{
		dialer:                net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		maxIdlePerHost:        cfg.MaxIdleConnsPerHost,
		idleTimeout:           cfg.IdleConnTimeout,
		responseHeaderTimeout: cfg.ResponseHeaderTimeout,
		idle:                  map[connKey][]*h1Conn{},
	}
}

// connKey names the backend a connection talks to.
type connKey struct {
	tls  bool
	addr string // host:port
}

// syncBodyMax is the largest request body of known length written on the
// caller's goroutine before the answer is read: it fits the write buffer,
// so the write cannot block on a backend that does not read.
const syncBodyMax = 4 << 10

// probeIdleAfter is how long a connection must have been idle before it is
// probed (idleProbe) on reuse. A backend closes idle connections after its
// own idle timeout, seconds at least, so one idle for less is open unless
// the backend died in between, which fails requests in flight anyway (and
// the retry rules cover the safe ones). Under load connections are idle for
// microseconds, so the probe's read is skipped where it would cost.
const probeIdleAfter = 100 * time.Millisecond

// max1xx bounds the informational answers skipped before the final one.
const max1xx = 5

// aLongTimeAgo is a deadline in the past: setting it unblocks any read or write.
var aLongTimeAgo = time.Unix(1, 0)

// errReadOnClosedBody is returned by a read of a closed response body.
var errReadOnClosedBody = errors.New("http: read on closed response body")

// headerTimeoutError is the response header timeout: a net.Error that
// times out, as http.Transport's own.
type headerTimeoutError struct{ d time.Duration }

var _ net.Error = (*headerTimeoutError)(nil)

func (e *headerTimeoutError) Error() string {
	return "timeout awaiting response headers (" + e.d.String() + ")"
}
func (e *headerTimeoutError) Timeout() bool   { return true }
func (e *headerTimeoutError) Temporary() bool { return true }

// staleKind says how far a failed attempt on a reused connection got.
type staleKind uint8

const (
	notStale       staleKind = iota
	nothingWritten           // not one byte of the request reached the connection
	nothingRead              // the request was written, the backend closed without a byte of answer
)

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, err := keyOf(req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	for fresh := false; ; fresh = true {
		c, err := t.conn(ctx, key, fresh)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, stale, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		// A kept-alive connection the backend had closed (or reset) while it
		// was idle: retry once on a new connection when that cannot act
		// twice, by http.Transport's rules.
		if fresh || stale == notStale || ctx.Err() != nil || !replayable(req, stale) {
			return nil, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req = req.WithContext(ctx) // a shallow copy: the caller's request stays untouched
			req.Body = body
		}
	}
}

// replayable says whether a request that failed at stage stale on a
// reused connection may be sent again: its body must be absent or
// replayable, and when the backend may have read it, the method must be
// idempotent or the request carry an idempotency key (http.Transport's
// Request.isReplayable).
func replayable(req *http.Request, stale staleKind) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	if stale == nothingWritten {
		return true
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func keyOf(u *url.URL) (connKey, error) {
	if u == nil {
		return connKey{}, errors.New("http: nil Request.URL")
	}
	var k connKey
	port := "80"
	switch u.Scheme {
	case "http":
	case "https":
		k.tls, port = true, "443"
	default:
		return connKey{}, fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return connKey{}, errors.New("http: no Host in request URL")
	}
	k.addr = u.Host
	if u.Port() == "" {
		k.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return k, nil
}

// conn returns an idle connection to key, or a new one when there is none
// or fresh is set.
func (t *h1Transport) conn(ctx context.Context, key connKey, fresh bool) (*h1Conn, error) {
	for !fresh {
		t.mu.Lock()
		t.closeIdle = false // a new request: connections may become idle again
		list := t.idle[key]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		c.idle = false
		idleFor := time.Since(c.idleSince)
		t.mu.Unlock()
		if c.idleTimer != nil {
			c.idleTimer.Stop()
		}
		if idleFor < probeIdleAfter || c.alive() {
			return c, nil
		}
		c.nc.Close() // the backend closed it while idle (its own idle timeout, a restart)
	}
	if fresh {
		t.mu.Lock()
		t.closeIdle = false
		t.mu.Unlock()
	}
	return t.dial(ctx, key)
}

func (t *h1Transport) dial(ctx context.Context, key connKey) (*h1Conn, error) {
	nc, err := t.dialer.DialContext(ctx, "tcp", key.addr)
	if err != nil {
		return nil, err // a *net.OpError with Op "dial"
	}
	if key.tls {
		cfg := &tls.Config{}
		if t.tlsConfig != nil {
			cfg = t.tlsConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(key.addr)
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", key.addr, err)
		}
		nc = tc
	}
	c := &h1Conn{t: t, key: key, nc: nc, br: bufio.NewReaderSize(nc, 4<<10)}
	c.initProbe()
	return c, nil
}

// put returns c to the idle pool, or closes it when the pool is full or
// CloseIdleConnections asked for it.
func (t *h1Transport) put(c *h1Conn) {
	t.mu.Lock()
	if t.closeIdle || len(t.idle[c.key]) >= t.maxIdlePerHost {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	c.reused, c.idle, c.idleSince = true, true, time.Now()
	t.idle[c.key] = append(t.idle[c.key], c)
	if t.idleTimeout > 0 {
		if c.idleTimer == nil {
			c.idleTimer = time.AfterFunc(t.idleTimeout, c.expire)
		} else {
			c.idleTimer.Reset(t.idleTimeout)
		}
	}
	t.mu.Unlock()
}

// CloseIdleConnections closes the idle connections; those in use close
// when their request ends, unless a new request comes first (as
// http.Transport does).
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	var all []*h1Conn
	for k, list := range t.idle {
		all = append(all, list...)
		delete(t.idle, k)
	}
	t.closeIdle = true
	for _, c := range all {
		c.idle = false
	}
	t.mu.Unlock()
	for _, c := range all {
		if c.idleTimer != nil {
			c.idleTimer.Stop()
		}
		c.nc.Close()
	}
}

// h1Writer is a pooled request writer: a bufio.Writer on the connection
// being written, and a scratch buffer for chunked bodies.
type h1Writer struct {
	bw      *bufio.Writer
	scratch []byte
}

func (t *h1Transport) writer(c *h1Conn) *h1Writer {
	w, _ := t.writers.Get().(*h1Writer)
	if w == nil {
		w = &h1Writer{bw: bufio.NewWriterSize(c, 4<<10)}
	} else {
		w.bw.Reset(c)
	}
	return w
}

func (t *h1Transport) putWriter(w *h1Writer) {
	w.bw.Reset(nil)
	t.writers.Put(w)
}

// h1Conn is one connection to a backend. It is used by one round trip at a
// time; never copy one.
type h1Conn struct {
	t       *h1Transport
	key     connKey
	nc      net.Conn
	br      *bufio.Reader
	written int64 // bytes written in the current round trip, by its writer
	reused  bool  // it has been in the idle pool
	probe   idleProbe

	// Guarded by t.mu.
	idle      bool
	idleSince time.Time
	idleTimer *time.Timer

	// mu orders the deadlines set by the round trip against the context's
	// cancel hook, so that a cancellation is never overwritten.
	mu         sync.Mutex
	canceled   error // the context's error once the cancel hook ran
	headerDone bool  // the answer's header has been read: no header deadline any more
}

// Write counts what reaches the connection (a failed reused connection
// may be retried only when nothing did).
func (c *h1Conn) Write(p []byte) (int, error) {
	n, err := c.nc.Write(p)
	c.written += int64(n)
	return n, err
}

// expire closes c when it has been idle for the idle timeout.
func (c *h1Conn) expire() {
	t := c.t
	t.mu.Lock()
	if !c.idle || time.Since(c.idleSince) < t.idleTimeout {
		t.mu.Unlock() // taken, or taken and put back since this timer fired
		return
	}
	list := t.idle[c.key]
	for i, ic := range list {
		if ic == c {
			list = append(list[:i], list[i+1:]...)
			list[len(list):cap(list)][0] = nil
			break
		}
	}
	t.idle[c.key] = list
	c.idle = false
	t.mu.Unlock()
	c.nc.Close()
}

// cancel is the hook run when the request's context ends: a deadline in
// the past unblocks the read or write in progress.
func (c *h1Conn) cancel(err error) {
	c.mu.Lock()
	c.canceled = err
	_ = c.nc.SetDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// startHeaderTimeout arms the response header timeout, unless the context
// has ended (its past deadline stays) or the header was already read.
func (c *h1Conn) startHeaderTimeout() {
	d := c.t.responseHeaderTimeout
	if d <= 0 {
		return
	}
	c.mu.Lock()
	if c.canceled == nil && !c.headerDone {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	c.mu.Unlock()
}

// endHeader disarms the header timeout and returns the context's error if
// it has ended.
func (c *h1Conn) endHeader() error {
	c.mu.Lock()
	c.headerDone = true
	if c.canceled == nil && c.t.responseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	err := c.canceled
	c.mu.Unlock()
	return err
}

func (c *h1Conn) canceledErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.canceled
}

// reqBody records the first error reading a request body, so a body that
// failed (over max_body_bytes, a client gone) is told apart from a failed
// connection.
type reqBody struct {
	rc  io.ReadCloser
	err error
}

func (b *reqBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *reqBody) Close() error { return b.rc.Close() }

// roundTrip sends req on c and reads the answer's header; the body, when
// there is one, releases c when it ends. On failure c is closed, and stale
// says whether c was a reused connection that failed before the backend
// can have acted on req.
func (c *h1Conn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, staleKind, error) {
	c.written, c.canceled, c.headerDone = 0, nil, false
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { c.cancel(ctx.Err()) })
	}
	fail := func(err error, stale staleKind) (*http.Response, staleKind, error) {
		if stop != nil {
			stop()
		}
		c.nc.Close()
		if cerr := c.canceledErr(); cerr != nil {
			return nil, notStale, cerr
		}
		if !c.reused {
			stale = notStale
		}
		return nil, stale, err
	}

	var body *reqBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &reqBody{rc: req.Body}
	}
	var writeDone chan error
	if body != nil && (req.ContentLength <= 0 || req.ContentLength > syncBodyMax) {
		// Stream the body from a goroutine of its own while the answer is
		// read: the backend may answer (or stream) before it has read it all.
		writeDone = make(chan error, 1)
		go func() {
			err := c.writeRequest(req, body, true)
			if err == nil {
				c.startHeaderTimeout()
			}
			writeDone <- err
			if err != nil && body.err != nil {
				c.nc.Close() // the backend waits for the rest: stop reading its silence
			}
		}()
	} else {
		if err := c.writeRequest(req, body, false); err != nil {
			if body != nil && body.err != nil {
				return fail(body.err, notStale)
			}
			stale := notStale
			if c.written == 0 {
				stale = nothingWritten
			}
			return fail(fmt.Errorf("writing request to %s: %w", c.key.addr, err), stale)
		}
		c.startHeaderTimeout()
	}

	resp, err := c.readHeader(req)
	if err != nil {
		stale := notStale
		if errors.Is(err, errNothingRead) {
			stale = nothingRead
		}
		if writeDone != nil {
			select {
			case werr := <-writeDone:
				if werr != nil {
					if body.err != nil {
						return fail(body.err, notStale)
					}
					if c.written == 0 {
						stale = nothingWritten
					}
				}
			default:
				stale = notStale // the writer is still at it: the backend may have read part of it
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &headerTimeoutError{d: c.t.responseHeaderTimeout}
		}
		return fail(fmt.Errorf("reading response from %s: %w", c.key.addr, err), stale)
	}
	if cerr := c.endHeader(); cerr != nil {
		return fail(cerr, notStale)
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		resp.TLS = &st
	}

	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection is the upgraded stream's now; ReverseProxy ends it
		// with the request's context.
		if stop != nil {
			stop()
		}
		resp.Body = &upgradeBody{br: c.br, nc: c.nc}
		return resp, notStale, nil
	}
	keep := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		c.release(stop, writeDone, keep)
		return resp, notStale, nil
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, stop: stop, writeDone: writeDone, keep: keep}
	return resp, notStale, nil
}

// errNothingRead marks a read that failed before the first byte of an answer.
var errNothingRead = errors.New("the backend closed the connection before answering")

// readHeader reads the final answer's header, passing 1xx answers to the
// request's httptrace.ClientTrace.
func (c *h1Conn) readHeader(req *http.Request) (*http.Response, error) {
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("%w: %w", errNothingRead, err)
		}
		return nil, err
	}
	for n := 0; ; n++ {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 || code >= 200 || code == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if n >= max1xx {
			return nil, errors.New("too many 1xx informational responses")
		}
		if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
}

// release ends a round trip whose answer was read: c goes back to the pool
// when keep holds, the cancel hook had not run (its deadline would be on
// c) and the request was written whole; else it is closed.
func (c *h1Conn) release(stop func() bool, writeDone chan error, keep bool) {
	if stop != nil && !stop() {
		keep = false
	}
	if writeDone != nil && keep {
		select {
		case err := <-writeDone:
			keep = err == nil
		default:
			// An answer before the whole request was written: as
			// http.Transport, wait a little for the writer, then give up on c.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case err := <-writeDone:
				keep = err == nil
			case <-t.C:
				keep = false
			}
			t.Stop()
		}
	}
	if keep {
		c.t.put(c)
		return
	}
	c.nc.Close()
}

// h1Body is an answer's body: it releases its connection at the end of the
// body (back to the pool) or when closed before it (closed).
type h1Body struct {
	rc        io.ReadCloser
	c         *h1Conn
	stop      func() bool
	writeDone chan error
	keep      bool

	mu   sync.Mutex
	done bool  // the connection was released
	err  error // returned by reads once done
}

func (b *h1Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.done {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done { // closed while reading
		return n, b.err
	}
	b.done = true
	if err == io.EOF {
		b.err = io.EOF
		b.c.release(b.stop, b.writeDone, b.keep)
		return n, io.EOF
	}
	if cerr := b.c.canceledErr(); cerr != nil {
		err = cerr
	} else {
		err = fmt.Errorf("reading response body from %s: %w", b.c.key.addr, err)
	}
	b.err = err
	b.c.release(b.stop, b.writeDone, false)
	return n, err
}

// Close releases the connection; before the end of the body it closes it
// (draining an unknown rest could take long).
func (b *h1Body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		b.c.release(b.stop, b.writeDone, false)
	}
	b.err = errReadOnClosedBody
	return nil
}

// upgradeBody is the body of a 101 answer: the upgraded connection, read
// through what the header's reader had buffered.
type upgradeBody struct {
	br *bufio.Reader
	nc net.Conn
}

func (u *upgradeBody) Read(p []byte) (int, error)  { return u.br.Read(p) }
func (u *upgradeBody) Write(p []byte) (int, error) { return u.nc.Write(p) }
func (u *upgradeBody) Close() error                { return u.nc.Close() }

// writeRequest writes req on c: request line, headers, body (its own
// Content-Length, or chunked when its length is unknown) and flushes.
// stream flushes the header before the body and after each chunk, so the
// backend sees a streamed body as it comes. It closes the request's body.
func (c *h1Conn) writeRequest(req *http.Request, body *reqBody, stream bool) (err error) {
	if body != nil {
		defer body.Close()
	}
	w := c.t.writer(c)
	defer c.t.putWriter(w)
	bw := w.bw

	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return fmt.Errorf("invalid method %q", method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHost(host) {
		return fmt.Errorf("invalid Host header %q", host)
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	writeRequestURI(bw, req.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")

	ua, has := "Go-http-client/1.1", false
	if vv, ok := req.Header["User-Agent"]; ok {
		ua, has = "", true
		if len(vv) > 0 {
			ua = vv[0]
		}
	}
	if ua != "" {
		if has {
			ua = cleanValue(ua)
		}
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua)
		bw.WriteString("\r\n")
	}

	chunked := false
	switch {
	case body == nil:
		if req.Body == nil && req.ContentLength != 0 {
			return fmt.Errorf("http: Request.ContentLength=%d with nil Body", req.ContentLength)
		}
		switch method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			bw.WriteString("Content-Length: 0\r\n")
		}
	case req.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), req.ContentLength, 10))
		bw.WriteString("\r\n")
	default: // unknown length
		if len(req.TransferEncoding) > 0 && req.TransferEncoding[0] != "chunked" {
			return fmt.Errorf("unsupported transfer encoding %q", req.TransferEncoding)
		}
		chunked = true
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			bw.WriteString("Trailer: ")
			first := true
			for k := range req.Trailer {
				if !first {
					bw.WriteByte(',')
				}
				first = false
				bw.WriteString(k)
			}
			bw.WriteString("\r\n")
		}
	}
	if req.Close && !hasToken(req.Header["Connection"], "close") {
		bw.WriteString("Connection: close\r\n")
	}
	if err := writeFields(bw, req.Header, "header", true); err != nil {
		return err
	}
	bw.WriteString("\r\n")
	if body == nil {
		return bw.Flush()
	}
	if stream {
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if chunked {
		if err := w.writeChunked(body, req.Trailer); err != nil {
			return err
		}
		return bw.Flush()
	}
	n, err := copyBody(bw, body, req.ContentLength)
	if err != nil {
		return err
	}
	if n != req.ContentLength {
		return fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n)
	}
	return bw.Flush()
}

// copyBody copies up to n bytes of body into bw, reading straight into its
// buffer.
func copyBody(bw *bufio.Writer, body io.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return done, err
			}
		}
		buf := bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), n-done)]
		m, err := body.Read(buf)
		if m > 0 {
			bw.Write(buf[:m]) // in place: AvailableBuffer's contract
			done += int64(m)
		}
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// writeChunked writes body as chunks, flushing each, then the last chunk
// and the trailer.
func (w *h1Writer) writeChunked(body io.Reader, trailer http.Header) error {
	if w.scratch == nil {
		w.scratch = make([]byte, 16<<10)
	}
	bw := w.bw
	for {
		n, err := body.Read(w.scratch)
		if n > 0 {
			bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(w.scratch[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	bw.WriteString("0\r\n")
	if err := writeFields(bw, trailer, "trailer", false); err != nil {
		return err
	}
	bw.WriteString("\r\n")
	return nil
}

// writeFields writes h's fields, "Name: value" lines, refusing a name that
// is not a token; with framing, it leaves out the fields the request line
// and the body's framing carry (Host, User-Agent, Content-Length,
// Transfer-Encoding, Trailer). kind names the fields in an error.
func writeFields(bw *bufio.Writer, h http.Header, kind string, framing bool) error {
	for k, vv := range h {
		if framing {
			switch k {
			case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
				continue
			}
		}
		if !validToken(k) {
			return fmt.Errorf("invalid %s field name %q", kind, k)
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(cleanValue(v))
			bw.WriteString("\r\n")
		}
	}
	return nil
}

// writeRequestURI writes u's path and query as url.URL.RequestURI does,
// without building the string.
func writeRequestURI(bw *bufio.Writer, u *url.URL) {
	if u.Opaque != "" {
		bw.WriteString(u.RequestURI())
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// cleanValue makes a header value safe to write as http.Header.Write does:
// line breaks become spaces, surrounding white space goes.
func cleanValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return textproto.TrimString(v)
}

// validToken reports whether s is an RFC 9110 token (a method or a field name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHost refuses a Host that would break the request (controls, spaces,
// non-ASCII).
func validHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), token) {
				return true
			}
		}
	}
	return false
}
