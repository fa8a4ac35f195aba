package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// flaky fails the first attempt with err and answers the next with 200,
// recording the bodies it saw.
type flaky struct {
	err    error
	calls  int
	bodies []string
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls++
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		f.bodies = append(f.bodies, string(b))
	}
	if f.calls == 1 {
		return nil, f.err
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

func TestRetryOnlyWhenSafe(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	replayable := func(method string, hdr ...string) *http.Request {
		body := []byte(`{"customer_id":"c1"}`)
		r, _ := http.NewRequest(method, "http://backend/v1/orders", bytes.NewReader(body)) // sets GetBody
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	streamed := func(method string) *http.Request {
		r, _ := http.NewRequest(method, "http://backend/v1/orders", io.NopCloser(strings.NewReader("x")))
		return r
	}
	cases := []struct {
		name  string
		req   *http.Request
		err   error
		calls int
	}{
		{"dial error, POST, replayable body", replayable("POST"), dial, 2},
		{"dial error, POST, streamed body", streamed("POST"), dial, 1},
		{"reset, GET", replayable("GET"), reset, 2},
		{"reset, PUT", replayable("PUT"), reset, 2},
		{"reset, POST: may have created the order", replayable("POST"), reset, 1},
		{"reset, PATCH", replayable("PATCH"), reset, 1},
		{"reset, POST with Idempotency-Key", replayable("POST", "Idempotency-Key", "k1"), reset, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{err: tc.err}
			rt := &retryTransport{next: f, retries: 1}
			resp, err := rt.RoundTrip(tc.req)
			if f.calls != tc.calls {
				t.Fatalf("%d attempts, want %d", f.calls, tc.calls)
			}
			if tc.calls == 2 {
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("retry did not succeed: %v", err)
				}
				if len(f.bodies) == 2 && f.bodies[0] != f.bodies[1] {
					t.Fatalf("the retry sent body %q, the first attempt %q", f.bodies[1], f.bodies[0])
				}
			} else if err == nil {
				t.Fatal("the error was swallowed")
			}
		})
	}
}

// TestSetXForwarded: the one-allocation setXForwarded sets exactly what
// httputil.ProxyRequest.SetXForwarded sets, for every case it handles.
func TestSetXForwarded(t *testing.T) {
	cases := []struct {
		name, remote, host string
		prior              []string
		tls                bool
	}{
		{name: "plain", remote: "192.0.2.1:1234", host: "shop.example"},
		{name: "prior chain", remote: "192.0.2.1:1234", host: "shop.example", prior: []string{"10.0.0.1", "10.0.0.2, 10.0.0.3"}},
		{name: "tls ipv6", remote: "[2001:db8::1]:443", host: "shop.example:8443", tls: true},
		{name: "no ip", remote: "pipe", host: "h", prior: []string{"10.0.0.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mk := func() *httputil.ProxyRequest {
				in := httptest.NewRequest(http.MethodGet, "http://"+c.host+"/v1/orders/1", nil)
				in.RemoteAddr, in.Host = c.remote, c.host
				if !c.tls {
					in.TLS = nil
				} else {
					in.TLS = &tls.ConnectionState{}
				}
				out := in.Clone(in.Context())
				if c.prior != nil {
					out.Header["X-Forwarded-For"] = append([]string(nil), c.prior...)
				}
				return &httputil.ProxyRequest{In: in, Out: out}
			}
			want, got := mk(), mk()
			want.SetXForwarded()
			setXForwarded(got)
			if diff := cmp.Diff(want.Out.Header, got.Out.Header); diff != "" {
				t.Errorf("headers (-SetXForwarded +setXForwarded):\n%s", diff)
			}
		})
	}
}

// TestBufferPoolRecycles: buffers are copyBufferSize long, a shorter view
// of one is taken back whole, and a foreign slice is ignored.
func TestBufferPoolRecycles(t *testing.T) {
	var p bufferPool
	b := p.Get()
	if len(b) != copyBufferSize {
		t.Fatalf("len %d, want %d", len(b), copyBufferSize)
	}
	p.Put(make([]byte, 10))
	p.Put(b[:100]) // ReverseProxy hands back what it got; a shorter view of it still recycles
	for range 3 {
		if b := p.Get(); len(b) != copyBufferSize {
			t.Fatalf("len %d after a Put, want %d", len(b), copyBufferSize)
		}
	}
}
