package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Exchange is a request legacy answered in shadow mode, with legacy's
// answer, handed to the route's mirror (proxy/shadow). The mirror owns the
// slices and the header once offered.
type Exchange struct {
	Route                  string
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	LegacyStatus           int
	LegacyBody             []byte
}

// Mirrors offers shadow copies: Offer never blocks and reports whether the
// exchange was queued; Writes reports whether route's mirror may receive
// writes (its new service honours a dry-run header).
type Mirrors interface {
	Offer(ex Exchange) bool
	Writes(route string) bool
}

// Availability answers whether the new backend may take a request now
// (healthy and its circuit lets it through) and hears how it went.
type Availability interface {
	Allow() bool
	Record(failed bool)
}

// Proxy is the strangler's request path: it matches the request to a route
// of the current Table, picks a backend (forced by a tester, owner of the
// id, pinned idempotency key, the route's mode and sticky bucket, the new
// backend's availability), forwards it through that backend's
// httputil.ReverseProxy, and records the outcome. Never copy one.
type Proxy struct {
	sw          *Switch
	ups         atomic.Pointer[upstreams] // swapped whole when backends or transport settings reload
	newAvail    Availability
	pins        *Pinner
	mirrors     Mirrors
	forceToken  []byte       // empty: HeaderBackend is never honoured
	maxBody     atomic.Int64 // max_body_bytes, live
	bodyTimeout atomic.Int64 // body_timeout, live
	now         func() time.Time
	log         *slog.Logger
	refused     *prometheus.CounterVec
	writers     sync.Pool
	// writes counts write group calls in flight per order and backend.
	writes inflight
	// sleep waits between the checks of a held write (clock.Sleep).
	sleep func(context.Context, time.Duration) error
}

// decision is where one request goes and why.
type decision struct {
	backend Backend
	reason  string // forced, owned, pinned, mode, bucket, circuit_open
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	maxBody := p.maxBody.Load()
	var ps params
	rt := p.sw.Table().match(r.Method, r.URL.Path, &ps)

	if r.ContentLength > maxBody {
		p.finish(w, r, rt, BackendProxy, start, http.StatusRequestEntityTooLarge, &http.MaxBytesError{Limit: maxBody})
		return
	}
	if len(r.Header.Get(HeaderIdempotencyKey)) > MaxIdempotencyKeyBytes {
		p.finish(w, r, rt, BackendProxy, start, http.StatusBadRequest, ErrIdempotencyKeyTooLong)
		return
	}
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if hasBody {
		r.Body = p.deadlineBody(w, http.MaxBytesReader(w, r.Body, maxBody))
	}
	shadowing := rt.state.Mode == ModeShadow && p.mirrors != nil &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead || p.mirrors.Writes(rt.Name()))
	var body []byte
	if hasBody && (rt.key.kind == keyBody || shadowing) {
		// Buffer (within the limit) to read the sticky key or copy it to the
		// shadow; the backend then gets a replayable copy.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			p.finish(w, r, rt, BackendProxy, start, 0, err)
			return
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	}

	forced := p.forced(r)
	stripControl(r.Header, p.sw.Table().dryRun)
	d, err := p.decide(r, rt, &ps, body, forced)
	if err != nil {
		p.finish(w, r, rt, d.backend, start, 0, err)
		return
	}
	if id := ps.get("id"); rt.group != nil && id != "" && (d.reason == "mode" || d.reason == "bucket") {
		// One writer per order: wait, if the last flip moved this order,
		// until its new owner has the old owner's last change.
		release, err := p.writeOwner(r, rt, id, d.backend)
		if err != nil {
			p.finish(w, r, rt, BackendProxy, start, 0, err)
			return
		}
		defer release()
	}
	if shadowing && d.reason == "mode" {
		hdr := r.Header.Clone()
		r = r.WithContext(context.WithValue(r.Context(), shadowKey{}, &shadowCapture{
			mirrors: p.mirrors, limit: maxBody,
			ex: Exchange{Route: rt.Name(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: hdr, Body: body},
		}))
	}

	ups := p.ups.Load()
	up := ups.legacy
	if d.backend == BackendNew {
		up = ups.new
	}
	sw := p.writer(w)
	sw.Header()[HeaderBackend] = backendHeader(d.backend)
	// Deferred: ReverseProxy aborts the handler with a panic
	// (http.ErrAbortHandler) when the client goes away mid-body, and that
	// request must still be counted.
	defer p.done(r, sw, rt, d.backend, start)
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetName("proxy " + rt.Name())
		span.SetAttributes(attribute.String("strangler.backend", string(d.backend)), attribute.String("strangler.reason", d.reason))
	}
	up.rp.ServeHTTP(sw, r)
}

