package console_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anycompany/strangler/console"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/problem"
)

// consoleOnly serves a console whose proxy is never reached: these tests
// stop at the console's own checks.
func consoleOnly(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := console.DefaultConfig()
	cfg.Proxy.AdminURL, cfg.Proxy.Token = "http://127.0.0.1:9", adminToken
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(cfg, console.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(c.Handler())
	t.Cleanup(s.Close)
	return s
}

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func problemOf(t *testing.T, resp *http.Response) *problem.Problem {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q, want application/problem+json", resp.StatusCode, ct)
	}
	var p problem.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestWrongTokenRefused(t *testing.T) {
	s := consoleOnly(t)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(url.Values{"token": {"wrong-token-0123456789"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if p := problemOf(t, resp); p.Status != http.StatusUnauthorized || resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a wrong token got %+v and cookie %q, want a 401 and no session", p, resp.Header.Get("Set-Cookie"))
	}
	resp, err = client(t).PostForm(s.URL+"/login", url.Values{"token": {"wrong-token-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the login page answered a wrong token with %d, want 401", resp.StatusCode)
	}
}

// TestSessionAndCSRF: the session cookie is HttpOnly and SameSite=Strict;
// the API refuses a request without a session (401), an action without
// the CSRF token or from another site (403), and one without a reason or
// a confirmation (400), before any call to the proxy.
func TestSessionAndCSRF(t *testing.T) {
	s := consoleOnly(t)
	c := client(t)
	resp, err := c.Get(s.URL + "/api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if p := problemOf(t, resp); p.Status != http.StatusUnauthorized {
		t.Errorf("no session: %+v, want 401", p)
	}
	resp, err = c.Get(s.URL + "/api/routes/get-order/history")
	if err != nil {
		t.Fatal(err)
	}
	if p := problemOf(t, resp); p.Status != http.StatusUnauthorized {
		t.Errorf("a route's history without a session: %+v, want 401", p)
	}
	resp, err = c.PostForm(s.URL+"/login", url.Values{"token": {adminToken}, "name": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("login: %d, cookie %q; want 303 and an HttpOnly SameSite=Strict cookie", resp.StatusCode, cookie)
	}
	resp, err = c.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("the page has no CSRF token:\n%s", page)
	}
	for _, tc := range []struct {
		name, token, origin string
	}{
		{"no CSRF token", "", ""},
		{"a wrong CSRF token", "nope", ""},
		{"another site", m[1], "http://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/routes/get-order", strings.NewReader(`{"weight":5,"reason":"r"}`))
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("X-CSRF-Token", tc.token)
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if p := problemOf(t, resp); p.Status != http.StatusForbidden {
			t.Errorf("%s: %+v, want 403", tc.name, p)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/routes/get-order", strings.NewReader(`{"weight":5}`))
	req.Header.Set("X-CSRF-Token", m[1])
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if p := problemOf(t, resp); p.Status != http.StatusBadRequest || p.Field != "reason" {
		t.Errorf("an action without a reason: %+v, want 400 naming reason", p)
	}
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/api/routes/get-order", strings.NewReader(`{"weight":5,"reason":"r"}`))
	req.Header.Set("X-CSRF-Token", m[1])
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if p := problemOf(t, resp); p.Status != http.StatusBadRequest || p.Field != "confirmed" {
		t.Errorf("an action the operator did not confirm: %+v, want 400 naming confirmed", p)
	}
}

func TestConfigRefusesOpenListenerWithoutTLS(t *testing.T) {
	cfg := console.DefaultConfig()
	cfg.Proxy.Token = adminToken
	cfg.Listen = "0.0.0.0:8095"
	var ce *config.Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "listen" {
		t.Errorf("a non-loopback listen without TLS: %v, want a config error on listen", err)
	}
	cfg.Listen = "127.0.0.1:8095"
	cfg.Proxy.Token = ""
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "proxy.token" {
		t.Errorf("no token: %v, want a config error on proxy.token", err)
	}
}

// TestServesPinnedUPlot: the page's chart library is served from the
// console itself and is the version console/web/package.json pins.
func TestServesPinnedUPlot(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("web", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	s := consoleOnly(t)
	resp, err := http.Get(s.URL + "/assets/vendor/uPlot.iife.min.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 80)
	n, _ := io.ReadFull(resp.Body, head)
	if want := "(v" + pkg.Dependencies["uplot"] + ")"; resp.StatusCode != http.StatusOK || !strings.Contains(string(head[:n]), want) {
		t.Errorf("served uPlot: %d %q, want the pinned %s (run make console-assets)", resp.StatusCode, head[:n], want)
	}
}
