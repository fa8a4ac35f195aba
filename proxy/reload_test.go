package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/proxy"
)

// syncBuffer is a log sink safe for the proxy's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReloadLiveKeys: editing the file moves the new backend to another
// server, lowers the body limit and changes breaker, health and shadow
// settings live; a changed listen address and admin token keep their
// running values, each logged as needing a restart by key; an invalid file
// is refused with the running configuration (all of it) kept.
func TestReloadLiveKeys(t *testing.T) {
	legacy, nw, nw2 := startFake(t, "legacy"), startFake(t, "new"), startFake(t, "new2")
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	base := testConfig(t, legacy.srv.URL, nw.srv.URL, "")
	write := func(listen, token, newURL string, maxBody int, extra string) {
		t.Helper()
		y := fmt.Sprintf(`listen: %s
admin: {token: %s}
backends: {legacy: %q, new: %q}
control: {table: %s, poll: 100ms}
dynamodb: {url: %q}
reload_interval: 10ms
max_body_bytes: %d
%s
routes:
  - {name: get-order, match: "GET /v1/orders/{id}", mode: new}
`, listen, token, legacy.srv.URL, newURL, base.Control.Table, base.DynamoDB.URL, maxBody, extra)
		if err := os.WriteFile(file+".tmp", []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (proxy.Config, error) {
		c := proxy.DefaultConfig()
		err := config.Load(config.Source{Part: "proxy", File: file}, &c)
		return c, err
	}
	logs := &syncBuffer{}
	write("127.0.0.1:8088", adminToken, nw.srv.URL, 1<<20, "")
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, cfg, proxy.Deps{Reload: load, ConfigFile: file, Logger: slog.New(slog.NewJSONHandler(logs, nil))})

	if a := call(t, "GET", h.url+"/v1/orders/1", ""); a.status != 200 || !strings.Contains(string(a.body), `"backend":"new"`) {
		t.Fatalf("before the reload: %d %s", a.status, a.body)
	}
	body := strings.Repeat("x", 3000)
	if a := call(t, "POST", h.url+"/v1/orders", body); a.status != 200 {
		t.Fatalf("a 3000-byte body under the 1 MiB limit: %d", a.status)
	}

	// The new backend moves, the body limit drops, other settings change;
	// listen and the admin token change too, which need a restart.
	write("127.0.0.1:9999", "another-token-0123456789", nw2.srv.URL, 2048,
		"circuit: {min_requests: 5, max_error_ratio: 0.2}\nhealth: {interval: 20ms, path: /readyz}\nidempotency: {ttl: 1h, cache_size: 10}")
	eventually(t, "the new backend to move", func() bool {
		a := call(t, "GET", h.url+"/v1/orders/2", "")
		return a.status == 200 && strings.Contains(string(a.body), `"backend":"new2"`)
	})
	if a := call(t, "POST", h.url+"/v1/orders", body); a.status != 413 {
		t.Fatalf("a 3000-byte body after the limit dropped to 2048: %d, want 413", a.status)
	}
	// The running admin token still works (the new one needs a restart).
	if _, err := h.client().Routes(context.Background()); err != nil {
		t.Fatalf("admin API with the running token: %v", err)
	}
	v, err := h.client().Routes(context.Background())
	if err != nil || v.Backends[1].URL != nw2.srv.URL {
		t.Fatalf("admin shows backends %+v (%v), want new at %s", v.Backends, err, nw2.srv.URL)
	}
	for _, key := range []string{"listen", "admin.token"} {
		if !strings.Contains(logs.String(), `"msg":"config key changed but needs a restart; keeping the running value"`) ||
			!strings.Contains(logs.String(), `"key":"`+key+`"`) {
			t.Errorf("no restart warning for %s in the logs:\n%s", key, logs.String())
		}
	}
	for _, key := range []string{"backends.new", "max_body_bytes", "circuit.min_requests", "health.interval", "idempotency.cache_size"} {
		if !strings.Contains(logs.String(), `"`+key+`"`) {
			t.Errorf("the reload log does not name %s as applied:\n%s", key, logs.String())
		}
	}

	// Backends swapped back and forth under load drop no request: requests
	// in flight finish on the upstream they started with.
	stop := loadUntilStopped(4, func(w, i int) string { return fmt.Sprintf("%s/v1/orders/%d-%d", h.url, w, i) }, 0,
		func(a *http.Response) bool { return a.StatusCode == 200 })
	for i := range 10 {
		to, name := nw.srv.URL, `"backend":"new"`
		if i%2 == 1 {
			to, name = nw2.srv.URL, `"backend":"new2"`
		}
		write("127.0.0.1:9999", "another-token-0123456789", to, 2048, "")
		eventually(t, "backends.new to move to "+to, func() bool {
			return strings.Contains(string(call(t, "GET", h.url+"/v1/orders/x", "").body), name)
		})
	}
	sent, failed := stop()
	t.Logf("%d requests during 10 backend swaps, %d failed", sent, failed)
	if sent < 100 || failed != 0 {
		t.Fatalf("%d of %d requests failed during backend swaps", failed, sent)
	}
	hitsOld := nw.hits.Load()

	// An invalid file (a body limit below the minimum) is refused whole: the
	// new backend and the limit stay.
	before := strings.Count(logs.String(), "config file refused")
	write("127.0.0.1:9999", "another-token-0123456789", nw.srv.URL, 10, "")
	eventually(t, "the invalid file to be refused", func() bool { return strings.Count(logs.String(), "config file refused") > before })
	if a := call(t, "GET", h.url+"/v1/orders/3", ""); !strings.Contains(string(a.body), `"backend":"new2"`) {
		t.Fatalf("after an invalid file the new backend is %s", a.body)
	}
	if a := call(t, "POST", h.url+"/v1/orders", body); a.status != 413 {
		t.Fatalf("after an invalid file a 3000-byte body got %d, want 413 (limit 2048 kept)", a.status)
	}
	if nw.hits.Load() != hitsOld {
		t.Fatalf("the old new backend got traffic after the refused file")
	}
	if !strings.Contains(logs.String(), "max_body_bytes") {
		t.Fatalf("the refusal does not name the key:\n%s", logs.String())
	}
}