// deadlineBody bounds the reading of body to body_timeout from now (the
// connection's read deadline), and lifts the bound once the body is read
// whole, so the server's wait for the next request is not cut short.
// Where the writer cannot set deadlines (HTTP/2 without support, a
// recorder) the body is unbounded.
func (p *Proxy) deadlineBody(w http.ResponseWriter, body io.ReadCloser) io.ReadCloser {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(time.Duration(p.bodyTimeout.Load()))) != nil {
		return body
	}
	return &deadlineBody{ReadCloser: body, rc: rc}
}

type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
}

func (b *deadlineBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if err == io.EOF {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// done records the outcome of a forwarded request and recycles its writer.
// A client that went away is a 499 whatever was already sent.
func (p *Proxy) done(r *http.Request, sw *statusWriter, rt *Route, b Backend, start time.Time) {
	status := sw.status
	switch {
	case r.Context().Err() != nil:
		status = StatusClientClosedRequest
	case status == 0:
		status = http.StatusOK
	}
	p.writers.Put(sw)
	if b == BackendNew && status != StatusClientClosedRequest {
		p.newAvail.Record(status >= 500)
	}
	now := p.now()
	rt.obs.backend(b).record(now, status, now.Sub(start))
}

// decide picks the backend of r. It fails with ErrOwnedUnavailable (and the
// new backend) when only new may serve r and new is unavailable.
// forced is the backend the request forces, or "".
func (p *Proxy) decide(r *http.Request, rt *Route, ps *params, body []byte, forced Backend) (decision, error) {
	if forced != "" {
		return p.available(decision{backend: forced, reason: "forced"})
	}
	if id := ps.get("id"); strings.HasPrefix(id, "ord_") {
		return p.available(decision{backend: BackendNew, reason: "owned"})
	}
	d := decision{backend: BackendLegacy, reason: "mode"}
	switch rt.state.Mode {
	case ModeNew:
		d.backend = BackendNew
	case ModeCanary:
		d.reason = "bucket"
		switch {
		case rt.threshold >= Buckets:
			d.backend = BackendNew
		case rt.threshold > 0 && rt.toNew(rt.key.extract(r, ps, body)):
			d.backend = BackendNew
		}
	}
	if d.backend == BackendNew && !p.newAvail.Allow() {
		if rt.group != nil && ps.get("id") != "" {
			// An existing order's writes never fall back to legacy: that
			// would make two writers of one order.
			return d, ErrOwnedUnavailable
		}
		d = decision{backend: BackendLegacy, reason: "circuit_open"}
	}
	// A write group's call on an existing order goes to the order's owner,
	// never to where its Idempotency-Key was first seen: a pin would make a
	// second writer after a flip.
	if r.Method == http.MethodPost && p.pins != nil && !(rt.group != nil && ps.get("id") != "") {
		if key := r.Header.Get(HeaderIdempotencyKey); key != "" {
			if !rt.state.SendsNew() && !p.pins.NewPinsPossible(rt.state.LastNew) {
				// No key of this route can be pinned to new: the pin is
				// written behind the request, off legacy's critical path.
				return p.available(decision{backend: p.pins.PinBehind(r.Context(), key, d.backend), reason: d.reason})
			}
			held, err := p.pins.Pin(r.Context(), key, d.backend)
			if err != nil { // the client left
				return decision{backend: BackendProxy}, err
			}
			if held != d.backend {
				// Not allowed through above: ask again for the pinned backend.
				return p.available(decision{backend: held, reason: "pinned"})
			}
		}
	}
	return d, nil
}

// available checks a decision that must not fall back to legacy (forced,
// owned id, pinned key) against the new backend's availability.
func (p *Proxy) available(d decision) (decision, error) {
	if d.backend == BackendNew && !p.newAvail.Allow() {
		return d, ErrOwnedUnavailable
	}
	return d, nil
}

// forced returns the backend r forces with HeaderBackend, honoured only
// with force.token in HeaderForceToken; otherwise "" (the header is
// ignored, not refused, so a client cannot probe for the token; the
// response's X-Strangler-Backend shows where it went).
func (p *Proxy) forced(r *http.Request) Backend {
	v := r.Header.Get(HeaderBackend)
	if v == "" || len(p.forceToken) == 0 {
		return ""
	}
	tok := r.Header.Get(HeaderForceToken)
	if b, ok := ParseBackend(v); ok && subtle.ConstantTimeCompare([]byte(tok), p.forceToken) == 1 {
		return b
	}
	return ""
}

// stripControl drops from a client's request the headers only the proxy may
// send a backend: every X-Strangler-* header (a client's own dry-run marker
// would make the new service skip a write; the forced backend and its token
// never leave the proxy) and extra, the routes' dry-run headers.
func stripControl(h http.Header, extra []string) {
	for k := range h {
		if len(k) >= len(controlPrefix) && strings.EqualFold(k[:len(controlPrefix)], controlPrefix) {
			delete(h, k)
		}
	}
	for _, k := range extra {
		delete(h, k)
	}
}

// finish answers a request that failed before or without a backend answer.
func (p *Proxy) finish(w http.ResponseWriter, r *http.Request, rt *Route, b Backend, start time.Time, status int, err error) {
	if status == 0 {
		status = statusFor(r.Context(), err)
		if errors.Is(err, ErrOwnedUnavailable) {
			b = BackendNew
		}
	}
	if status >= 500 {
		p.log.Warn("request failed in the proxy", "route", rt.Name(), "backend", b, "status", status, "err", err)
	}
	w.Header()[HeaderBackend] = backendHeader(b)
	writeError(w, status, b, err)
	if b == BackendProxy {
		p.refused.WithLabelValues(rt.Name(), strconv.Itoa(status)).Inc()
		return
	}
	rt.obs.backend(b).record(p.now(), status, p.now().Sub(start))
}

// The values of X-Strangler-Backend, shared by every response instead of a
// new []string each (Header().Set allocates one). Each has cap 1, so an
// append to a response's header copies it; nothing writes into them.
var (
	headerLegacy = []string{string(BackendLegacy)}[:1:1]
	headerNew    = []string{string(BackendNew)}[:1:1]
	headerProxy  = []string{string(BackendProxy)}[:1:1]
)

func backendHeader(b Backend) []string {
	switch b {
	case BackendLegacy:
		return headerLegacy
	case BackendNew:
		return headerNew
	case BackendProxy:
		return headerProxy
	}
	return []string{string(b)}
}

// errorHandler is the ReverseProxy's ErrorHandler of backend b.
func (p *Proxy) errorHandler(b Backend) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		status := statusFor(r.Context(), err)
		if status == StatusClientClosedRequest {
			p.log.Debug("client went away", "backend", b, "path", r.URL.Path)
		} else {
			p.log.Warn("backend call failed", "backend", b, "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
		writeError(w, status, b, err)
	}
}

// modifyResponse drops a backend's own X-Strangler-Backend (the proxy names
// the backend) and, in shadow mode, tees legacy's body for the mirror.
func modifyResponse(resp *http.Response) error {
	delete(resp.Header, HeaderBackend) // canonical name: a plain delete does
	if c, ok := resp.Request.Context().Value(shadowKey{}).(*shadowCapture); ok {
		c.ex.LegacyStatus = resp.StatusCode
		resp.Body = &teeBody{rc: resp.Body, c: c}
	}
	return nil
}

type shadowKey struct{}

// shadowCapture collects legacy's answer to a shadowed request.
type shadowCapture struct {
	mirrors Mirrors
	limit   int64
	ex      Exchange
	buf     bytes.Buffer
	over    bool
	done    bool
}

// teeBody copies what the client receives, and offers the exchange once the
// body has been read to its end (never when it was cut short or too long).
type teeBody struct {
	rc io.ReadCloser
	c  *shadowCapture
}

func (t *teeBody) Read(b []byte) (int, error) {
	n, err := t.rc.Read(b)
	c := t.c
	if n > 0 && !c.over {
		if int64(c.buf.Len()+n) > c.limit {
			c.over = true
		} else {
			c.buf.Write(b[:n])
		}
	}
	if err == io.EOF && !c.over && !c.done {
		c.done = true
		c.ex.LegacyBody = c.buf.Bytes()
		c.mirrors.Offer(c.ex)
	}
	return n, err
}

func (t *teeBody) Close() error { return t.rc.Close() }

// statusWriter remembers the status of the answer. It passes Flush and the
// rest through Unwrap (http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (p *Proxy) writer(w http.ResponseWriter) *statusWriter {
	sw, _ := p.writers.Get().(*statusWriter)
	if sw == nil {
		sw = &statusWriter{}
	}
	sw.ResponseWriter, sw.status = w, 0
	return sw
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
