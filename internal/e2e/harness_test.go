// Package e2e runs the whole migration in one process against the local
// stack: the legacy monolith on its own MySQL database, the cdc, the new
// order service with its outbox relay and processor, the event bus, the
// sync-back and the proxy in front, each on a loopback port of its own.
// Every part is the real one, wired as its command wires it; only the
// listeners (httptest) and the per-test tables differ.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/syncback"
)

const (
	retailKey    = "test-retail-key"
	wholesaleKey = "test-wholesale-key"
	adminToken   = "e2e-admin-token-0123456789"
)

// routes are the proxy's order routes as configs/proxy.yaml names them,
// all in canary mode at weight 0 to begin with.
var routes = []proxy.RouteConfig{
	{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeCanary, Sticky: "path:id"},
	{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeCanary, Sticky: "query:customer_id"},
	{Name: "create-order", Match: "POST /v1/orders", Mode: proxy.ModeCanary, Sticky: "body:customer_id"},
	{Name: "cancel-order", Match: "POST /v1/orders/{id}/cancel", Mode: proxy.ModeCanary, Sticky: "path:id"},
	{Name: "update-order", Match: "PATCH /v1/orders/{id}", Mode: proxy.ModeCanary, Sticky: "path:id"},
}

// stack is one test's running migration: every URL a test talks to and
// what it needs to check the stores.
type stack struct {
	t *testing.T
	// ProxyURL is the proxied order API, LegacyURL and NewURL the two
	// services behind it, AdminURL the proxy's admin API.
	ProxyURL, LegacyURL, NewURL, AdminURL string
	// DB is the legacy database.
	DB *sql.DB
	// Migrator is the migrator's config over this test's database and
	// tables (for verify).
	Migrator migrator.Config
	// Log is where every part logs.
	Log *slog.Logger
	// Bus is the event bus (what it accepted: Bus.Accepted).
	Bus *bustest.Bus
}

// logBuffer collects the parts' logs; they reach t.Log only when the test
// failed.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const limit = 4 << 20 // keep the newest 4 MiB
	if b.buf.Len() > limit {
		keep := b.buf.Bytes()[b.buf.Len()-limit/2:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// goroutine runs fn until the test ends: its context is cancelled at
// cleanup, and an error other than cancellation fails the test.
func goroutine(t *testing.T, name string, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
}

// serve serves h on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// startStack starts every part for t. The proxy's routes start in canary
// mode at weight 0.
func startStack(t *testing.T) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{})
}

// stackOptions change how startStackWith wires a stack; the zero value is
// startStack's.
type stackOptions struct {
	// cdc, when set, starts the cdc instead of a goroutine of this process
	// (its config is complete; from is the start position).
	cdc func(t *testing.T, cfg cdc.Config, from string)
	// rules are extra rules of the bus.
	rules []eventbus.RuleConfig
	// proxy edits the proxy's config before it starts.
	proxy func(*proxy.Config)
}

