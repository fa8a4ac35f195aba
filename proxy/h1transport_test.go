package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/config"
)

// countingServer is an httptest server that counts the TCP connections it accepted.
type countingServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	t.Helper()
	s := &countingServer{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func testH1(t *testing.T) *h1Transport {
	t.Helper()
	cfg := DefaultConfig().Transport
	tr := newH1Transport(cfg)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// do sends a request through tr and returns the answer with its body read.
func do(t *testing.T, tr http.RoundTripper, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

// TestH1Framing: every way an answer is framed is read whole, and the
// connection is reused after each (one accepted connection for all).
func TestH1Framing(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %d %q %q", r.Method, r.URL.RequestURI(), r.ContentLength, r.TransferEncoding, b)
		}
	}))
	tr := testH1(t)
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
		{"GET", "/a%20b/c", nil, 200, ""},
	}
	for _, c := range cases {
		resp, got := do(t, tr, c.method, srv.URL+c.path, c.body)
		if resp.StatusCode != c.status || got != c.want {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, resp.StatusCode, got, c.status, c.want)
		}
		if c.path == "/chunked" && resp.Trailer.Get("X-Sum") != "3" {
			t.Errorf("chunked: trailer %v, want X-Sum: 3", resp.Trailer)
		}
		if c.path == "/head" && resp.ContentLength != 1000 {
			t.Errorf("HEAD: Content-Length %d, want 1000", resp.ContentLength)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections accepted, want 1 (reused for every request)", n)
	}
}

// TestH1Got1xx: informational answers reach the request's ClientTrace
// (ReverseProxy forwards them to its client) before the final one.
func TestH1Got1xx(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "ok")
	}))
	var got []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, code)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", srv.URL, nil)
	resp, err := testH1(t).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff([]int{103}, got); diff != "" || resp.StatusCode != 200 {
		t.Errorf("status %d; 1xx seen (-want +got):\n%s", resp.StatusCode, diff)
	}
}

// TestH1ConnectionClose: a Connection: close from either side closes the
// connection after the answer; the next request dials again.
func TestH1ConnectionClose(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "x")
	}))
	tr := testH1(t)
	do(t, tr, "GET", srv.URL+"/close", nil)
	do(t, tr, "GET", srv.URL+"/", nil) // new connection: the server closed the first
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Close = true
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	do(t, tr, "GET", srv.URL+"/", nil)
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (one closed by the server, one by the client's Connection: close)", n)
	}
	if n := len(tr.idle[connKey{addr: srv.Listener.Addr().String()}]); n != 1 {
		t.Errorf("%d idle connections, want 1", n)
	}
}

// TestH1EarlyBodyClose: a body closed before its end closes the connection
// (no draining), and the transport goes on with a new one.
func TestH1EarlyBodyClose(t *testing.T) {
	big := strings.Repeat("y", 1<<20)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, big)
	}))
	tr := testH1(t)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("a read after Close succeeded")
	}
	if _, got := do(t, tr, "GET", srv.URL, nil); got != big {
		t.Errorf("second answer: %d bytes, want %d", len(got), len(big))
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// rawServer accepts TCP connections and runs serve on each, counting them.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
}

func newRawServer(t *testing.T, serve func(n int64, c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := s.conns.Add(1)
			wg.Go(func() { defer c.Close(); serve(n, c) })
		}
	})
	return s
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestH1IdleCloseProbed: a kept-alive connection the backend closed while
// it was idle (cleanly or with a reset, e.g. its own idle timeout) is found
// before reuse (it was idle for longer than probeIdleAfter), so even a POST
// that could not be retried goes out on a new connection.
func TestH1IdleCloseProbed(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			// Each connection answers one request, then closes (without saying so).
			srv := newRawServer(t, func(_ int64, c net.Conn) {
				if _, err := readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, okAnswer)
				if reset {
					c.(*net.TCPConn).SetLinger(0)
				}
			})
			tr := testH1(t)
			for i := range 3 {
				do(t, tr, "GET", srv.url(), nil)
				time.Sleep(probeIdleAfter + 20*time.Millisecond) // the close arrives; the connection is probed
				if _, got := do(t, tr, "POST", srv.url(), strings.NewReader("{}")); got != "ok" {
					t.Fatalf("POST after an idle close: %q", got)
				}
				if n, want := srv.conns.Load(), int64(2*(i+1)); n != want {
					t.Fatalf("%d connections, want %d", n, want)
				}
			}
		})
	}
}

