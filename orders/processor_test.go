package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/outbox"
)

// envelopeOf is the EventBridge envelope the bus delivers for r.
func envelopeOf(t *testing.T, r outbox.Record, source string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": "ev-" + r.Seq, "detail-type": r.DetailType, "source": source,
		"account": "000000000000", "time": "2026-03-01T12:00:00Z", "region": "us-east-1",
		"resources": []string{}, "detail": json.RawMessage(r.Detail),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	testSink.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// TestProcessorAcceptsOnce: duplicate deliveries of one OrderCreated, at
// once and later, advance the order pending -> accepted exactly once, with
// one OrderStatusChanged outbox record; every delivery answers 200.
func TestProcessorAcceptsOnce(t *testing.T) {
	e := newEnv(t)
	proc := orders.BuildProcessor(e.cfg, e.ddb, quietLogger())
	pts := httptest.NewServer(proc.Handler())
	t.Cleanup(pts.Close)

	status, _, body := e.call(t, "POST", "/v1/orders", retailKey, retailBody("proc-1"))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	o := decodeOrder(t, body)
	recs := e.outboxRecords(t)
	if len(recs) != 1 {
		t.Fatalf("outbox %+v", recs)
	}
	env := envelopeOf(t, recs[0], outbox.DefaultSource)

	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body := post(t, pts.URL+"/events", env); status != http.StatusOK {
				t.Errorf("delivery: %d %s", status, body)
			}
		}()
	}
	wg.Wait()
	if status, body := post(t, pts.URL+"/events", env); status != http.StatusOK || !strings.Contains(string(body), `"duplicate"`) {
		t.Errorf("late duplicate: %d %s", status, body)
	}

	status, _, body = e.call(t, "GET", "/v1/orders/"+o.ID, retailKey, nil)
	got := decodeOrder(t, body)
	if status != http.StatusOK || got.Status != order.Accepted || got.Version != 2 || !got.UpdatedAt.After(o.UpdatedAt.Time) {
		t.Fatalf("after processing: %d %+v; want accepted, version 2, a later updated_at", status, got)
	}
	var changed []outbox.Record
	for _, r := range e.outboxRecords(t) {
		if r.DetailType == events.OrderStatusChanged {
			changed = append(changed, r)
		}
	}
	if len(changed) != 1 {
		t.Fatalf("%d OrderStatusChanged records, want 1", len(changed))
	}
	var d events.Detail
	if err := json.Unmarshal(changed[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d.Previous["status"] != "pending" || d.Order["status"] != "accepted" {
		t.Errorf("OrderStatusChanged detail: previous %v, order status %v", d.Previous, d.Order["status"])
	}
	results := proc.Registry()
	if n := counterValue(t, results, "orders_processor_events_total", "accepted"); n != 1 {
		t.Errorf("accepted counted %v times, want 1", n)
	}
}

// TestProcessorAnswers: what the bus must not retry is 2xx (other events,
// an order that no longer exists) or 4xx (not an event); what may succeed
// later is 5xx.
func TestProcessorAnswers(t *testing.T) {
	e := newEnv(t)
	proc := orders.BuildProcessor(e.cfg, e.ddb, quietLogger())
	pts := httptest.NewServer(proc.Handler())
	t.Cleanup(pts.Close)

	status, _, body := e.call(t, "POST", "/v1/orders", retailKey, retailBody("proc-2"))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	rec := e.outboxRecords(t)[0]

	other := rec
	other.DetailType = events.OrderCancelled
	missing := rec
	missing.Detail = []byte(strings.Replace(string(rec.Detail), rec.OrderID, "ord_00000000000000000000000000", 1))
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		field  string
		result string
	}{
		{"other detail type", envelopeOf(t, other, outbox.DefaultSource), 200, "", "ignored"},
		{"other source", envelopeOf(t, rec, events.DefaultSource), 200, "", "ignored"},
		{"missing order", envelopeOf(t, missing, outbox.DefaultSource), 200, "", "missing"},
		{"not json", []byte(`{"detail-type":`), 400, "", ""},
		{"no detail-type", []byte(`{"source":"x","detail":{}}`), 400, "detail-type", ""},
		{"no source", []byte(`{"detail-type":"OrderCreated","detail":{}}`), 400, "source", ""},
		{"detail not an object", []byte(`{"detail-type":"OrderCreated","source":"x","detail":"{}"}`), 400, "detail", ""},
		{"no order image", []byte(`{"detail-type":"OrderCreated","source":"` + outbox.DefaultSource + `","detail":{"event_id":"1"}}`), 400, "detail.order", ""},
		{"too large", []byte(`{"detail-type":"` + strings.Repeat("x", 70000) + `"}`), 413, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, pts.URL+"/events", tc.body)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, body, tc.status)
			}
			if tc.status >= 400 {
				var p problem.Problem
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tc.status || p.Field != tc.field {
					t.Errorf("problem %s (err %v), want status %d field %q", body, err, tc.status, tc.field)
				}
				return
			}
			if !strings.Contains(string(body), `"`+tc.result+`"`) {
				t.Errorf("answer %s, want result %s", body, tc.result)
			}
		})
	}

	// The table unreachable (here: missing): 503 so the bus retries.
	broken := e.cfg
	broken.Table = "no_such_table_for_orders_test"
	bproc := orders.BuildProcessor(broken, e.ddb, quietLogger())
	bts := httptest.NewServer(bproc.Handler())
	t.Cleanup(bts.Close)
	if status, body := post(t, bts.URL+"/events", envelopeOf(t, rec, outbox.DefaultSource)); status != http.StatusServiceUnavailable {
		t.Errorf("transient failure: %d %s, want 503", status, body)
	}
}

