package loadgen

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/order"
)

// fakeAPI is a small in-memory server of the order HTTP API, the peer of
// the generator under test. It counts what it answered so the test can
// compare the generator's report with the truth, and can misbehave on
// purpose.
type fakeAPI struct {
	mu                sync.Mutex
	orders            map[string]*order.Order
	keys              map[string]string // idempotency key -> order id
	bodies            map[string][]byte // idempotency key -> first body
	nextID            int
	counts            map[string]int // "create", "replay", "invalid", "get", "list", "advance", "cancel", "get500"
	failGetN          int            // every Nth GET of an order answers 500 (0: never)
	ignoreIdempotency bool           // replays create new orders (a broken server)
	delay             time.Duration
	pendingCreates    bool // answer creates with pending; the first advance of one is a 409 that accepts it (an asynchronous processor)
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{orders: map[string]*order.Order{}, keys: map[string]string{}, bodies: map[string][]byte{}, counts: map[string]int{}}
}

func (f *fakeAPI) count(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[k]
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	var ch order.Channel
	switch r.Header.Get("Authorization") {
	case "Bearer test-retail-key":
		ch = order.Retail
	case "Bearer test-wholesale-key":
		ch = order.Wholesale
	default:
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1/orders")
	id, action, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && path == "":
		f.create(w, r, ch)
	case r.Method == http.MethodGet && path == "":
		f.counts["list"]++
		var out []order.Order
		for _, o := range f.orders {
			if o.CustomerID == r.URL.Query().Get("customer_id") {
				out = append(out, *o)
			}
		}
		writeJSON(w, 200, map[string]any{"orders": out, "next_cursor": ""})
	case r.Method == http.MethodGet && action == "":
		f.counts["get"]++
		o, ok := f.orders[id]
		if !ok || o.Channel != ch {
			http.Error(w, "not found", 404)
			return
		}
		if f.failGetN > 0 && f.counts["get"]%f.failGetN == 0 {
			f.counts["get500"]++
			http.Error(w, "boom", 500)
			return
		}
		writeJSON(w, 200, o)
	case r.Method == http.MethodPatch && action == "":
		f.counts["advance"]++
		var p order.PatchRequest
		_ = json.NewDecoder(r.Body).Decode(&p)
		o, ok := f.orders[id]
		if !ok {
			http.Error(w, "not found", 404)
			return
		}
		if o.Status == order.Pending {
			f.counts["advance409"]++
			o.Status = order.Accepted
			http.Error(w, "conflict: still pending", http.StatusConflict)
			return
		}
		if !o.Status.CanAdvance(order.Status(p.Status)) {
			http.Error(w, "conflict", http.StatusConflict)
			return
		}
		o.Status = order.Status(p.Status)
		o.Version++
		writeJSON(w, 200, o)
	case r.Method == http.MethodPost && action == "cancel":
		f.counts["cancel"]++
		o, ok := f.orders[id]
		if !ok {
			http.Error(w, "not found", 404)
			return
		}
		if !o.Status.CanCancel() {
			f.counts["cancel409"]++
			http.Error(w, "conflict", http.StatusConflict)
			return
		}
		o.Status = order.Cancelled
		o.Version++
		writeJSON(w, 200, o)
	default:
		http.Error(w, "no route", 404)
	}
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request, ch order.Channel) {
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	key := r.Header.Get("Idempotency-Key")
	if id, ok := f.keys[key]; ok && key != "" && !f.ignoreIdempotency {
		f.counts["replay"]++
		if !bytes.Equal(f.bodies[key], body.Bytes()) {
			http.Error(w, "key reused", http.StatusUnprocessableEntity)
			return
		}
		writeJSON(w, 200, f.orders[id])
		return
	}
	var req order.CreateRequest
	if err := json.Unmarshal(body.Bytes(), &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	d, fe := order.DefaultRules().Validate(ch, req)
	if fe != nil {
		f.counts["invalid"]++
		http.Error(w, fe.Error(), 400)
		return
	}
	if key != "" && f.keys[key] != "" {
		f.counts["replay"]++ // a broken server: the replay becomes a new order
	} else {
		f.counts["create"]++
	}
	f.nextID++
	id := strconv.Itoa(f.nextID)
	status := order.Accepted
	if f.pendingCreates {
		status = order.Pending
	}
	f.orders[id] = &order.Order{ID: id, CustomerID: d.CustomerID, Channel: ch, Status: status, Currency: d.Currency,
		Items: d.Items, Total: d.Total, ShippingAddress: d.ShippingAddress, Notes: d.Notes, Version: 1}
	if key != "" && f.keys[key] == "" {
		f.keys[key] = id
		f.bodies[key] = body.Bytes()
	}
	writeJSON(w, 201, f.orders[id])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func testConfig(url string) Config {
	cfg := withKeys(DefaultConfig())
	cfg.BaseURL = url
	cfg.Duration = 30 * time.Second
	cfg.ReportEvery = 0
	cfg.ReplayRatio = 0.05
	cfg.InvalidRatio = 0.03
	return cfg
}

func TestClosedLoopReportsWhatTheServerSaw(t *testing.T) {
	api := newFakeAPI()
	api.failGetN = 10
	hs := httptest.NewServer(api)
	defer hs.Close()

	cfg := testConfig(hs.URL)
	cfg.Rate = 0
	cfg.Concurrency = 4
	cfg.MaxOps = 3000
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &out).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]int64{}
	errs := map[string]map[string]int64{}
	for _, o := range sum.Ops {
		got[o.Op.String()] = o.Count
		if o.Errors != nil {
			errs[o.Op.String()] = o.Errors
		}
	}
	want := map[string]int64{
		"create": int64(api.count("create")), "replay": int64(api.count("replay")), "invalid": int64(api.count("invalid")),
		"get": int64(api.count("get")), "list": int64(api.count("list")),
		"advance": int64(api.count("advance")), "cancel": int64(api.count("cancel")),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("counts per operation (-server saw +generator reported):\n%s", d)
	}
	if d := cmp.Diff(map[string]map[string]int64{"get": {"5xx": int64(api.count("get500"))}}, errs); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	if sum.Count() != cfg.MaxOps || sum.Skipped != 0 {
		t.Errorf("%d calls answered and %d skipped, want %d and 0", sum.Count(), sum.Skipped, cfg.MaxOps)
	}
	if sum.OrdersCreated != int64(len(api.orders)) {
		t.Errorf("orders created %d, server holds %d", sum.OrdersCreated, len(api.orders))
	}
	for _, op := range []string{"create", "get", "list", "advance", "cancel", "replay", "invalid"} {
		if got[op] == 0 {
			t.Errorf("no %s in %d operations", op, sum.Count())
		}
	}
	if api.count("cancel409") == 0 {
		t.Error("no deliberate cancel of a shipped order")
	}
	table := out.String()
	for _, want := range []string{"op", "p99", "total", "orders created: " + strconv.FormatInt(sum.OrdersCreated, 10), "closed loop, 4 workers"} {
		if !strings.Contains(table, want) {
			t.Errorf("summary lacks %q:\n%s", want, table)
		}
	}
	t.Logf("summary:\n%s", table)
}

