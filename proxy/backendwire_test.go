package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/proxy"
)

// injected is a whole HTTP answer that a faulty backend sends where no
// answer is due: whoever reads it as theirs is served the wrong response.
const injected = "HTTP/1.1 200 OK\r\nX-Injected: yes\r\nContent-Length: 8\r\n\r\ninjected"

// rawBackend is a TCP server that speaks HTTP/1.1 by hand, so it can break
// the protocol: GET /inject answers "ok" and then sends injected past its
// Content-Length, HEAD /inject announces a body and sends injected after the
// header (a HEAD answer has no body); every other request gets its own path
// as the body. It reports each connection that sent bytes past an answer
// once the peer has closed it.
type rawBackend struct {
	ln     net.Listener
	ready  chan struct{} // closed at the first /readyz
	closed chan string   // the path that injected, when its connection ends
	once   sync.Once
}

func startRawBackend(t *testing.T) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, ready: make(chan struct{}), closed: make(chan string, 16)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { b.serve(c) })
		}
	})
	return b
}

func (b *rawBackend) url() string { return "http://" + b.ln.Addr().String() }

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	injectedBy := ""
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if injectedBy != "" {
				b.closed <- injectedBy
			}
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		var answer string
		switch {
		case req.URL.Path == "/readyz":
			b.once.Do(func() { close(b.ready) })
			answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
		case req.URL.Path == "/inject" && req.Method == http.MethodHead:
			answer = "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(injected)) + "\r\n\r\n" + injected
			injectedBy = "HEAD /inject"
		case req.URL.Path == "/inject":
			answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + injected
			injectedBy = "GET /inject"
		default:
			answer = "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(req.URL.Path)) + "\r\n\r\n" + req.URL.Path
		}
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
	}
}

// TestUnsolicitedBytesNeverAnswerAnotherRequest: bytes a backend sends past
// an answer's Content-Length, or as a body after a HEAD answer, are never
// read as the answer of a later request on the pooled connection: the
// connection is dropped, and the next requests get their own answers. (The
// hand-written transport this proxy had put such a connection back in its
// pool and served the injected answer to the next request.)
func TestUnsolicitedBytesNeverAnswerAnotherRequest(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			be := startRawBackend(t)
			cfg := proxy.DefaultConfig()
			cfg.Admin.Token = adminToken
			cfg.Backends.Legacy, cfg.Backends.New = be.url(), be.url()
			cfg.Control.Table = ""
			cfg.Health.Interval = time.Hour // one check at start, then none to share the pool
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			h := startProxy(t, cfg, proxy.Deps{})
			select {
			case <-be.ready: // the start's health check is done with its connection
			case <-time.After(5 * time.Second):
				t.Fatal("no health check reached the backend")
			}

			a := call(t, method, h.url+"/inject", "")
			if a.status != http.StatusOK || a.header.Get("X-Injected") != "" {
				t.Fatalf("%s /inject: %d %v, want 200 without X-Injected", method, a.status, a.header)
			}
			if want := map[string]string{"GET": "ok", "HEAD": ""}[method]; string(a.body) != want {
				t.Errorf("%s /inject: body %q, want %q", method, a.body, want)
			}
			select {
			case by := <-be.closed:
				t.Logf("the proxy dropped the connection that injected after %s", by)
			case <-time.After(5 * time.Second):
				t.Error("the proxy kept the connection that sent bytes nobody asked for")
			}
			for i := range 3 {
				path := "/v1/orders/" + strconv.Itoa(i)
				a := call(t, "GET", h.url+path, "")
				if a.status != http.StatusOK || string(a.body) != path || a.header.Get("X-Injected") != "" {
					t.Errorf("GET %s after %s /inject: %d %q X-Injected=%q, want 200 %q (its own answer)",
						path, method, a.status, a.body, a.header.Get("X-Injected"), path)
				}
			}
		})
	}
}

// TestPassThrough: every way an answer is framed reaches the client whole
// through the proxy (trailers, 1xx, 204, 304, HEAD with a length, large
// bodies both ways, streamed request bodies), and backend connections are
// kept alive across them all: at most the first request dials (the start's
// health checks may still hold theirs).
func TestPassThrough(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	var (
		mu    sync.Mutex
		seen  = map[string]bool{} // the backend connections by client address
		dials int                 // connections a proxied request was the first on
	)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if !seen[r.RemoteAddr] && r.URL.Path != "/readyz" {
			dials++
		}
		seen[r.RemoteAddr] = true
		mu.Unlock()
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "3")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/head":
			w.Header().Set("Content-Length", "1000")
		case "/early":
			w.Header().Add("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "final")
		case "/big":
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
			w.Write(big)
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %d %q %q", r.Method, r.URL.RequestURI(), r.ContentLength, r.TransferEncoding, b)
		}
	}))
	t.Cleanup(be.Close)
	cfg := proxy.DefaultConfig()
	cfg.Admin.Token = adminToken
	cfg.Backends.Legacy, cfg.Backends.New = be.URL, be.URL
	cfg.Control.Table = ""
	cfg.Health.Interval = time.Hour
	cfg.MaxBodyBytes = 16 << 20
	h := startProxy(t, cfg, proxy.Deps{})

	var got1xx []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
		got1xx = append(got1xx, code)
		return nil
	}}
	bigSum := sha256.Sum256(big)
	cases := []struct {
		method, path string
		body         io.Reader
		status       int
		want         string
	}{
		{"GET", "/length", nil, 200, "hello"},
		{"GET", "/chunked", nil, 200, "part0;part1;part2;"},
		{"GET", "/empty", nil, 204, ""},
		{"GET", "/notmodified", nil, 304, ""},
		{"HEAD", "/head", nil, 200, ""},
		{"GET", "/early", nil, 200, "final"},
		{"POST", "/echo?q=1&r=%2F", strings.NewReader("small"), 200, `POST /echo?q=1&r=%2F 5 [] "small"`},
		{"POST", "/echo", nil, 200, `POST /echo 0 [] ""`},
		{"PUT", "/echo", io.NopCloser(strings.NewReader("streamed")), 200, `PUT /echo -1 ["chunked"] "streamed"`},
		{"GET", "/a%20b/c", nil, 200, `GET /a%20b/c 0 [] ""`},
		{"POST", "/big", bytes.NewReader(big), 200, fmt.Sprintf("%d %x\n%s", len(big), bigSum, big)},
		{"POST", "/big", io.NopCloser(bytes.NewReader(big)), 200, fmt.Sprintf("%d %x\n%s", len(big), bigSum, big)},
	}
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), c.method, h.url+c.path, c.body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != c.status || string(b) != c.want {
			t.Errorf("%s %s: %d %.80q (%v), want %d %.80q", c.method, c.path, resp.StatusCode, b, err, c.status, c.want)
		}
		switch c.path {
		case "/chunked":
			if resp.Trailer.Get("X-Sum") != "3" {
				t.Errorf("chunked: trailer %v, want X-Sum: 3", resp.Trailer)
			}
		case "/head":
			if resp.ContentLength != 1000 {
				t.Errorf("HEAD: Content-Length %d, want 1000", resp.ContentLength)
			}
		case "/notmodified":
			if resp.Header.Get("ETag") != `"v1"` {
				t.Errorf("304: ETag %q, want \"v1\"", resp.Header.Get("ETag"))
			}
		}
	}
	if diff := cmp.Diff([]int{103}, got1xx); diff != "" {
		t.Errorf("1xx answers the client saw (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if dials > 1 {
		t.Errorf("%d proxied requests opened a backend connection, want at most the first (kept alive for the others)", dials)
	}
}
