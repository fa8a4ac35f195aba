package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/proxy"
)

// TestBodyTimeout: a client that announces a body and stops sending it gets
// 408 once body_timeout passed, whether the proxy buffers the body (sticky
// key in it) or streams it; no backend sees a buffered one, and a body sent
// in time goes through on the same keep-alive connection.
func TestBodyTimeout(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...)
	cfg.BodyTimeout = 300 * time.Millisecond
	h := startProxy(t, cfg, proxy.Deps{})
	u, _ := url.Parse(h.url)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(method, path, body string, length int) *http.Response {
		t.Helper()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, path, length, body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp
	}
	ok := `{"customer_id":"c"}`
	if resp := send("POST", "/v1/orders", ok, len(ok)); resp.StatusCode != 200 {
		t.Fatalf("a whole body: %d", resp.StatusCode)
	}
	// Past the first body's deadline on the same connection: it was lifted.
	time.Sleep(2 * cfg.BodyTimeout) // positive assertion: the next request must still be served
	if resp := send("POST", "/v1/orders", ok, len(ok)); resp.StatusCode != 200 {
		t.Fatalf("a whole body on a connection older than body_timeout: %d", resp.StatusCode)
	}
	hits := legacy.hits.Load()
	start := time.Now()
	resp := send("POST", "/v1/orders", `{"customer_id":`, 100)
	if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get(proxy.HeaderBackend) != "proxy" {
		t.Fatalf("a stalled buffered body: %d from %s, want 408 from the proxy", resp.StatusCode, resp.Header.Get(proxy.HeaderBackend))
	}
	if took := time.Since(start); took > 5*cfg.BodyTimeout {
		t.Errorf("408 after %v, body_timeout %v", took, cfg.BodyTimeout)
	}
	if legacy.hits.Load() != hits {
		t.Error("a backend saw a stalled buffered body")
	}

	// Streamed (the key is in the path): the backend call fails, the client
	// still gets an answer within the deadline.
	c2, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "PATCH /v1/orders/5 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n%s", strings.Repeat("x", 10))
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatalf("stalled streamed body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("a stalled streamed body: %d, want an error status", resp.StatusCode)
	}
}

// TestLimitsValidated: body_timeout and max_conns are checked.
func TestLimitsValidated(t *testing.T) {
	cfg := proxy.DefaultConfig()
	cfg.Admin.Token = "0123456789abcdef"
	cfg.BodyTimeout, cfg.MaxConns = 0, 0
	err := cfg.Validate()
	for _, key := range []string{`"body_timeout"`, `"max_conns"`} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}