// A service that accepts asynchronously answers creates with pending and may
// refuse a first advance with 409: not an error. created_out lists exactly the
// orders the server holds.
func TestPendingCreatesAndCreatedOut(t *testing.T) {
	api := newFakeAPI()
	api.pendingCreates = true
	hs := httptest.NewServer(api)
	defer hs.Close()

	cfg := testConfig(hs.URL)
	cfg.Rate, cfg.Concurrency, cfg.MaxOps = 0, 4, 2000
	cfg.CreatedOut = filepath.Join(t.TempDir(), "created.txt")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), io.Discard).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range sum.Ops {
		if o.Errors != nil {
			t.Errorf("%s: errors %v, want none", o.Op, o.Errors)
		}
	}
	if api.count("advance409") == 0 {
		t.Error("no advance met a pending order: the test proves nothing")
	}
	b, err := os.ReadFile(cfg.CreatedOut)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(b))
	var want []string
	for id := range api.orders {
		want = append(want, id)
	}
	slices.Sort(got)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("created_out (-server holds +file lists):\n%s", d)
	}
}

func TestOpenLoopSendsAtTheRateAndSkipsAtTheBound(t *testing.T) {
	api := newFakeAPI()
	hs := httptest.NewServer(api)
	defer hs.Close()

	cfg := testConfig(hs.URL)
	cfg.Rate = 2000
	cfg.MaxOps = 400
	cfg.MaxInFlight = 10_000 // the bound is not under test here (and -race is slow)
	start := time.Now()
	sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// 400 operations at 2000/s are due over 200 ms: sending faster would
	// break the rate. (No upper bound: a loaded CI host may be slow.)
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Errorf("400 operations at 2000/s took only %s", took)
	}
	if sum.Count() != 400 || sum.Errors() != 0 || sum.Skipped != 0 {
		t.Errorf("count %d errors %d skipped %d, want 400, 0, 0", sum.Count(), sum.Errors(), sum.Skipped)
	}

	// A slow server and a bound of 2 calls in flight: most due calls are skipped.
	slow := newFakeAPI()
	slow.delay = 20 * time.Millisecond
	hs2 := httptest.NewServer(slow)
	defer hs2.Close()
	cfg = testConfig(hs2.URL)
	cfg.Rate = 1000
	cfg.MaxOps = 200
	cfg.MaxInFlight = 2
	sum, err = NewGenerator(cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped == 0 || sum.Count()+sum.Skipped != 200 {
		t.Errorf("answered %d + skipped %d, want some skipped and 200 in all", sum.Count(), sum.Skipped)
	}
	// Latency runs from the intended send time, so it is at least the delay.
	if p50 := sum.Op(OpCreate).P50; p50 < 20*time.Millisecond {
		t.Errorf("create p50 %s, want >= the server's 20ms delay", p50)
	}
}

