package legacy_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/mysqlsource/sourcetest"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/contracttest"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
)

// harness is a legacy service on its own test database, in process, calling
// a real downstream stand-in.
type harness struct {
	url        string
	db         *sql.DB
	dsn        string
	srv        *legacy.Server
	downstream *downstream.Client
	dsURL      string
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startDownstream(t *testing.T) (*downstream.Client, string) {
	t.Helper()
	dcfg := downstream.DefaultConfig()
	dcfg.AdminToken = "test-downstream-admin"
	ds := httptest.NewServer(downstream.New(dcfg, quietLogger()).Handler())
	t.Cleanup(ds.Close)
	return downstream.NewClient(ds.URL, dcfg.AdminToken, ds.Client()), ds.URL
}

func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{dsn: sourcetest.Database(t, stacktest.MySQLDatabase(t))}
	h.downstream, h.dsURL = startDownstream(t)
	cfg := legacy.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(h.dsn)
	cfg.APIKeys = orderapi.APIKeys{{Key: "test-retail-key", Channel: "retail"}, {Key: "test-wholesale-key", Channel: "wholesale"}}
	cfg.Downstream.InventoryURL = h.dsURL + "/inventory"
	cfg.Downstream.AccountingURL = h.dsURL + "/accounting"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	db, err := legacy.OpenDB(cfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := legacy.NewSchemaMigrator(db).Migrate(context.Background()); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	h.db = db
	h.srv = legacy.NewServer(cfg, legacy.Deps{
		Store:    legacy.NewStore(db, nil),
		Notifier: legacy.NewNotifier(cfg.Downstream, http.DefaultClient),
		DB:       db,
		Logger:   quietLogger(),
	})
	ts := httptest.NewServer(h.srv.Handler())
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

func TestContract(t *testing.T) {
	h := start(t)
	contracttest.Run(t, contracttest.Target{BaseURL: h.url, RetailKey: "test-retail-key", WholesaleKey: "test-wholesale-key"})
}

func postOrder(t *testing.T, url string) (*http.Response, error) {
	t.Helper()
	body := `{"customer_id":"flaw-1","currency":"USD","items":[{"sku":"CLN-1001","name":"Cleaner","quantity":1,"unit_price":"4.99"}],
		"shipping_address":{"name":"A","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}}`
	req, err := http.NewRequest("POST", url+"/v1/orders", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer test-retail-key")
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

func TestDownstreamToldSynchronously(t *testing.T) {
	h := start(t)
	resp, err := postOrder(t, h.url)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&o)
	resp.Body.Close()
	for _, svc := range downstream.Services() {
		recs, err := h.downstream.Received(context.Background(), svc, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Errorf("%s received %d calls for order %s before the 201, want 1", svc, len(recs), o.ID)
		}
	}
}

// TestDownstreamFailureLeavesOrderUnreported shows the monolith's flaw: the
// order commits, downstream fails, the client still gets 201, and only a
// log line and a counter know.
func TestDownstreamFailureLeavesOrderUnreported(t *testing.T) {
	h := start(t)
	if _, err := h.downstream.SetFaults(context.Background(), downstream.Faults{Inventory: &downstream.Fault{FailRatio: 1}}); err != nil {
		t.Fatal(err)
	}
	resp, err := postOrder(t, h.url)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&o)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201 (the monolith answers as if all went well)", resp.StatusCode)
	}
	var n int
	if err := h.db.QueryRow("SELECT COUNT(*) FROM orders WHERE id = ?", o.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("order %s in MySQL: count %d, err %v; want stored", o.ID, n, err)
	}
	for _, svc := range downstream.Services() {
		recs, err := h.downstream.Received(context.Background(), svc, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 0 {
			t.Errorf("%s heard of order %s; the failure should have left it unreported", svc, o.ID)
		}
	}
	if got := counterValue(t, h.srv, "legacy_orders_unreported_total"); got != 1 {
		t.Errorf("legacy_orders_unreported_total = %v, want 1", got)
	}
}

// counterValue sums the series of counter name.
func counterValue(t *testing.T, s *legacy.Server, name string) float64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	t.Fatalf("metric %s not exposed", name)
	return 0
}

// TestCrashAfterCommit runs the real binary with the crash fault: the
// process dies between the commit and the downstream calls, so MySQL holds
// an order that inventory and accounting never heard of.
func TestCrashAfterCommit(t *testing.T) {
	bin := buildBinary(t)
	dsn := stacktest.MySQLDatabase(t)
	ds, dsURL := startDownstream(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "legacy", "serve", "--crash-after-commit", "--log-format", "json")
	cmd.Env = append(os.Environ(),
		"STRANGLER_LEGACY_LISTEN="+addr,
		"STRANGLER_LEGACY_MYSQL_DSN="+dsn,
		"STRANGLER_LEGACY_API_KEYS=test-retail-key=retail",
		"STRANGLER_LEGACY_DOWNSTREAM_INVENTORY_URL="+dsURL+"/inventory",
		"STRANGLER_LEGACY_DOWNSTREAM_ACCOUNTING_URL="+dsURL+"/accounting",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitReady(t, "http://"+addr, done, &stderr)

	resp, err := postOrder(t, "http://"+addr)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the request got status %d; the process should have crashed before answering", resp.StatusCode)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 70 {
			t.Fatalf("process ended with %v, want exit status 70; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not crash")
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRow("SELECT id FROM orders WHERE customer_id = 'flaw-1'").Scan(&id); err != nil {
		t.Fatalf("the order was not committed before the crash: %v", err)
	}
	for _, svc := range downstream.Services() {
		recs, err := ds.Received(context.Background(), svc, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 0 {
			t.Errorf("%s heard of order %s despite the crash", svc, id)
		}
	}
	if !strings.Contains(stderr.String(), "crash_after_commit") {
		t.Errorf("the crash was not logged; stderr:\n%s", stderr.String())
	}
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	dsn := stacktest.MySQLDatabase(t)
	db, err := legacy.OpenDB(legacy.MySQLConfig{DSN: config.Secret(dsn), MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := legacy.NewSchemaMigrator(db).Migrate(context.Background())
			if err == nil && v != 2 {
				err = errors.New("unexpected version")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent migrate: %v", err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != 2 {
		t.Errorf("schema_migrations rows %d (err %v), want 2", n, err)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// buildBinary builds cmd/strangler once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strangler-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "strangler")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/strangler")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building strangler: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string, done <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the service exited before it was ready: %v\n%s", err, stderr.String())
		default:
		}
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the service at %s was not ready in 20s; stderr:\n%s", url, stderr.String())
}

// call sends method path with the retail key and decodes the JSON answer
// into out (when not nil); it returns the status.
func call(t *testing.T, h *harness, method, path, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer test-retail-key")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// TestOrderRef serves a row the sync-back copied from the new service (its
// order_ref holds the ord_ id) under that id everywhere: read, list with
// cursors, advance, cancel; its surrogate id is not an order id.
func TestOrderRef(t *testing.T) {
	h := start(t)
	const ins = `INSERT INTO orders (order_ref, customer_id, channel, status, currency, items, total, created_at, updated_at, version)
		VALUES (?, 'ref-cust', 'retail', 'accepted', 'USD', '[{"sku":"CLN-1","name":"Soap","quantity":2,"unit_price":"1.25"}]', '2.50', ?, ?, 3)`
	at := time.Date(2026, 1, 2, 3, 4, 5, 600000, time.UTC)
	if _, err := h.db.Exec(ins, "ord_01TESTREF1", at, at); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.Exec(ins, "ord_01TESTREF2", at, at); err != nil { // same created_at: the cursor's tie-break decides
		t.Fatal(err)
	}
	var surrogate string
	if err := h.db.QueryRow("SELECT id FROM orders WHERE order_ref = 'ord_01TESTREF1'").Scan(&surrogate); err != nil {
		t.Fatal(err)
	}
	// A legacy order of the same customer, created through the API.
	var legacyOrder struct{ ID string }
	if st := call(t, h, "POST", "/v1/orders", `{"customer_id":"ref-cust","currency":"USD","items":[{"sku":"CLN-1001","name":"Cleaner","quantity":1,"unit_price":"4.99"}],
		"shipping_address":{"name":"A","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}}`, &legacyOrder); st != 201 {
		t.Fatalf("create: %d", st)
	}

	var got struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Total   string `json:"total"`
		Version int    `json:"version"`
	}
	if st := call(t, h, "GET", "/v1/orders/ord_01TESTREF1", "", &got); st != 200 {
		t.Fatalf("GET by ord_ id: %d", st)
	}
	if got.ID != "ord_01TESTREF1" || got.Status != "accepted" || got.Total != "2.50" || got.Version != 3 {
		t.Errorf("GET by ord_ id = %+v", got)
	}
	if st := call(t, h, "GET", "/v1/orders/"+surrogate, "", nil); st != 404 {
		t.Errorf("GET by the surrogate id %s: %d, want 404 (the order's id is its ref)", surrogate, st)
	}
	if st := call(t, h, "GET", "/v1/orders/ord_nope", "", nil); st != 404 {
		t.Errorf("GET unknown ord_ id: %d, want 404", st)
	}

	var ids []string
	cursor := ""
	for range 5 {
		var page struct {
			Orders []struct {
				ID string `json:"id"`
			} `json:"orders"`
			NextCursor string `json:"next_cursor"`
		}
		path := "/v1/orders?customer_id=ref-cust&limit=1"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if st := call(t, h, "GET", path, "", &page); st != 200 {
			t.Fatalf("list: %d", st)
		}
		for _, o := range page.Orders {
			ids = append(ids, o.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := []string{legacyOrder.ID, "ord_01TESTREF2", "ord_01TESTREF1"} // newest first; equal times by surrogate id, descending
	if d := cmp.Diff(want, ids); d != "" {
		t.Errorf("listed ids page by page (-want +got):\n%s", d)
	}

	if st := call(t, h, "PATCH", "/v1/orders/ord_01TESTREF1", `{"status":"processing"}`, &got); st != 200 || got.Status != "processing" || got.Version != 4 || got.ID != "ord_01TESTREF1" {
		t.Errorf("PATCH by ord_ id: %d %+v", st, got)
	}
	if st := call(t, h, "POST", "/v1/orders/ord_01TESTREF1/cancel", "", &got); st != 200 || got.Status != "cancelled" || got.Version != 5 {
		t.Errorf("cancel by ord_ id: %d %+v", st, got)
	}
	var status string
	var version int
	if err := h.db.QueryRow("SELECT status, version FROM orders WHERE order_ref = 'ord_01TESTREF1'").Scan(&status, &version); err != nil || status != "cancelled" || version != 5 {
		t.Errorf("row after cancel: %s v%d (err %v)", status, version, err)
	}
}