// TestH1StaleConnRetry: a reused connection the backend closes after
// reading the request, without a byte of answer (the close raced the
// request), is retried once on a new connection when that cannot act
// twice, by http.Transport's rules: a GET, an OPTIONS with a replayable
// body, a POST with an Idempotency-Key (retryTransport covers PUT and
// DELETE); a POST without one is not retried (the backend may have acted).
func TestH1StaleConnRetry(t *testing.T) {
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset=%v", reset), func(t *testing.T) {
			// Each connection answers its first request and drops the second.
			srv := newRawServer(t, func(_ int64, c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, okAnswer)
				if _, err := readRequest(br); err != nil {
					return
				}
				if reset {
					c.(*net.TCPConn).SetLinger(0)
				}
			})
			tr := testH1(t)
			cases := []struct {
				method, key string
				body        io.Reader
				retried     bool
			}{
				{"GET", "", nil, true},
				{"OPTIONS", "", bytes.NewReader([]byte("replayable")), true},
				{"POST", "k1", bytes.NewReader([]byte("{}")), true},
				{"POST", "", bytes.NewReader([]byte("{}")), false},
			}
			for _, c := range cases {
				do(t, tr, "GET", srv.url(), nil) // a new connection, now idle and alive
				before := srv.conns.Load()
				req, _ := http.NewRequest(c.method, srv.url(), c.body)
				if c.key != "" {
					req.Header.Set("Idempotency-Key", c.key)
				}
				resp, err := tr.RoundTrip(req)
				if c.retried {
					if err != nil {
						t.Fatalf("%s (key %q): %v, want a transparent retry", c.method, c.key, err)
					}
					resp.Body.Close()
					if n := srv.conns.Load(); n != before+1 {
						t.Errorf("%s: %d new connections, want 1", c.method, n-before)
					}
					continue
				}
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s without an idempotency key was sent again", c.method)
				}
				if n := srv.conns.Load(); n != before {
					t.Errorf("%s: %d new connections, want none", c.method, n-before)
				}
			}
		})
	}
}

// TestH1HeaderTimeout: no answer within response_header_timeout is a
// net.Error timeout (statusFor: 504); a slow body after a prompt header is not.
func TestH1HeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slowbody" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
			io.WriteString(w, "late")
			return
		}
		<-release
	}))
	defer close(release)
	cfg := DefaultConfig().Transport
	cfg.ResponseHeaderTimeout = 100 * time.Millisecond
	tr := newH1Transport(cfg)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", srv.URL+"/hang", nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a net.Error timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timed out after %v", d)
	}
	if st := statusFor(context.Background(), err); st != http.StatusGatewayTimeout {
		t.Errorf("statusFor: %d, want 504", st)
	}
	if _, got := do(t, tr, "GET", srv.URL+"/slowbody", nil); got != "late" {
		t.Errorf("slow body: %q, want late (the header timeout must not cover the body)", got)
	}
}

// TestH1Cancel: the request's context ending while the backend thinks or
// while the body streams unblocks the round trip or the read at once, with
// the context's error (statusFor: 499).
func TestH1Cancel(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			return
		case "/midbody":
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	tr := testH1(t)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/wait", nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting for the answer: err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}
	if st := statusFor(ctx, err); st != StatusClientClosedRequest {
		t.Errorf("statusFor: %d, want 499", st)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/midbody", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("mid-body: err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel mid-body took %v", d)
	}
	resp.Body.Close()
	if _, got := do(t, tr, "GET", srv.URL+"/", nil); got != "" {
		t.Errorf("after the cancels: %q", got)
	}
}