// startStackWith starts every part for t as opts says.
func startStackWith(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	ctx := t.Context()
	logs := &logBuffer{}
	// Registered first, so it runs last: after every part stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the parts:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := &stack{t: t, Log: log}

	// The legacy database, with its schema (migration 0002 adds order_ref)
	// and the sync-back's marker table.
	dsn := stacktest.MySQLDatabase(t)
	lcfg := legacy.DefaultConfig()
	lcfg.MySQL.DSN = config.Secret(dsn)
	lcfg.APIKeys = orderapi.APIKeys{{Key: retailKey, Channel: "retail"}, {Key: wholesaleKey, Channel: "wholesale"}}
	lcfg.Downstream.InventoryURL, lcfg.Downstream.AccountingURL = "", ""
	if err := lcfg.Validate(); err != nil {
		t.Fatalf("legacy config: %v", err)
	}
	db, err := legacy.OpenDB(lcfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.DB = db
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatalf("migrating the legacy schema: %v", err)
	}
	scfg := syncback.DefaultConfig()
	scfg.MySQL.DSN = config.Secret(dsn)
	scfg.Name = "e2e"
	scfg.Auth = sinkauth.APIKey("X-Sink-Key", "e2e-syncback-sink-key")
	if err := scfg.Validate(); err != nil {
		t.Fatalf("syncback config: %v", err)
	}
	sdb, err := syncback.OpenDB(scfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	if err := syncback.Prepare(ctx, sdb, scfg); err != nil {
		t.Fatalf("preparing the sync-back: %v", err)
	}

	// DynamoDB: the orders and control tables as `strangler migrate init`
	// creates them, the service table as `strangler orders init` does.
	ddb := stacktest.DynamoDB(t)
	mcfg := migrator.DefaultConfig()
	mcfg.MySQL.DSN = config.Secret(dsn)
	mcfg.DynamoDB = stacktest.DynamoDBEndpoint()
	mcfg.Table = stacktest.TableName(t, ddb, "e2e_orders")
	mcfg.ControlTable = stacktest.TableName(t, ddb, "e2e_control")
	mcfg.MetricsListen = ""
	mcfg.Verify.Grace = time.Second
	if err := mcfg.Validate(); err != nil {
		t.Fatalf("migrator config: %v", err)
	}
	if err := migrator.RunInit(ctx, mcfg, migrator.Env{Log: log, Out: io.Discard}); err != nil {
		t.Fatalf("migrate init: %v", err)
	}
	s.Migrator = mcfg
	ocfg := orders.DefaultConfig()
	ocfg.APIKeys, ocfg.AdminToken = lcfg.APIKeys, "test-orders-admin"
	ocfg.DynamoDB = stacktest.DynamoDBEndpoint()
	ocfg.Table = mcfg.Table
	ocfg.Index = mcfg.Index.Name
	ocfg.ServiceTable = stacktest.TableName(t, ddb, "e2e_svc")
	ocfg.Processor.Auth = sinkauth.Basic("bus", "e2e-processor-sink-password")
	if err := ocfg.Validate(); err != nil {
		t.Fatalf("orders config: %v", err)
	}
	if err := orders.Init(ctx, ddb, ocfg, log); err != nil {
		t.Fatalf("orders init: %v", err)
	}

	// The legacy monolith (no downstream calls: the bus carries events now).
	s.LegacyURL = serve(t, legacy.NewServer(lcfg, legacy.Deps{
		Store: legacy.NewStore(db, nil), Notifier: legacy.NewNotifier(lcfg.Downstream, http.DefaultClient),
		DB: db, Logger: log.With("part", "legacy"),
	}).Handler())

	// The new service, its processor and the sync-back: the bus's targets.
	s.NewURL = serve(t, orders.Build(ocfg, ddb, log.With("part", "orders")).Handler())
	procURL := serve(t, orders.BuildProcessor(ocfg, ddb, log.With("part", "processor")).Handler())
	syncURL := serve(t, syncback.NewHandler(scfg, syncback.NewApplier(sdb, scfg), sdb, scfg.Name,
		log.With("part", "syncback"), prometheus.NewRegistry()).Routes())

	// The bus, with the shipped rules of the two new-service consumers
	// (configs/eventbus.yaml), retrying fast.
	target := func(name, url string, conn sinkauth.Connection) eventbus.TargetConfig {
		return eventbus.TargetConfig{Name: name, URL: url, MaxAttempts: 50, Backoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Connection: conn}
	}
	bus := bustest.Start(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{
			{Name: "service-created-to-processor",
				Pattern: `{"source":["` + outbox.DefaultSource + `"],"detail-type":["OrderCreated"]}`,
				Targets: []eventbus.TargetConfig{target("processor", procURL+"/events", ocfg.Processor.Auth)}},
			{Name: "service-to-syncback",
				Pattern: `{"source":["` + outbox.DefaultSource + `"]}`,
				Targets: []eventbus.TargetConfig{target("syncback", syncURL+"/events", scfg.Auth)}},
		}
		c.Rules = append(c.Rules, opts.rules...)
	})
	s.Bus = bus

	// The outbox relay: the new service's outbox to the bus.
	rcfg := relay.DefaultConfig()
	rcfg.DynamoDB = stacktest.DynamoDBEndpoint()
	rcfg.EventBridge = awsconf.Local(bus.URL)
	rcfg.Table = ocfg.ServiceTable
	rcfg.Shards = ocfg.Outbox.Shards
	rcfg.Poll.MinInterval, rcfg.Poll.MaxInterval = 10*time.Millisecond, 100*time.Millisecond
	rcfg.Lease.Owner = "e2e-relay"
	rcfg.ProgressInterval = 0
	rcfg.MetricsListen = ""
	if err := rcfg.Validate(); err != nil {
		t.Fatalf("relay config: %v", err)
	}
	goroutine(t, "relay", func(ctx context.Context) error {
		return relay.Run(ctx, rcfg, relay.Env{Log: log.With("part", "relay"), Registry: prometheus.NewRegistry()})
	})

	// The cdc, from the source's current position (nothing was written to
	// the orders table yet, so there is nothing to backfill).
	var from string
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&from); err != nil {
		t.Fatal(err)
	}
	ccfg := cdc.DefaultConfig()
	ccfg.MySQL.DSN = config.Secret(dsn)
	ccfg.MySQL.Reconnect = 500 * time.Millisecond
	ccfg.DynamoDB = stacktest.DynamoDBEndpoint()
	ccfg.EventBridge = awsconf.Local(bus.URL)
	ccfg.Table = mcfg.Table
	ccfg.ControlTable = mcfg.ControlTable
	ccfg.MetricsListen = ""
	ccfg.CheckpointInterval = 0
	ccfg.Lease.TTL = 2 * time.Second
	ccfg.Lease.Owner = "e2e-cdc"
	if err := ccfg.Validate(); err != nil {
		t.Fatalf("cdc config: %v", err)
	}
	if opts.cdc != nil {
		opts.cdc(t, ccfg, from)
	} else {
		goroutine(t, "cdc", func(ctx context.Context) error {
			return cdc.Run(ctx, ccfg, cdc.Options{From: from}, cdc.Env{Log: log.With("part", "cdc"), Out: io.Discard, Registry: prometheus.NewRegistry()})
		})
	}

	// The proxy in front, routing state in memory.
	pcfg := proxy.DefaultConfig()
	pcfg.Admin.Token = adminToken
	pcfg.Backends.Legacy, pcfg.Backends.New = s.LegacyURL, s.NewURL
	pcfg.Control.Table = ""
	// DynamoDB Local answers the new service's readiness check (two
	// DescribeTable calls) slowly on a busy 2-core machine: a strict check
	// would mark new down and turn owned reads into 503s.
	pcfg.Health.Interval = 200 * time.Millisecond
	pcfg.Health.Timeout = 5 * time.Second
	pcfg.Health.UnhealthyAfter = 5
	pcfg.ReloadInterval = 0
	pcfg.Routes = append([]proxy.RouteConfig(nil), routes...)
	if opts.proxy != nil {
		opts.proxy(&pcfg)
	}
	if err := pcfg.Validate(); err != nil {
		t.Fatalf("proxy config: %v", err)
	}
	px, err := proxy.New(ctx, pcfg, proxy.Deps{Logger: log.With("part", "proxy")})
	if err != nil {
		t.Fatalf("starting the proxy: %v", err)
	}
	s.ProxyURL = serve(t, px.Handler())
	s.AdminURL = serve(t, px.AdminHandler())
	goroutine(t, "proxy", px.Run)
	return s
}

