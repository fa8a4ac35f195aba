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
		{Service: Inventory, EventID: "p1-created", DetailType: "OrderCreated", OrderID: "42", SourcePosition: 1.0, BusEventID: "b1", ReceivedAt: t0},
		{Service: Accounting, EventID: "p1-created", DetailType: "OrderCreated", OrderID: "42", SourcePosition: 1.0, BusEventID: "b1", ReceivedAt: t0},
		{Service: Accounting, EventID: "p2-status", DetailType: "OrderStatusChanged", OrderID: "42", SourcePosition: 2.0, BusEventID: "b3", ReceivedAt: t0},
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
		Events: EventCounts{Received: 3, Duplicates: 1, Ignored: 1, Invalid: 2},
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
	if d := cmp.Diff(EventCounts{Received: 1, Failed: 1}, stats.Events); d != "" {
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