func TestUnexpectedAnswersAreErrors(t *testing.T) {
	t.Run("wrong keys", func(t *testing.T) {
		hs := httptest.NewServer(newFakeAPI())
		defer hs.Close()
		cfg := testConfig(hs.URL)
		cfg.Rate = 0
		cfg.MaxOps = 100
		cfg.RetailKey, cfg.WholesaleKey = "nope", "nope"
		sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var fourxx int64
		for _, o := range sum.Ops {
			fourxx += o.Errors["4xx"]
		}
		if sum.Errors() != 100 || fourxx != 100 || sum.OrdersCreated != 0 {
			t.Errorf("errors %d (4xx %d), created %d; want every call a 4xx error", sum.Errors(), fourxx, sum.OrdersCreated)
		}
	})
	t.Run("server ignores idempotency keys", func(t *testing.T) {
		api := newFakeAPI()
		api.ignoreIdempotency = true
		hs := httptest.NewServer(api)
		defer hs.Close()
		cfg := testConfig(hs.URL)
		cfg.Rate = 0
		cfg.Concurrency = 2
		cfg.MaxOps = 1500
		cfg.ReplayRatio = 0.2
		sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rep := sum.Op(OpReplay)
		if rep.Count == 0 || rep.Errors[classMismatch] != rep.Count {
			t.Errorf("replays %d, mismatches %v: every replay answered with a new order is an error", rep.Count, rep.Errors)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		hs := httptest.NewServer(newFakeAPI())
		url := hs.URL
		hs.Close()
		cfg := testConfig(url)
		cfg.Rate = 0
		cfg.Concurrency = 1
		cfg.MaxOps = 5
		sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := sum.Op(OpCreate).Errors["net"] + sum.Op(OpList).Errors["net"]; got != 5 {
			t.Errorf("net errors %d, want 5: %+v", got, sum.Ops)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		api := newFakeAPI()
		api.delay = 200 * time.Millisecond
		hs := httptest.NewServer(api)
		defer hs.Close()
		cfg := testConfig(hs.URL)
		cfg.Rate = 0
		cfg.Concurrency = 1
		cfg.MaxOps = 2
		cfg.RequestTimeout = 20 * time.Millisecond
		sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var timeouts int64
		for _, o := range sum.Ops {
			timeouts += o.Errors[classTimeout]
		}
		if timeouts != 2 {
			t.Errorf("timeouts %d, want 2: %+v", timeouts, sum.Ops)
		}
	})
}

func TestProgressLines(t *testing.T) {
	hs := httptest.NewServer(newFakeAPI())
	defer hs.Close()
	cfg := testConfig(hs.URL)
	cfg.Rate = 500
	cfg.Duration = 250 * time.Millisecond
	cfg.ReportEvery = 100 * time.Millisecond
	var out safeBuffer
	sum, err := NewGenerator(cfg, slog.New(slog.DiscardHandler), &out).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	alls := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.Contains(l, "] all ") })
	if len(alls) < 1 || !strings.Contains(out.String(), "p95=") {
		t.Errorf("want progress lines with percentiles:\n%s", out.String())
	}
	if sum.Count() < 100 || sum.Count() > 130 {
		t.Errorf("%d calls in 250ms at 500/s", sum.Count())
	}
}

// safeBuffer is a bytes.Buffer for one writer goroutine at a time plus a
// reader at the end.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