// TestFaults: the admin API needs its token, refuses bad values naming the
// field, and injected faults answer 503 problems on /v1/ routes only, after
// the injected delay.
func TestFaults(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var slept []time.Duration
	inj := orders.NewInjector(orders.Faults{}, func() float64 { return 0.5 }, func(_ context.Context, d time.Duration) error {
		mu.Lock()
		slept = append(slept, d)
		mu.Unlock()
		return nil
	})
	srv := orders.NewServer(e.cfg, orders.ServerDeps{
		Store:  orders.StoreFor(e.cfg, e.ddb, nil),
		Ready:  func(ctx context.Context) error { return orders.CheckTables(ctx, e.ddb, e.cfg) },
		Faults: inj, Logger: quietLogger(),
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	admin := "Bearer " + e.cfg.AdminToken.Reveal()

	if status, _, _ := e.call(t, "PUT", "/admin/faults", "", map[string]any{"error_ratio": 1}); status != http.StatusUnauthorized {
		t.Errorf("faults without the admin token: %d, want 401", status)
	}
	if status, _, _ := e.call(t, "PUT", "/admin/faults", retailKey, map[string]any{"error_ratio": 1}); status != http.StatusUnauthorized {
		t.Errorf("faults with an API key: %d, want 401", status)
	}
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"error_ratio": 2}, "error_ratio"},
		{map[string]any{"delay": "soon"}, "delay"},
		{map[string]any{"delay": "2h"}, "delay"},
		{map[string]any{"ratio": 1}, "ratio"},
	} {
		status, _, body := e.call(t, "PUT", "/admin/faults", "", tc.body, "Authorization", admin)
		var p problem.Problem
		_ = json.Unmarshal(body, &p)
		if status != http.StatusBadRequest || p.Field != tc.field {
			t.Errorf("PUT %v: %d %s, want 400 naming %q", tc.body, status, body, tc.field)
		}
	}

	status, _, body := e.call(t, "PUT", "/admin/faults", "", map[string]any{"error_ratio": 0.6, "delay": "200ms"}, "Authorization", admin)
	if status != http.StatusOK {
		t.Fatalf("PUT faults: %d %s", status, body)
	}
	if _, _, body := e.call(t, "GET", "/admin/faults", "", nil, "Authorization", admin); string(bytes.TrimSpace(body)) != `{"error_ratio":0.6,"delay":"200ms"}` {
		t.Errorf("GET faults: %s", body)
	}
	status, hdr, body := e.call(t, "GET", "/v1/orders/ord_x", retailKey, nil)
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(hdr.Get("Content-Type"), problem.ContentType) {
		t.Errorf("with error_ratio 0.6 (draw 0.5): %d %s, want a 503 problem", status, body)
	}
	if status, _, _ := e.call(t, "GET", "/healthz", "", nil); status != http.StatusOK {
		t.Errorf("healthz under faults: %d", status)
	}
	mu.Lock()
	if len(slept) != 1 || slept[0] != 200*time.Millisecond {
		t.Errorf("injected delays %v, want one of 200ms", slept)
	}
	mu.Unlock()

	if status, _, _ := e.call(t, "DELETE", "/admin/faults", "", nil, "Authorization", admin); status != http.StatusOK {
		t.Errorf("DELETE faults: %d", status)
	}
	if status, _, body := e.call(t, "GET", "/v1/orders/ord_x", retailKey, nil); status != http.StatusNotFound {
		t.Errorf("after DELETE: %d %s, want 404", status, body)
	}
	if n := counterValue(t, srv.Registry(), "orders_faults_injected_total", ""); n != 1 {
		t.Errorf("orders_faults_injected_total %v, want 1", n)
	}
}

// counterValue sums the counter name of reg over series having a label of
// value label ("" for every series).
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || lp.GetValue() == label
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
