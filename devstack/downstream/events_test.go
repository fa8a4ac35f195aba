package downstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// orderEvent is an EventBridge envelope as the bus delivers it.
func orderEvent(busID, detailType, eventID string, orderID any, pos int) string {
	id, _ := json.Marshal(orderID)
	return fmt.Sprintf(`{"version":"0","id":%q,"detail-type":%q,"source":"com.anycompany.orders","account":"000000000000",
	  "time":"2026-03-01T12:00:00Z","region":"us-east-1","resources":[],
	  "detail":{"event_id":%q,"occurred_at":"2026-03-01T12:00:00.000001Z","source_position":%d,"order":{"id":%s,"status":"accepted"}}}`,
		busID, detailType, eventID, pos, id)
}

func TestEventsAreRecordedPerServiceAndDeduplicated(t *testing.T) {
	f := newFixture(t, nil)
	post := func(body string) (int, string) { return f.call(t, "POST", "/events", body) }

	code, body := post(orderEvent("b1", "OrderCreated", "p1-created", 42, 1))
	if code != 200 || body != `{"event_id":"p1-created","duplicate":false,"services":["inventory","accounting"]}`+"\n" {
		t.Fatalf("created: %d %s", code, body)
	}
	// The same event again (a bus retry, or the cdc replaying): dropped.
	code, body = post(orderEvent("b2", "OrderCreated", "p1-created", 42, 1))
	if code != 200 || body != `{"event_id":"p1-created","duplicate":true,"services":[]}`+"\n" {
		t.Fatalf("duplicate: %d %s", code, body)
	}
	if code, body = post(orderEvent("b3", "OrderStatusChanged", "p2-status", "42", 2)); code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	if code, body = post(orderEvent("b4", "OrderUpdated", "p3-updated", 42, 3)); code != 200 || body != `{"event_id":"p3-updated","duplicate":false,"services":[]}`+"\n" {
		t.Fatalf("updated (ignored): %d %s", code, body)
	}
	if code, _ = post(`{"detail-type":"OrderCreated","detail":{}}`); code != http.StatusBadRequest {
		t.Errorf("no event_id: %d", code)
	}
	if code, _ = post(`not json`); code != http.StatusBadRequest {
		t.Errorf("not JSON: %d", code)
	}

	got, err := f.client.Events(t.Context(), "42")
	if err != nil {
		t.Fatal(err)
	}
	want := []EventRecord{
		{Service: Inventory, Source: "com.anycompany.orders", EventID: "p1-created", DetailType: "OrderCreated", OrderID: "42", SourcePosition: 1.0, BusEventID: "b1", ReceivedAt: t0},
		{Service: Accounting, Source: "com.anycompany.orders", EventID: "p1-created", DetailType: "OrderCreated", OrderID: "42", SourcePosition: 1.0, BusEventID: "b1", ReceivedAt: t0},
		{Service: Accounting, Source: "com.anycompany.orders", EventID: "p2-status", DetailType: "OrderStatusChanged", OrderID: "42", SourcePosition: 2.0, BusEventID: "b3", ReceivedAt: t0},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events of order 42 (-want +got):\n%s", d)
	}
	stats, err := f.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantStats := Stats{
		Inventory: Counts{Events: 1}, Accounting: Counts{Events: 2},
		Events: EventCounts{Received: 3, Duplicates: 1, Ignored: 1, Invalid: 2,
			Sources: map[string]SourceCounts{"com.anycompany.orders": {Received: 3, Duplicates: 1}}},
	}
	if d := cmp.Diff(wantStats, stats); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
	if err := f.client.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.client.Events(t.Context(), "42"); len(got) != 0 {
		t.Errorf("after reset: %+v", got)
	}
}

func TestEventsHonourFaultsOfInterestedServices(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Accounting.FailRatio = 1 })
	// Accounting reacts to OrderStatusChanged and fails: 503, nothing recorded, so the bus retries.
	if code, _ := f.call(t, "POST", "/events", orderEvent("b1", "OrderStatusChanged", "e1", 7, 1)); code != http.StatusServiceUnavailable {
		t.Fatalf("failing accounting: %d", code)
	}
	if _, err := f.client.SetFaults(t.Context(), Faults{Accounting: &Fault{}}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.call(t, "POST", "/events", orderEvent("b2", "OrderStatusChanged", "e1", 7, 1)); code != 200 || body != `{"event_id":"e1","duplicate":false,"services":["accounting"]}`+"\n" {
		t.Fatalf("healed: %d %s", code, body)
	}
	stats, _ := f.client.Stats(t.Context())
	if d := cmp.Diff(EventCounts{Received: 1, Failed: 1, Sources: map[string]SourceCounts{"com.anycompany.orders": {Received: 1}}}, stats.Events); d != "" {
		t.Errorf("event counts (-want +got):\n%s", d)
	}
}

func TestEventMemoryIsBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRecords = 2 })
	for i, id := range []string{"e1", "e2", "e3"} {
		if code, _ := f.call(t, "POST", "/events", orderEvent("b", "OrderCreated", id, i, i)); code != 200 {
			t.Fatal(code)
		}
	}
	// e1 is forgotten (with its records); e3 is still known.
	if got, _ := f.client.Events(t.Context(), "0"); len(got) != 0 {
		t.Errorf("order 0 still held: %+v", got)
	}
	if _, body := f.call(t, "POST", "/events", orderEvent("b", "OrderCreated", "e3", 2, 2)); body != `{"event_id":"e3","duplicate":true,"services":[]}`+"\n" {
		t.Errorf("e3: %s", body)
	}
	if _, body := f.call(t, "POST", "/events", orderEvent("b", "OrderCreated", "e1", 0, 0)); body != `{"event_id":"e1","duplicate":false,"services":["inventory","accounting"]}`+"\n" {
		t.Errorf("e1 after eviction: %s", body)
	}
}

// createdEvent is an OrderCreated envelope of source with a full order image.
func createdEvent(source, eventID string, orderID any, total string) string {
	id, _ := json.Marshal(orderID)
	return fmt.Sprintf(`{"version":"0","id":"b","detail-type":"OrderCreated","source":%q,"account":"000000000000",
	  "time":"2026-03-01T12:00:00Z","region":"us-east-1","resources":[],
	  "detail":{"event_id":%q,"occurred_at":"2026-03-01T12:00:00.000001Z","source_position":"1",
	    "order":{"id":%s,"customer_id":"c-1","channel":"wholesale","status":"pending","currency":"EUR","total":%q,
	      "items":[{"sku":"SKU-1","name":"Soap","quantity":12,"unit_price":"1.00"},{"sku":"SKU-2","name":"Mop","quantity":1,"unit_price":"%s"}]}}}`,
		source, eventID, id, total, total)
}

// TestOrderCreatedOfEitherSourceReservesAndRecords sends OrderCreated of
// the cdc (a legacy order, whose monolith also called synchronously) and of
// the new service: each reserves inventory and records an accounting entry
// derived from the order image, the legacy order once whatever the path,
// and the stats count received and duplicates per source.
func TestOrderCreatedOfEitherSourceReservesAndRecords(t *testing.T) {
	f := newFixture(t, nil)
	// The monolith's synchronous calls for order 42 (its keys: reserve-/record-<id>).
	if code, body := f.call(t, "POST", "/inventory/v1/reservations", `{"order_id":"42","channel":"wholesale","items":[{"sku":"SKU-1","quantity":12},{"sku":"SKU-2","quantity":1}]}`, "Idempotency-Key", "reserve-42"); code != 201 {
		t.Fatalf("sync reservation: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", "/accounting/v1/entries", `{"order_id":"42","customer_id":"c-1","channel":"wholesale","currency":"EUR","total":"24.50"}`, "Idempotency-Key", "record-42"); code != 201 {
		t.Fatalf("sync entry: %d %s", code, body)
	}
	for _, ev := range []string{
		createdEvent("com.anycompany.orders", "cdc-42", 42, "24.50"),
		createdEvent("com.anycompany.orders.service", "svc-1", "ord_1", "9.99"),
		createdEvent("com.anycompany.orders.service", "svc-1", "ord_1", "9.99"), // a redelivery
	} {
		if code, body := f.call(t, "POST", "/events", ev); code != 200 {
			t.Fatalf("event: %d %s", code, body)
		}
	}
	for _, id := range []string{"42", "ord_1"} {
		res, err := f.client.Received(t.Context(), Inventory, id)
		if err != nil {
			t.Fatal(err)
		}
		ent, err := f.client.Received(t.Context(), Accounting, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || len(ent) != 1 {
			t.Fatalf("order %s: %d reservations, %d entries, want 1 each", id, len(res), len(ent))
		}
		want := &ReservationRequest{OrderID: id, Channel: "wholesale", Items: []ReservationItem{{SKU: "SKU-1", Quantity: 12}, {SKU: "SKU-2", Quantity: 1}}}
		if d := cmp.Diff(want, res[0].Reservation); d != "" {
			t.Errorf("order %s reservation (-want +got):\n%s", id, d)
		}
		if e := ent[0].Entry; e.OrderID != id || e.CustomerID != "c-1" || e.Currency != "EUR" || e.Channel != "wholesale" {
			t.Errorf("order %s entry: %+v", id, e)
		}
	}
	stats, err := f.client.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		// 42: the call, then its event found the same key (a duplicate); ord_1: from its event only.
		Inventory:  Counts{Received: 2, Duplicates: 1, Events: 2},
		Accounting: Counts{Received: 2, Duplicates: 1, Events: 2},
		Events: EventCounts{Received: 2, Duplicates: 1, Sources: map[string]SourceCounts{
			"com.anycompany.orders":         {Received: 1},
			"com.anycompany.orders.service": {Received: 1, Duplicates: 1},
		}},
	}
	if d := cmp.Diff(want, stats); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}
