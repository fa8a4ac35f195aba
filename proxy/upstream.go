package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/tracing"
)

// Headers the proxy reads or writes.
const (
	// HeaderBackend names the backend that answered, on every response; on a
	// request it forces a backend, honoured only with HeaderForceToken.
	HeaderBackend = "X-Strangler-Backend"
	// HeaderForceToken carries force.token, which makes HeaderBackend honoured.
	HeaderForceToken = "X-Strangler-Force-Token"
	// controlPrefix starts the headers only the proxy may send a backend
	// (the forced backend, its token, the dry-run marker of shadow copies):
	// a client's own are dropped.
	controlPrefix = "X-Strangler-"
	// HeaderIdempotencyKey is the client's idempotency key of a POST.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// bufferPool lends the 32 KiB copy buffers of httputil.ReverseProxy, which
// otherwise allocates one per response (thousands of GC cycles under load).
// It pools array pointers, so that Put of a slice allocates nothing (a
// *[]byte would cost an allocation per response). The zero value is ready;
// never copy one.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

var _ httputil.BufferPool = (*bufferPool)(nil)

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
}

// newTransport returns the http.Transport of one backend, its pool sized by
// cfg: keep-alive connections up to max_idle_conns_per_host kept idle for
// idle_conn_timeout, at most max_conns_per_host in all (0: no bound), no
// transparent compression (a proxy passes encodings through), HTTP/1.1
// (backends on loopback gain nothing from h2), no proxy from the
// environment. Each backend has its own transport, so its per-host bounds
// are the backend's.
func newTransport(cfg TransportConfig) *http.Transport {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          cfg.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// retryTransport retries a failed attempt when sending it again cannot
// act twice: after a dial error (nothing reached the backend, so any method
// is safe), or for a method that is idempotent by definition (RFC 9110
// 9.2.2) or a request carrying an Idempotency-Key the backend deduplicates.
// Either way the body must be replayable (GetBody, set when the proxy
// buffered it) or absent; a streamed body was consumed by the failed
// attempt. Responses are never retried: a 5xx answer is the backend's word.
type retryTransport struct {
	next    http.RoundTripper
	retries int
	onRetry func()
}

var _ http.RoundTripper = (*retryTransport)(nil)

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err == nil || attempt >= t.retries || req.Context().Err() != nil || !retryable(req, err) {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return resp, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			req = req.WithContext(req.Context()) // a shallow copy: the caller's request stays untouched
			req.Body = body
		}
		if t.onRetry != nil {
			t.onRetry()
		}
	}
}

func retryable(req *http.Request, err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get(HeaderIdempotencyKey) != ""
}

// upstreams are the two backends in force; a reload that changes backends,
// transport or retries builds a new pair and swaps it in, so a request uses
// one pair from start to end.
type upstreams struct {
	legacy, new *Upstream
}

// Upstream is one backend: its base URL, transport and reverse proxy. Never copy one.
type Upstream struct {
	name      Backend
	url       *url.URL
	transport *http.Transport
	rp        *httputil.ReverseProxy
}

// newUpstream builds the reverse proxy of backend at base. errorHandler and
// modifyResponse are installed on it.
func newUpstream(name Backend, base *url.URL, cfg Config, pool httputil.BufferPool, onRetry func(),
	errorHandler func(http.ResponseWriter, *http.Request, error), modifyResponse func(*http.Response) error) *Upstream {
	tr := newTransport(cfg.Transport)
	u := &Upstream{name: name, url: base, transport: tr}
	u.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Keep the chain of proxies before this one (Rewrite drops it).
			if xff := pr.In.Header["X-Forwarded-For"]; xff != nil {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetURL(base)
			setXForwarded(pr)
			// The proxy's span (Deps.Tracer) is the backend's parent.
			tracing.Inject(pr.Out.Context(), pr.Out.Header)
		},
		Transport:      &retryTransport{next: tr, retries: cfg.Retries, onRetry: onRetry},
		BufferPool:     pool,
		ErrorHandler:   errorHandler,
		ModifyResponse: modifyResponse,
		// Stream: flush as the backend writes (-1 would flush every write;
		// 0 lets the server buffer, and ReverseProxy flushes at once for
		// streaming content types and unknown lengths).
		FlushInterval: 0,
	}
	return u
}

// setXForwarded does what httputil.ProxyRequest.SetXForwarded does
// (X-Forwarded-For: the prior chain plus the client's IP, or removed when
// RemoteAddr has no IP; X-Forwarded-Host: the inbound Host;
// X-Forwarded-Proto: http or https) with one allocation instead of four:
// the three values share one backing array, each slice capped at its own
// element so an append elsewhere copies instead of overwriting a neighbour.
func setXForwarded(pr *httputil.ProxyRequest) {
	vals := make([]string, 3)
	h := pr.Out.Header
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		vals[0] = ip
		h["X-Forwarded-For"] = vals[0:1:1]
	} else {
		delete(h, "X-Forwarded-For")
	}
	vals[1] = pr.In.Host
	h["X-Forwarded-Host"] = vals[1:2:2]
	vals[2] = "http"
	if pr.In.TLS != nil {
		vals[2] = "https"
	}
	h["X-Forwarded-Proto"] = vals[2:3:3]
}
