package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/proxy"
)

const adminToken = "test-admin-token-0123456789"

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("STRANGLER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startLegacy runs a real legacy service in process on its own test
// database (downstream calls disabled) and returns its URL.
func startLegacy(t *testing.T) string {
	t.Helper()
	cfg := legacy.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(stacktest.MySQLDatabase(t))
	cfg.APIKeys = orderapi.APIKeys{{Key: "retail-demo-key", Channel: "retail"}, {Key: "wholesale-demo-key", Channel: "wholesale"}}
	cfg.Downstream.InventoryURL, cfg.Downstream.AccountingURL = "", ""
	if err := cfg.Validate(); err != nil {
		t.Fatalf("legacy config: %v", err)
	}
	db, err := legacy.OpenDB(cfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := legacy.NewSchemaMigrator(db).Migrate(context.Background()); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	srv := legacy.NewServer(cfg, legacy.Deps{
		Store: legacy.NewStore(db, nil), Notifier: legacy.NewNotifier(cfg.Downstream, http.DefaultClient),
		DB: db, Logger: testLogger(t),
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

// fakeBackend answers every call with 200 and its name, counting hits; fail
// (when set) makes it answer 500 to everything but /readyz.
type fakeBackend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	fail atomic.Bool
	// hangup makes it drop the connection without an answer.
	hangup atomic.Bool
	// leaked records that a control header (X-Strangler-*, X-Dry-Run)
	// reached the backend.
	leaked atomic.Bool
	// delay, when set, holds every answer but /readyz that long.
	delay atomic.Int64
}

func startFake(t *testing.T, name string) *fakeBackend {
	t.Helper()
	f := &fakeBackend{name: name}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		f.hits.Add(1)
		if r.URL.Path == "/stream" {
			// Headers and a first chunk at once, the rest much later.
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(strings.Repeat("x", 1024)))
			http.NewResponseController(w).Flush()
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Strangler-") || k == "X-Dry-Run" {
				f.leaked.Store(true)
			}
		}
		if d := f.delay.Load(); d > 0 {
			select {
			case <-time.After(time.Duration(d)):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if f.hangup.Load() {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if f.fail.Load() {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"backend":%q,"path":%q}`, name, r.URL.Path)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// harness is one proxy on a fresh control table.
type harness struct {
	srv    *proxy.Server
	url    string
	admin  string
	cancel context.CancelFunc
	done   chan error
}

// testConfig returns a proxy config for backends legacy and new and a fresh
// control table (table, when not empty, is reused: a restart or a replica).
func testConfig(t *testing.T, legacyURL, newURL, table string, routes ...proxy.RouteConfig) proxy.Config {
	t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Admin.Token = adminToken
	cfg.Backends.Legacy, cfg.Backends.New = legacyURL, newURL
	if table == "" {
		table = stacktest.TableName(t, stacktest.DynamoDB(t), "proxy")
	}
	cfg.Control.Table = table
	cfg.Control.Poll = 100 * time.Millisecond
	cfg.DynamoDB = stacktest.DynamoDBEndpoint()
	cfg.Health.Interval = 50 * time.Millisecond
	cfg.Health.UnhealthyAfter, cfg.Health.HealthyAfter = 1, 1
	// Tests of pinning need the pin written before the answer, even on a
	// loaded machine; TestPinBudgetFailsOpen sets a short budget.
	cfg.Idempotency.PinBudget = 5 * time.Second
	cfg.Routes = routes
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

func startProxy(t *testing.T, cfg proxy.Config, deps proxy.Deps) *harness {
	t.Helper()
	if deps.Logger == nil {
		deps.Logger = testLogger(t)
	}
	if cfg.Control.Table != "" && deps.DynamoDB == nil {
		deps.DynamoDB = stacktest.DynamoDB(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := proxy.New(ctx, cfg, deps)
	if err != nil {
		cancel()
		t.Fatalf("starting proxy: %v", err)
	}
	h := &harness{srv: s, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- s.Run(ctx) }()
	ps := httptest.NewServer(s.Handler())
	as := httptest.NewServer(s.AdminHandler())
	h.url, h.admin = ps.URL, as.URL
	t.Cleanup(func() { h.stop(t); ps.Close(); as.Close() })
	return h
}

func (h *harness) stop(t *testing.T) {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("proxy Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("proxy Run did not return")
	}
}

func (h *harness) client() *proxy.AdminClient {
	return &proxy.AdminClient{BaseURL: h.admin, Token: adminToken}
}

// set changes a route through the admin API.
func (h *harness) set(t *testing.T, route string, mode string, weight float64) {
	t.Helper()
	req := proxy.SetRouteRequest{Weight: &weight, Actor: "test", Reason: "test " + t.Name()}
	if mode != "" {
		req.Mode = &mode
	}
	if _, err := h.client().SetRoute(context.Background(), route, req); err != nil {
		t.Fatalf("setting %s: %v", route, err)
	}
}

type answer struct {
	status  int
	backend string
	body    []byte
	header  http.Header
}

// call sends one request through the proxy; hdr are name, value pairs.
func call(t testing.TB, method, url, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, backend: resp.Header.Get(proxy.HeaderBackend), body: b, header: resp.Header}
}

func decodeID(t testing.TB, b []byte) string {
	t.Helper()
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil || o.ID == "" {
		t.Fatalf("no order id in %s (%v)", b, err)
	}
	return o.ID
}

// eventually polls cond every 20 ms until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// loadUntilStopped sends GETs from workers goroutines until the returned
// stop is called: worker w's i-th request goes to url(w, i), then it waits
// pause. ok, when not nil, judges each answer. stop waits for the workers
// and returns how many requests were sent and how many failed (a transport
// error, or an answer ok refused).
func loadUntilStopped(workers int, url func(w, i int) string, pause time.Duration, ok func(*http.Response) bool) (stop func() (sent, failed int64)) {
	var nSent, nFailed atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				resp, err := http.Get(url(w, i))
				nSent.Add(1)
				switch {
				case err != nil:
					nFailed.Add(1)
				default:
					if ok != nil && !ok(resp) {
						nFailed.Add(1)
					}
					resp.Body.Close()
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return nSent.Load(), nFailed.Load()
	}
}
