package syncback_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/anycompany/strangler/devstack/mysqlsource/sourcetest"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/syncback"
)

// harness is a sync-back on its own legacy database, served in process.
type harness struct {
	t   *testing.T
	dsn string
	db  *sql.DB
	url string
	reg *prometheus.Registry
	// spans records the handler's spans.
	spans *tracetest.InMemoryExporter
}

// testSink is the credential the tests deliver with, as the bus would.
var testSink = sinkauth.APIKey("X-Test-Sink-Key", "test-syncback-sink-key")

func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dsn: sourcetest.Database(t, stacktest.MySQLDatabase(t)), reg: prometheus.NewRegistry(), spans: tracetest.NewInMemoryExporter()}
	cfg := syncback.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(h.dsn)
	cfg.MaxBodyBytes = 8 << 10
	cfg.Auth = testSink
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	db, err := syncback.OpenDB(cfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db
	ctx := context.Background()
	if err := syncback.Prepare(ctx, db, cfg); err == nil {
		t.Fatal("Prepare accepted a database without the legacy table")
	} else {
		t.Logf("without the table: %v", err)
	}
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syncback.Prepare(ctx, db, cfg); err != nil {
		t.Fatal(err)
	}
	if err := syncback.Prepare(ctx, db, cfg); err != nil {
		t.Fatalf("Prepare is not idempotent: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	handler := syncback.NewHandler(cfg, syncback.NewApplier(db, cfg), db, "test", log, h.reg)
	handler.Trace(sdktrace.NewTracerProvider(sdktrace.WithSyncer(h.spans)))
	srv := httptest.NewServer(handler.Routes())
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// envelope is an event of the new service as the bus delivers it.
func envelope(detailType string, s orderitem.Stored) []byte {
	d := events.Detail{
		// The service derives its events' ids with the table name "orders".
		EventID:        events.ID(s.UpdatedAt.String(), "orders", s.ID+"#"+detailType),
		OccurredAt:     s.UpdatedAt.String(),
		SourcePosition: "0",
		Order:          orderitem.Image(s),
	}
	detail, _ := json.Marshal(d)
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "evt-" + d.EventID, "detail-type": detailType, "source": events.ServiceSource,
		"account": "000000000000", "time": s.UpdatedAt.String(), "region": "us-east-1", "resources": []string{},
		"detail": json.RawMessage(detail),
	})
	return b
}

// post delivers body and returns the status and the answer.
func (h *harness) post(body []byte) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/events", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	testSink.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode/100 != 2 && resp.Header.Get("Content-Type") != "application/problem+json" {
		h.t.Errorf("status %d with Content-Type %q, want problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, out
}

// lifecycle is one order's versions as the new service writes them:
// created (pending), accepted, cancelled.
func lifecycle(id string) []struct {
	detailType string
	s          orderitem.Stored
} {
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	s := orderitem.Stored{Order: order.Order{
		ID: id, CustomerID: "cust-sb", Channel: order.Retail, Status: order.Pending, Currency: "USD",
		Items: []order.Item{{SKU: "CLN-1", Name: "Soap 🧼", Quantity: 3, UnitPrice: 1250}, {SKU: "CLN-2", Name: "Mop", Quantity: 1, UnitPrice: 5}},
		Total: 3755, ShippingAddress: &order.Address{Name: "Zoë", Line1: "1 Rue", City: "Zürich", PostalCode: "8000", Country: "CH"},
		CreatedAt: order.NewTimestamp(at), UpdatedAt: order.NewTimestamp(at), Version: 1,
	}, IdempotencyKey: "idem-" + id}
	created := s
	accepted := s
	accepted.Status, accepted.Version, accepted.UpdatedAt = order.Accepted, 2, order.NewTimestamp(at.Add(time.Second))
	cancelled := accepted
	cancelled.Status, cancelled.Version, cancelled.UpdatedAt, cancelled.Notes = order.Cancelled, 3, order.NewTimestamp(at.Add(2*time.Second)), "changed my mind"
	return []struct {
		detailType string
		s          orderitem.Stored
	}{{events.OrderCreated, created}, {events.OrderStatusChanged, accepted}, {events.OrderCancelled, cancelled}}
}

// rowItem reads pk's row through the codec (as migrate verify does) and
// returns its item.
func (h *harness) rowItem(pk string) map[string]types.AttributeValue {
	h.t.Helper()
	src, err := migrator.OpenSource(config.Secret(h.dsn), 1)
	if err != nil {
		h.t.Fatal(err)
	}
	defer src.Close()
	m, err := codec.Resolve(context.Background(), src, codec.DefaultConfig())
	if err != nil {
		h.t.Fatal(err)
	}
	where, arg := "order_ref = ?", any(pk)
	if !m.IsRefKey(pk) {
		where = "id = ? AND order_ref IS NULL"
	}
	rows, err := src.Query("SELECT "+m.QuotedColumns()+" FROM orders WHERE "+where, arg)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		h.t.Fatalf("no row for %s", pk)
	}
	raw := make([]sql.RawBytes, len(m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	if err := rows.Scan(dest...); err != nil {
		h.t.Fatal(err)
	}
	vals := make([][]byte, len(raw))
	for i, r := range raw {
		vals[i] = r
	}
	row, err := m.RowFromText(vals)
	if err != nil {
		h.t.Fatal(err)
	}
	item, err := m.Item(row)
	if err != nil {
		h.t.Fatal(err)
	}
	return item
}

// wantRow fails unless pk's row maps to exactly the item of s.
func (h *harness) wantRow(pk string, s orderitem.Stored) {
	h.t.Helper()
	want, err := orderitem.Item(s)
	if err != nil {
		h.t.Fatal(err)
	}
	got := h.rowItem(pk)
	if d := codec.Diff(want, got); len(d) > 0 {
		h.t.Errorf("row of %s differs from the image of version %d: %+v", pk, s.Version, d)
	}
}

func (h *harness) counter(outcome string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "strangler_syncback_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	h.t.Fatalf("no strangler_syncback_events_total{outcome=%q}", outcome)
	return 0
}

// markers is the sum of the marker rows' counters: one per transaction
// that changed an order.
func (h *harness) markers() int {
	h.t.Helper()
	var n sql.NullInt64
	if err := h.db.QueryRow("SELECT SUM(applied) FROM " + syncback.DefaultMarkerTable).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return int(n.Int64)
}

// TestDeliveries applies an order's created, accepted and cancelled events
// in order, reversed, and duplicated and shuffled: each ends at the newest
// version with exactly its content; older and repeated deliveries change
// nothing (and leave no marker behind).
func TestDeliveries(t *testing.T) {
	h := start(t)
	begun := time.Now()
	for name, order := range map[string][]int{
		"in order":              {0, 1, 2},
		"reversed":              {2, 1, 0},
		"duplicated, shuffled":  {1, 1, 0, 2, 0, 2, 1},
		"created twice, then 2": {0, 0, 2},
	} {
		t.Run(name, func(t *testing.T) {
			id := "ord_" + strings.ToUpper(strings.NewReplacer(" ", "", ",", "").Replace(name))
			evs := lifecycle(id)
			applied0, stale0, markers0 := h.counter("applied"), h.counter("stale"), h.markers()
			newest := -1
			wantApplied := 0
			for _, i := range order {
				st, out := h.post(envelope(evs[i].detailType, evs[i].s))
				if st != http.StatusOK {
					t.Fatalf("delivery of version %d: %d %v", i+1, st, out)
				}
				want := "stale"
				if i > newest {
					want, newest = "applied", i
					wantApplied++
				}
				if out["outcome"] != want {
					t.Errorf("delivery of version %d after version %d: outcome %v, want %s", i+1, newest+1, out["outcome"], want)
				}
			}
			h.wantRow(id, evs[newest].s)
			if got := h.counter("applied") - applied0; got != float64(wantApplied) {
				t.Errorf("applied counter +%v, want +%d", got, wantApplied)
			}
			if got := h.counter("stale") - stale0; got != float64(len(order)-wantApplied) {
				t.Errorf("stale counter +%v, want +%d", got, len(order)-wantApplied)
			}
			if got := h.markers() - markers0; got != wantApplied {
				t.Errorf("marker rows counted %d transactions, want %d (a stale delivery must roll its marker back)", got, wantApplied)
			}
		})
	}
	// Each case applies version 3 last: the lag is from its updated_at to then.
	last := lifecycle("x")[2].s.UpdatedAt.Time
	if lag := h.gauge("strangler_syncback_lag_seconds"); lag < begun.Sub(last).Seconds() || lag > time.Since(last).Seconds() {
		t.Errorf("sync-back lag %v s, want the seconds from version 3's updated_at to its applying (%v to %v)", lag, begun.Sub(last).Seconds(), time.Since(last).Seconds())
	}
}

// gauge is the value of the gauge name.
func (h *harness) gauge(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	h.t.Fatalf("no gauge %s", name)
	return 0
}

// TestLegacyOrderUpdate applies the new service's change of a legacy order
// (a decimal id) to that row; an older version changes nothing; a decimal
// id without a row is a 409 the bus dead-letters.
func TestLegacyOrderUpdate(t *testing.T) {
	h := start(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := h.db.Exec(`INSERT INTO orders (customer_id, channel, status, currency, items, total, created_at, updated_at, version)
		VALUES ('legacy-cust', 'wholesale', 'accepted', 'EUR', '[{"sku":"WHL-1","name":"Bleach","quantity":10,"unit_price":"3.00"}]', '30.00', ?, ?, 4)`, at, at)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := res.LastInsertId()
	id := strconv.FormatInt(n, 10)
	s := orderitem.Stored{Order: order.Order{
		ID: id, CustomerID: "legacy-cust", Channel: order.Wholesale, Status: order.Processing, Currency: "EUR",
		Items: []order.Item{{SKU: "WHL-1", Name: "Bleach", Quantity: 10, UnitPrice: 300}}, Total: 3000,
		CreatedAt: order.NewTimestamp(at), UpdatedAt: order.NewTimestamp(at.Add(time.Hour)), Version: 5,
	}}
	if st, out := h.post(envelope(events.OrderStatusChanged, s)); st != 200 || out["outcome"] != "applied" {
		t.Fatalf("update of legacy order %s: %d %v", id, st, out)
	}
	h.wantRow(id, s)
	older := s
	older.Status, older.Version = order.Cancelled, 4
	if st, out := h.post(envelope(events.OrderCancelled, older)); st != 200 || out["outcome"] != "stale" {
		t.Fatalf("older version: %d %v, want 200 stale", st, out)
	}
	h.wantRow(id, s)
	if st, out := h.post(envelope(events.OrderStatusChanged, s)); st != 200 || out["outcome"] != "stale" {
		t.Fatalf("the same image again: %d %v, want 200 stale", st, out)
	}
	// Two writers met: legacy moved the order to version 6 (shipped) while
	// the new service cancelled version 5 into its own version 6. The
	// loser is a 409 the bus dead-letters, never a 200 "stale".
	if _, err := h.db.Exec(`UPDATE orders SET status = 'shipped', version = 6, updated_at = ? WHERE id = ?`, at.Add(2*time.Hour), n); err != nil {
		t.Fatal(err)
	}
	lost := s
	lost.Status, lost.Version, lost.UpdatedAt = order.Cancelled, 6, order.NewTimestamp(at.Add(3*time.Hour))
	if st, out := h.post(envelope(events.OrderCancelled, lost)); st != http.StatusConflict || out["title"] != "Lost race" {
		t.Fatalf("a lost race: %d %v, want 409 Lost race", st, out)
	}
	if got := h.counter("lost_race"); got != 1 {
		t.Errorf("lost_race counter %v, want 1", got)
	}
	if _, err := h.db.Exec(`UPDATE orders SET status = 'processing', version = 5, updated_at = ? WHERE id = ?`, at.Add(time.Hour), n); err != nil {
		t.Fatal(err)
	}
	missing := s
	missing.ID = "999999"
	if st, out := h.post(envelope(events.OrderStatusChanged, missing)); st != http.StatusConflict {
		t.Errorf("legacy id without a row: %d %v, want 409", st, out)
	}
	// An ord_ order whose idempotency key a legacy order holds has no place.
	if _, err := h.db.Exec(`UPDATE orders SET idempotency_key = 'taken' WHERE id = ?`, n); err != nil {
		t.Fatal(err)
	}
	clash := lifecycle("ord_CLASH")[0].s
	clash.IdempotencyKey = "taken"
	if st, out := h.post(envelope(events.OrderCreated, clash)); st != http.StatusConflict {
		t.Errorf("idempotency key collision: %d %v, want 409", st, out)
	}
	s.IdempotencyKey = "taken"
	h.wantRow(id, s) // the colliding row is untouched
	if got := h.counter("conflict"); got != 2 {
		t.Errorf("conflict counter %v, want 2", got)
	}
}

// TestMalformed refuses what cannot be an order event of the new service
// with a 400 problem naming the field (the bus dead-letters it), and a body
// over the limit with 413.
func TestMalformed(t *testing.T) {
	h := start(t)
	good := lifecycle("ord_GOOD")[0].s
	mutate := func(f func(map[string]any)) []byte {
		var env map[string]any
		_ = json.Unmarshal(envelope(events.OrderCreated, good), &env)
		f(env)
		b, _ := json.Marshal(env)
		return b
	}
	image := func(f func(map[string]any)) []byte {
		return mutate(func(env map[string]any) { f(env["detail"].(map[string]any)["order"].(map[string]any)) })
	}
	tests := []struct {
		name  string
		body  []byte
		field string
	}{
		{"not JSON", []byte("{nope"), ""},
		{"cdc source", mutate(func(e map[string]any) { e["source"] = events.DefaultSource }), "source"},
		{"no detail type", mutate(func(e map[string]any) { delete(e, "detail-type") }), "detail-type"},
		{"deleted", mutate(func(e map[string]any) { e["detail-type"] = events.OrderDeleted }), "detail-type"},
		{"detail a string", mutate(func(e map[string]any) { e["detail"] = "x" }), "detail"},
		{"no event id", mutate(func(e map[string]any) { delete(e["detail"].(map[string]any), "event_id") }), "detail.event_id"},
		{"no order", mutate(func(e map[string]any) { delete(e["detail"].(map[string]any), "order") }), "detail.order"},
		{"float total", image(func(o map[string]any) { o["total"] = 12.5 }), "detail.order"},
		{"bad id", image(func(o map[string]any) { o["id"] = "x-1" }), "detail.order.id"},
		{"bad status", image(func(o map[string]any) { o["status"] = "lost" }), "detail.order.status"},
		{"bad channel", image(func(o map[string]any) { o["channel"] = "b2b" }), "detail.order.channel"},
		{"version 0", image(func(o map[string]any) { o["version"] = 0 }), "detail.order.version"},
		{"no customer", image(func(o map[string]any) { o["customer_id"] = "" }), "detail.order.customer_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := h.post(tt.body)
			if st != http.StatusBadRequest {
				t.Fatalf("status %d %v, want 400", st, out)
			}
			if f, _ := out["field"].(string); f != tt.field {
				t.Errorf("field %q, want %q (%v)", f, tt.field, out["detail"])
			}
		})
	}
	big := lifecycle("ord_BIG")[0].s
	big.Notes = strings.Repeat("x", 10<<10)
	if st, _ := h.post(envelope(events.OrderCreated, big)); st != http.StatusRequestEntityTooLarge {
		t.Errorf("body over max_body_bytes: %d, want 413", st)
	}
	var n int
	if err := h.db.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows after refused deliveries (err %v), want 0", n, err)
	}
	if got := h.counter("invalid"); got != float64(len(tests)+1) {
		t.Errorf("invalid counter %v, want %d", got, len(tests)+1)
	}
}

// TestRollback is the rollback story at this level: orders written through
// the new service reach the legacy table as events, and the legacy service
// then reads, lists and cancels them by their ord_ ids.
func TestRollback(t *testing.T) {
	h := start(t)
	a, b := lifecycle("ord_01ROLLA"), lifecycle("ord_01ROLLB")
	for _, e := range []struct {
		detailType string
		s          orderitem.Stored
	}{a[0], b[0], a[1]} {
		if st, out := h.post(envelope(e.detailType, e.s)); st != 200 {
			t.Fatalf("delivery: %d %v", st, out)
		}
	}
	lcfg := legacy.DefaultConfig()
	lcfg.MySQL.DSN = config.Secret(h.dsn)
	lcfg.APIKeys = orderapi.APIKeys{{Key: "test-retail-key", Channel: "retail"}}
	lcfg.Downstream.InventoryURL, lcfg.Downstream.AccountingURL = "", ""
	srv := httptest.NewServer(legacy.NewServer(lcfg, legacy.Deps{
		Store: legacy.NewStore(h.db, nil), Notifier: legacy.NewNotifier(lcfg.Downstream, http.DefaultClient), DB: h.db,
		Logger: slog.New(slog.DiscardHandler),
	}).Handler())
	defer srv.Close()
	call := func(method, path string, out any) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer test-retail-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, body)
			}
		}
		return resp.StatusCode
	}
	var got order.Order
	if st := call("GET", "/v1/orders/ord_01ROLLA", &got); st != 200 {
		t.Fatalf("legacy GET of a synced-back order: %d", st)
	}
	if d := cmp.Diff(a[1].s.Order, got); d != "" {
		t.Errorf("legacy serves (-image +got):\n%s", d)
	}
	var page struct{ Orders []order.Order }
	if st := call("GET", "/v1/orders?customer_id=cust-sb", &page); st != 200 || len(page.Orders) != 2 {
		t.Fatalf("legacy list: %d, %d orders, want 2", st, len(page.Orders))
	}
	if st := call("POST", "/v1/orders/ord_01ROLLA/cancel", &got); st != 200 || got.Status != order.Cancelled || got.Version != 3 || got.ID != "ord_01ROLLA" {
		t.Fatalf("legacy cancel: %d %+v", st, got)
	}
	// A late event of the new service (version 2 again) does not undo the
	// legacy cancel.
	if st, out := h.post(envelope(a[1].detailType, a[1].s)); st != 200 || out["outcome"] != "stale" {
		t.Errorf("late delivery after the legacy cancel: %d %v, want stale", st, out)
	}
	if st := call("GET", "/v1/orders/ord_01ROLLA", &got); st != 200 || got.Status != order.Cancelled {
		t.Errorf("after the late delivery: %d %+v", st, got)
	}
}

// TestDeliveryContinuesTrace: a delivery whose detail carries a
// traceparent is a consumer span continuing it.
func TestDeliveryContinuesTrace(t *testing.T) {
	h := start(t)
	const traceID, relay = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ev := lifecycle("ord_TRACED")[0]
	body := bytes.Replace(envelope(ev.detailType, ev.s), []byte(`"event_id":`), []byte(`"traceparent":"00-`+traceID+`-`+relay+`-01","event_id":`), 1)
	if st, out := h.post(body); st != http.StatusOK || out["outcome"] != "applied" {
		t.Fatalf("delivery: %d %v", st, out)
	}
	spans := h.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name != "sync back OrderCreated" || s.SpanContext.TraceID().String() != traceID || s.Parent.SpanID().String() != relay {
		t.Errorf("span %q trace %s parent %s, want sync back OrderCreated in %s under %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), traceID, relay)
	}
}
