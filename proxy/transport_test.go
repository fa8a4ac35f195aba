package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
)

// connCounter is an httptest server that counts the connections it
// accepted and saw closed.
type connCounter struct {
	*httptest.Server
	accepted, closed atomic.Int64
}

func newConnCounter(t *testing.T, h http.Handler) *connCounter {
	t.Helper()
	s := &connCounter{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// get sends a GET through tr and reads the answer whole.
func get(t *testing.T, tr http.RoundTripper, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("GET %s: reading body: %v", url, err)
	}
	return string(b)
}

// waitFor polls cond every 10 ms until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTransportPoolFromConfig: the backend's pool is sized by the
// transport keys: idle connections beyond max_idle_conns_per_host are
// closed, idle ones close after idle_conn_timeout, max_conns_per_host bounds
// the connections open at once (more requests wait for one), and dial
// errors stay *net.OpError "dial" (retryTransport retries those for any
// method).
func TestTransportPoolFromConfig(t *testing.T) {
	release, hold, end := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var inside atomic.Int64
	wait := func(c chan struct{}) {
		inside.Add(1)
		select {
		case <-c:
		case <-end: // the test failed before releasing it
		}
	}
	srv := newConnCounter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/wait":
			wait(release)
		case "/hold":
			wait(hold)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(func() { close(end) }) // before the server's Close, which waits for its handlers
	cfg := DefaultConfig().Transport
	cfg.MaxIdleConnsPerHost = 2
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { get(t, tr, srv.URL+"/wait") })
	}
	waitFor(t, "5 requests at the backend at once", func() bool { return inside.Load() == 5 })
	close(release)
	wg.Wait()
	if n := srv.accepted.Load(); n != 5 {
		t.Errorf("%d connections for 5 concurrent requests, want 5", n)
	}
	waitFor(t, "the 3 connections over max_idle_conns_per_host to close", func() bool { return srv.closed.Load() == 3 })
	for range 4 {
		get(t, tr, srv.URL)
	}
	if n := srv.accepted.Load(); n != 5 {
		t.Errorf("%d connections after 4 more requests, want 5 (the idle ones reused)", n)
	}

	cfg.IdleConnTimeout = 50 * time.Millisecond
	tr2 := newTransport(cfg)
	defer tr2.CloseIdleConnections()
	get(t, tr2, srv.URL)
	waitFor(t, "the idle connection to close after idle_conn_timeout", func() bool { return srv.closed.Load() == 4 })

	cfg.MaxConnsPerHost = 2
	tr3 := newTransport(cfg)
	defer tr3.CloseIdleConnections()
	before := srv.accepted.Load()
	var asked, got atomic.Int64
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GetConn: func(string) { asked.Add(1) },
		GotConn: func(httptrace.GotConnInfo) { got.Add(1) },
	})
	inside.Store(0)
	for range 5 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hold", nil)
			if resp, err := tr3.RoundTrip(req); err != nil {
				t.Error(err)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	waitFor(t, "5 requests asking for a connection, 2 at the backend", func() bool { return asked.Load() == 5 && inside.Load() == 2 })
	if n := got.Load(); n != 2 {
		t.Errorf("%d requests got a connection with max_conns_per_host 2 busy, want 2", n)
	}
	close(hold) // the 3 waiting requests then take the freed connections
	wg.Wait()
	if n := srv.accepted.Load() - before; n != 2 {
		t.Errorf("%d connections for 5 concurrent requests with max_conns_per_host 2, want 2", n)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr, strings.NewReader("{}"))
	_, err := tr.RoundTrip(req)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !retryable(req, err) {
		t.Errorf("err %v, want a *net.OpError dial that retryTransport retries", err)
	}
}

// TestTransportHeaderTimeout: no answer within response_header_timeout is a
// net.Error timeout (statusFor: 504); a slow body after a prompt header is not.
func TestTransportHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newConnCounter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slowbody" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "late")
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	cfg := DefaultConfig().Transport
	cfg.ResponseHeaderTimeout = 100 * time.Millisecond
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hang", nil)
	_, err := tr.RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a net.Error timeout", err)
	}
	if st := statusFor(context.Background(), err); st != http.StatusGatewayTimeout {
		t.Errorf("statusFor: %d, want 504", st)
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/slowbody", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.AfterFunc(2*cfg.ResponseHeaderTimeout, func() { close(release) }) // the body comes after the header timeout
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "late" {
		t.Errorf("slow body: %q %v, want late (the header timeout must not cover the body)", b, err)
	}
}

// TestTransportBodyErrorKept: a request body that fails (over
// max_body_bytes) ends the round trip with that error, so statusFor
// answers 413, not 502.
func TestTransportBodyErrorKept(t *testing.T) {
	srv := newConnCounter(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	tr := newTransport(DefaultConfig().Transport)
	defer tr.CloseIdleConnections()
	for _, length := range []int64{-1, 100} {
		body := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat("z", 5000))), 50)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
		req.ContentLength = length
		_, err := tr.RoundTrip(req)
		if st := statusFor(context.Background(), err); st != http.StatusRequestEntityTooLarge {
			t.Errorf("content length %d: err %v, status %d, want 413", length, err, st)
		}
	}
}

// TestTransportKeysValidated: max_conns_per_host is 0 or at least
// max_idle_conns_per_host; the removed transport.client is refused wherever
// it is set, naming the key and what to do.
func TestTransportKeysValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Admin.Token = "0123456789abcdef"
	cfg.Transport.MaxConnsPerHost = cfg.Transport.MaxIdleConnsPerHost - 1
	var ce *config.Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "transport.max_conns_per_host" {
		t.Errorf("max_conns_per_host below the idle pool: %v, want an error naming the key", err)
	}
	cfg.Transport.MaxConnsPerHost = cfg.Transport.MaxIdleConnsPerHost
	if err := cfg.Validate(); err != nil {
		t.Errorf("max_conns_per_host = max_idle_conns_per_host: %v", err)
	}

	file := filepath.Join(t.TempDir(), "proxy.yaml")
	load := func(yaml string) error {
		if err := os.WriteFile(file, []byte("admin: {token: 0123456789abcdef}\n"+yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c := DefaultConfig()
		return config.Load(config.Source{Part: part, File: file}, &c)
	}
	if err := load("transport: {max_conns_per_host: 512}\n"); err != nil {
		t.Fatalf("a file without transport.client: %v", err)
	}
	for _, tc := range []struct{ name, yaml, env string }{
		{name: "file", yaml: "transport: {client: lean}\n"},
		{name: "env", env: "stdlib"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("STRANGLER_PROXY_TRANSPORT_CLIENT", tc.env)
			}
			err := load(tc.yaml)
			if !errors.As(err, &ce) || ce.Key != "transport.client" {
				t.Fatalf("err %v, want a *config.Error naming transport.client", err)
			}
			for _, want := range []string{"removed", "delete it", "http.Transport"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		})
	}
}