// setWeight puts every route in canary mode at weight through the proxy's
// admin API, as an operator would.
func (s *stack) setWeight(weight float64) {
	s.t.Helper()
	admin := &proxy.AdminClient{BaseURL: s.AdminURL, Token: adminToken}
	mode := string(proxy.ModeCanary)
	for _, r := range routes {
		req := proxy.SetRouteRequest{Mode: &mode, Weight: &weight, Actor: "e2e", Reason: s.t.Name()}
		st, err := admin.SetRoute(s.t.Context(), r.Name, req)
		if err != nil {
			s.t.Fatalf("setting %s to %v %%: %v", r.Name, weight, err)
		}
		if st.Mode != proxy.ModeCanary || st.Weight != weight {
			s.t.Fatalf("route %s is %s at %v %% after setting canary at %v %%", r.Name, st.Mode, st.Weight, weight)
		}
	}
}

// response is one answer of a service.
type response struct {
	status  int
	backend string
	body    []byte
}

// call sends one request to base and returns the answer.
func (s *stack) call(base, method, path, key string, body any) response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s%s: reading: %v", method, base, path, err)
	}
	return response{status: resp.StatusCode, backend: resp.Header.Get(proxy.HeaderBackend), body: b}
}

// order decodes r as an order, failing unless r has status want.
func (r response) order(t *testing.T, want int, what string) order.Order {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.body)
	}
	var o order.Order
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("%s: decoding %s: %v", what, r.body, err)
	}
	return o
}

// eventually polls cond every 50 ms until it returns "" or within passes;
// then it fails the test with cond's last complaint.
func eventually(t *testing.T, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, within, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