// TestH1CancelWhileWriting: a context that ends while a streamed request
// body is being written (the backend does not read it) ends the round trip.
func TestH1CancelWhileWriting(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn) {
		time.Sleep(2 * time.Second) // reads nothing
	})
	tr := testH1(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	defer pw.Close()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.url(), pr)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// TestH1BodyErrorKept: a request body that fails (over max_body_bytes) ends
// the round trip with that error, so statusFor answers 413, not 502.
func TestH1BodyErrorKept(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	tr := testH1(t)
	for _, length := range []int64{-1, 100} {
		body := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat("z", 5000))), 50)
		req, _ := http.NewRequest("POST", srv.URL, body)
		req.ContentLength = length
		_, err := tr.RoundTrip(req)
		if st := statusFor(context.Background(), err); st != http.StatusRequestEntityTooLarge {
			t.Errorf("content length %d: err %v, status %d, want 413", length, err, st)
		}
	}
}

// TestH1LargeBodies: large bodies stream both ways, request bodies of known
// and unknown length, and the backend may stream its answer while it reads.
func TestH1LargeBodies(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for range 128 { // 8 MiB
			w.Write(chunk)
		}
	}))
	tr := testH1(t)
	payload := bytes.Repeat([]byte("payload-"), 1<<20) // 8 MiB
	sum := sha256.Sum256(payload)
	want := fmt.Sprintf("%d %x\n", len(payload), sum)
	for _, stream := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(payload)
		if stream {
			body = io.NopCloser(body) // unknown length: chunked
		}
		_, got := do(t, tr, "POST", srv.URL, body)
		head, rest, _ := strings.Cut(got, "\n")
		if head+"\n" != want || len(rest) != 8<<20 {
			t.Errorf("stream=%v: %q and %d bytes, want %q and %d", stream, head, len(rest), want, 8<<20)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestH1EarlyAnswer: a backend that answers before reading the request
// body (and closes) gets its answer through, not a write error.
func TestH1EarlyAnswer(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
		time.Sleep(100 * time.Millisecond)
	})
	tr := testH1(t)
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 1024))
		time.Sleep(300 * time.Millisecond)
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", srv.url(), pr)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(b) != "big" {
		t.Errorf("%d %q, want 413 big", resp.StatusCode, b)
	}
}

// TestH1IdlePool: idle connections are bounded per host, time out, and
// CloseIdleConnections closes them; dial errors stay *net.OpError "dial".
func TestH1IdlePool(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	cfg := DefaultConfig().Transport
	cfg.MaxIdleConnsPerHost = 2
	cfg.IdleConnTimeout = 200 * time.Millisecond
	tr := newH1Transport(cfg)
	key := connKey{addr: srv.Listener.Addr().String()}
	idle := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.idle[key])
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { do(t, tr, "GET", srv.URL, nil) })
	}
	wg.Wait()
	if n := srv.conns.Load(); n != 5 {
		t.Errorf("%d connections for 5 concurrent requests, want 5", n)
	}
	if n := idle(); n != 2 {
		t.Errorf("%d idle, want 2 (max_idle_conns_per_host)", n)
	}
	time.Sleep(400 * time.Millisecond)
	if n := idle(); n != 0 {
		t.Errorf("%d idle after the idle timeout, want 0", n)
	}
	do(t, tr, "GET", srv.URL, nil)
	if n := idle(); n != 1 {
		t.Errorf("%d idle, want 1", n)
	}
	tr.CloseIdleConnections()
	if n := idle(); n != 0 {
		t.Errorf("%d idle after CloseIdleConnections, want 0", n)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	req, _ := http.NewRequest("GET", "http://"+addr, nil)
	_, err := tr.RoundTrip(req)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("err %v, want a *net.OpError dial", err)
	}
}

