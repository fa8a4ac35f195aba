package downstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/internal/sinkauth"
)

const testToken = "test-admin-token"

// testSink is the credential the tests' bus sends to POST /events.
var testSink = sinkauth.Basic("bus", "test-sink-password-0123")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is one stand-in behind httptest with a typed client.
type fixture struct {
	srv    *Server
	url    string
	client *Client
}

func newFixture(t *testing.T, mutate func(*Config), opts ...Option) *fixture {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AdminToken, cfg.EventsAuth = testToken, testSink
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	opts = append([]Option{WithClock(func() time.Time { return t0 })}, opts...)
	s := New(cfg, slog.New(slog.DiscardHandler), opts...)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &fixture{srv: s, url: hs.URL, client: NewClient(hs.URL, testToken, hs.Client())}
}

// call sends one request and returns the status and the body.
func (f *fixture) call(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost && path == "/events" {
		testSink.Apply(req.Header)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const (
	reservationBody = `{"order_id":"123","channel":"retail","items":[{"sku":"CLN-1001","quantity":2}]}`
	entryBody       = `{"order_id":"123","customer_id":"c1","channel":"retail","currency":"USD","total":"12.50"}`
)

func TestRecordsWhatItReceives(t *testing.T) {
	f := newFixture(t, nil)

	code, body := f.call(t, "POST", "/inventory/v1/reservations", reservationBody)
	if code != http.StatusCreated || body != `{"reservation_id":"res_000001","order_id":"123"}`+"\n" {
		t.Fatalf("reservation: %d %s", code, body)
	}
	code, body = f.call(t, "POST", "/accounting/v1/entries", entryBody)
	if code != http.StatusCreated || body != `{"entry_id":"ent_000001","order_id":"123"}`+"\n" {
		t.Fatalf("entry: %d %s", code, body)
	}

	got, err := f.client.Received(t.Context(), Inventory, "123")
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{{ID: "res_000001", OrderID: "123", ReceivedAt: t0, Reservation: &ReservationRequest{
		OrderID: "123", Channel: "retail", Items: []ReservationItem{{SKU: "CLN-1001", Quantity: 2}}}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("inventory records (-want +got):\n%s", d)
	}
	got, err = f.client.Received(t.Context(), Accounting, "123")
	if err != nil {
		t.Fatal(err)
	}
	want = []Record{{ID: "ent_000001", OrderID: "123", ReceivedAt: t0, Entry: &EntryRequest{
		OrderID: "123", CustomerID: "c1", Channel: "retail", Currency: "USD", Total: "12.50"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("accounting records (-want +got):\n%s", d)
	}

	// An order nobody sent is an empty list, not null.
	if code, body := f.call(t, "GET", "/accounting/v1/entries?order_id=999", ""); code != 200 || body != `{"items":[]}`+"\n" {
		t.Errorf("unknown order: %d %s", code, body)
	}
	stats, err := f.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{Inventory: Counts{Received: 1}, Accounting: Counts{Received: 1}}, stats); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, nil)
	key := []string{"Idempotency-Key", "order-123-inventory"}

	c1, b1 := f.call(t, "POST", "/inventory/v1/reservations", reservationBody, key...)
	c2, b2 := f.call(t, "POST", "/inventory/v1/reservations", reservationBody, key...)
	if c1 != 201 || c2 != 200 || b1 != b2 {
		t.Fatalf("first %d %s, repeat %d %s: want 201 then 200 with the same body", c1, b1, c2, b2)
	}
	// The same key with another body is refused and records nothing.
	other := strings.Replace(reservationBody, `"quantity":2`, `"quantity":3`, 1)
	c3, b3 := f.call(t, "POST", "/inventory/v1/reservations", other, key...)
	if p := decodeProblem(t, b3); c3 != http.StatusUnprocessableEntity || p.Field != "Idempotency-Key" {
		t.Errorf("reused key: %d %s", c3, b3)
	}
	// Without a key every call is a new record.
	f.call(t, "POST", "/inventory/v1/reservations", reservationBody)

	recs, err := f.client.Received(t.Context(), Inventory, "123")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	if d := cmp.Diff([]string{"res_000001", "res_000002"}, ids); d != "" {
		t.Errorf("record ids (-want +got):\n%s", d)
	}
	if recs[0].IdempotencyKey != "order-123-inventory" || recs[1].IdempotencyKey != "" {
		t.Errorf("keys: %q, %q", recs[0].IdempotencyKey, recs[1].IdempotencyKey)
	}
	stats, err := f.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Counts{Received: 2, Duplicates: 1}, stats.Inventory); d != "" {
		t.Errorf("inventory counts (-want +got):\n%s", d)
	}
}

func TestFaultsFromConfigAndAdminAPI(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Inventory.FailRatio = 1 })

	code, body := f.call(t, "POST", "/inventory/v1/reservations", reservationBody)
	if p := decodeProblem(t, body); code != http.StatusServiceUnavailable || p.Status != 503 {
		t.Fatalf("failing inventory: %d %s", code, body)
	}
	if code, _ := f.call(t, "POST", "/accounting/v1/entries", entryBody); code != 201 {
		t.Errorf("accounting should be healthy, got %d", code)
	}
	if recs, err := f.client.Received(t.Context(), Inventory, "123"); err != nil || len(recs) != 0 {
		t.Errorf("a failed call must record nothing: %v %v", recs, err)
	}

	// Heal inventory and break accounting at run time.
	got, err := f.client.SetFaults(t.Context(), Faults{Inventory: &Fault{}, Accounting: &Fault{FailRatio: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Faults{Inventory: &Fault{}, Accounting: &Fault{FailRatio: 1}}, got); d != "" {
		t.Errorf("faults (-want +got):\n%s", d)
	}
	if code, _ := f.call(t, "POST", "/inventory/v1/reservations", reservationBody); code != 201 {
		t.Errorf("healed inventory: %d", code)
	}
	if code, _ := f.call(t, "POST", "/accounting/v1/entries", entryBody); code != 503 {
		t.Errorf("broken accounting: %d", code)
	}
	if err := f.client.ClearFaults(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(t, "POST", "/accounting/v1/entries", entryBody); code != 201 {
		t.Errorf("cleared accounting: %d", code)
	}

	stats, err := f.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Inventory: Counts{Received: 1, Failed: 1}, Accounting: Counts{Received: 2, Failed: 1}}
	if d := cmp.Diff(want, stats); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}

func TestFailRatioUsesInjectedRandomness(t *testing.T) {
	draws := []float64{0.1, 0.9, 0.29, 0.31}
	var i int
	random := func() float64 { d := draws[i%len(draws)]; i++; return d }
	f := newFixture(t, func(c *Config) { c.Accounting.FailRatio = 0.3 }, WithRandom(random))

	var codes []int
	for range draws {
		code, _ := f.call(t, "POST", "/accounting/v1/entries", entryBody)
		codes = append(codes, code)
	}
	if d := cmp.Diff([]int{503, 201, 503, 201}, codes); d != "" {
		t.Errorf("codes (-want +got):\n%s", d)
	}
}

func TestDelayIsInjectedAndHonoursCancellation(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return ctx.Err()
	}
	f := newFixture(t, func(c *Config) { c.Inventory.Delay = 250 * time.Millisecond }, WithSleep(sleep))
	if code, _ := f.call(t, "POST", "/inventory/v1/reservations", reservationBody); code != 201 {
		t.Fatalf("delayed call: %d", code)
	}
	if code, _ := f.call(t, "POST", "/accounting/v1/entries", entryBody); code != 201 {
		t.Fatalf("undelayed call: %d", code)
	}
	if d := cmp.Diff([]time.Duration{250 * time.Millisecond}, slept); d != "" {
		t.Errorf("sleeps (-want +got):\n%s", d)
	}

	// With the real sleep, a client that gives up ends the delay and
	// nothing is recorded.
	real := newFixture(t, func(c *Config) { c.Inventory.Delay = time.Minute })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", real.url+"/inventory/v1/reservations", strings.NewReader(reservationBody))
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the client to time out, got %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, metrics := real.call(t, "GET", "/metrics", "")
		if strings.Contains(metrics, `downstream_requests_total{outcome="cancelled",service="inventory"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delayed call was not cancelled; metrics:\n%s", metrics)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stats, err := real.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{}, stats); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}

func TestAdminAuth(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no header", "GET", "/admin/stats", "", 401},
		{"wrong token", "GET", "/admin/stats", "Bearer nope", 401},
		{"not bearer", "GET", "/admin/stats", testToken, 401},
		{"right token", "GET", "/admin/stats", "Bearer " + testToken, 200},
		{"faults without token", "PUT", "/admin/faults", "", 401},
		{"reset without token", "DELETE", "/admin/records", "", 401},
		{"faults with token", "GET", "/admin/faults", "Bearer " + testToken, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.auth != "" {
				header = []string{"Authorization", tc.auth}
			}
			body := ""
			if tc.method == "PUT" {
				body = `{"inventory":{"fail_ratio":1}}`
			}
			code, resp := f.call(t, tc.method, tc.path, body, header...)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, resp)
			}
			if code == 401 {
				if p := decodeProblem(t, resp); p.Status != 401 {
					t.Errorf("want a problem document, got %s", resp)
				}
			}
		})
	}
	// The refused PUT changed nothing.
	fs, err := f.client.SetFaults(t.Context(), Faults{})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Inventory.FailRatio != 0 {
		t.Errorf("an unauthorized PUT changed the faults: %+v", fs.Inventory)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	for _, tc := range []struct {
		name, path, body string
		wantStatus       int
		wantField        string
	}{
		{"malformed JSON", "/inventory/v1/reservations", `{"order_id":`, 400, ""},
		{"missing order_id", "/inventory/v1/reservations", `{"items":[{"sku":"A1","quantity":1}]}`, 400, "order_id"},
		{"numeric order_id", "/inventory/v1/reservations", `{"order_id":123,"items":[{"sku":"A1","quantity":1}]}`, 400, "order_id"},
		{"no items", "/inventory/v1/reservations", `{"order_id":"1","items":[]}`, 400, "items"},
		{"zero quantity", "/inventory/v1/reservations", `{"order_id":"1","items":[{"sku":"A1","quantity":0}]}`, 400, "items[0].quantity"},
		{"bad channel", "/inventory/v1/reservations", `{"order_id":"1","channel":"b2b","items":[{"sku":"A1","quantity":1}]}`, 400, "channel"},
		{"unknown field", "/inventory/v1/reservations", `{"order_id":"1","colour":"red","items":[{"sku":"A1","quantity":1}]}`, 400, "colour"},
		{"entry without order_id", "/accounting/v1/entries", `{"currency":"USD","total":"1.00"}`, 400, "order_id"},
		{"float total", "/accounting/v1/entries", `{"order_id":"1","currency":"USD","total":12.5}`, 400, "total"},
		{"bad total", "/accounting/v1/entries", `{"order_id":"1","currency":"USD","total":"12.505"}`, 400, "total"},
		{"bad currency", "/accounting/v1/entries", `{"order_id":"1","currency":"usd","total":"1.00"}`, 400, "currency"},
		{"too large", "/accounting/v1/entries", `{"order_id":"` + strings.Repeat("9", 2000) + `"}`, 413, ""},
		{"bad fault ratio", "/admin/faults", `{"inventory":{"fail_ratio":2}}`, 400, "inventory.fail_ratio"},
		{"bad fault delay", "/admin/faults", `{"accounting":{"delay":"soon"}}`, 400, "accounting.delay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.path == "/admin/faults" {
				method = "PUT"
			}
			code, body := f.call(t, method, tc.path, tc.body, "Authorization", "Bearer "+testToken)
			p := decodeProblem(t, body)
			if code != tc.wantStatus || p.Field != tc.wantField {
				t.Errorf("got %d field %q, want %d field %q: %s", code, p.Field, tc.wantStatus, tc.wantField, body)
			}
		})
	}
	if code, body := f.call(t, "GET", "/inventory/v1/reservations", ""); code != 400 || decodeProblem(t, body).Field != "order_id" {
		t.Errorf("list without order_id: %d %s", code, body)
	}
	stats, err := f.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Stats{}, stats); d != "" {
		t.Errorf("bad calls must not count (-want +got):\n%s", d)
	}
}

func TestBoundedMemoryForgetsOldestFirst(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRecords = 3 })
	post := func(orderID, key string) int {
		body := strings.Replace(entryBody, `"order_id":"123"`, `"order_id":"`+orderID+`"`, 1)
		code, _ := f.call(t, "POST", "/accounting/v1/entries", body, "Idempotency-Key", key)
		return code
	}
	for i, id := range []string{"1", "2", "3", "4", "5"} {
		if code := post(id, "k"+id); code != 201 {
			t.Fatalf("post %d: %d", i, code)
		}
	}
	for _, tc := range []struct {
		orderID string
		want    int
	}{{"1", 0}, {"2", 0}, {"3", 1}, {"5", 1}} {
		recs, err := f.client.Received(t.Context(), Accounting, tc.orderID)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != tc.want {
			t.Errorf("order %s: %d records, want %d", tc.orderID, len(recs), tc.want)
		}
	}
	// A forgotten key is new again; a remembered one is a duplicate.
	if code := post("1", "k1"); code != 201 {
		t.Errorf("forgotten key: %d, want 201", code)
	}
	if code := post("5", "k5"); code != 200 {
		t.Errorf("remembered key: %d, want 200", code)
	}

	if err := f.client.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code := post("5", "k5"); code != 201 {
		t.Errorf("after reset: %d, want 201", code)
	}
	recs, err := f.client.Received(t.Context(), Accounting, "5")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != "ent_000010" {
		t.Errorf("after reset: %+v (ids keep rising past the reset)", recs)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t, nil)
	if code, body := f.call(t, "GET", "/healthz", ""); code != 200 {
		t.Errorf("healthz: %d %s", code, body)
	}
	f.call(t, "POST", "/inventory/v1/reservations", reservationBody)
	f.call(t, "POST", "/inventory/v1/reservations", `{}`)
	_, metrics := f.call(t, "GET", "/metrics", "")
	for _, want := range []string{
		`downstream_requests_total{outcome="recorded",service="inventory"} 1`,
		`downstream_requests_total{outcome="invalid",service="inventory"} 1`,
		`downstream_requests_total{outcome="recorded",service="accounting"} 0`,
		`downstream_records_held{service="inventory"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, body := f.call(t, "GET", "/nowhere", ""); code != 404 || decodeProblem(t, body).Status != 404 {
		t.Errorf("unknown path: %d %s", code, body)
	}
}

func TestServeShutsDownWhenContextEnds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Inventory.Delay = time.Minute // a call stuck in a delay must not hold the shutdown
	s := New(cfg, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	waitFor(t, func() bool {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	go func() {
		resp, err := http.Post(url+"/inventory/v1/reservations", "application/json", strings.NewReader(reservationBody))
		if err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return within 3s of cancel")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %s", d)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.AdminToken, c.EventsAuth = testToken, testSink
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		key    string
		mutate func(*Config)
	}{
		{"listen", func(c *Config) { c.Listen = "8091" }},
		{"admin_token", func(c *Config) { c.AdminToken = "" }},
		{"events_auth", func(c *Config) { c.EventsAuth = sinkauth.Connection{} }},
		{"events_auth.password", func(c *Config) { c.EventsAuth.Password = "short" }},
		{"max_body_bytes", func(c *Config) { c.MaxBodyBytes = 0 }},
		{"max_records", func(c *Config) { c.MaxRecords = 0 }},
		{"shutdown_timeout", func(c *Config) { c.ShutdownTimeout = 0 }},
		{"inventory.fail_ratio", func(c *Config) { c.Inventory.FailRatio = 1.5 }},
		{"accounting.delay", func(c *Config) { c.Accounting.Delay = -time.Second }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c := DefaultConfig()
			c.AdminToken, c.EventsAuth = testToken, testSink
			tc.mutate(&c)
			err := c.Validate()
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("want a *config.Error, got %v", err)
			}
			if ce.Key != tc.key || ce.Part != "downstream" {
				t.Errorf("error names %s/%s, want downstream/%s: %v", ce.Part, ce.Key, tc.key, err)
			}
		})
	}
}

func TestSleepContext(t *testing.T) {
	if err := clock.Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("short sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := clock.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep: %v", err)
	}
}

func decodeProblem(t *testing.T, body string) problem.Problem {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return problem.Problem{}
	}
	return p
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
