package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
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