// TestH1RequestHeaders: the request goes out as http.Transport would write
// it: Host from the URL (or Request.Host), no User-Agent when it is set
// empty, a default one otherwise, headers one line per value, line breaks
// in values turned into spaces.
func TestH1RequestHeaders(t *testing.T) {
	got := make(chan string, 4)
	srv := newRawServer(t, func(_ int64, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var lines []string
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == "\r\n" {
					break
				}
				lines = append(lines, strings.TrimRight(l, "\r\n"))
			}
			got <- strings.Join(lines, "|")
			io.WriteString(c, okAnswer)
		}
	})
	tr := testH1(t)
	req, _ := http.NewRequest("GET", srv.url()+"/p?x=1", nil)
	req.Header["User-Agent"] = []string{""}
	req.Header["X-Multi"] = []string{"a", "b\r\nEvil: 1"}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines := strings.Split(<-got, "|")
	host := srv.ln.Addr().String()
	if lines[0] != "GET /p?x=1 HTTP/1.1" || lines[1] != "Host: "+host {
		t.Errorf("request line and host: %q", lines[:2])
	}
	rest := strings.Join(lines[2:], "|")
	for _, want := range []string{"X-Multi: a", "X-Multi: b  Evil: 1"} {
		if !strings.Contains(rest, want) {
			t.Errorf("headers %q lack %q", rest, want)
		}
	}
	if strings.Contains(rest, "User-Agent") {
		t.Errorf("an empty User-Agent was sent: %q", rest)
	}
	req, _ = http.NewRequest("POST", srv.url(), nil)
	req.Host = "orders.internal"
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines = strings.Split(<-got, "|")
	want := []string{"POST / HTTP/1.1", "Host: orders.internal", "User-Agent: Go-http-client/1.1", "Content-Length: 0"}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("POST without body (-want +got):\n%s", diff)
	}
}

// BenchmarkTransports is one GET round trip through each transport to a
// loopback backend.
func BenchmarkTransports(b *testing.B) {
	body := strings.Repeat("x", 512)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		io.WriteString(w, body)
	}))
	defer srv.Close()
	cfg := DefaultConfig().Transport
	for _, client := range []string{ClientLean, ClientStdlib} {
		cfg.Client = client
		tr := newTransport(cfg)
		b.Run(client, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("GET", srv.URL+"/v1/orders/1", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		tr.CloseIdleConnections()
	}
}

// TestTransportClientKey: transport.client picks the backends' transport;
// any other value is refused, naming the key.
func TestTransportClientKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Admin.Token = "0123456789abcdef"
	for _, c := range []struct {
		client string
		want   any
	}{{ClientLean, &h1Transport{}}, {ClientStdlib, &http.Transport{}}} {
		cfg.Transport.Client = c.client
		if err := cfg.Validate(); err != nil {
			t.Fatalf("client %q: %v", c.client, err)
		}
		tr := newTransport(cfg.Transport)
		if fmt.Sprintf("%T", tr) != fmt.Sprintf("%T", c.want) {
			t.Errorf("client %q: a %T, want a %T", c.client, tr, c.want)
		}
	}
	cfg.Transport.Client = "fast"
	var ce *config.Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "transport.client" {
		t.Errorf("client %q: %v, want an error naming transport.client", cfg.Transport.Client, err)
	}
}

// TestH1TLS: an https backend is dialled with TLS (HTTP/1.1 by ALPN) and
// its connection reused like a plain one.
func TestH1TLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %v", r.Proto, r.TLS != nil)
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := testH1(t)
	tr.tlsConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	for range 3 {
		resp, got := do(t, tr, "GET", srv.URL, nil)
		if got != "HTTP/1.1 true" || resp.TLS == nil {
			t.Fatalf("answer %q, TLS state %v; want HTTP/1.1 over TLS", got, resp.TLS != nil)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
