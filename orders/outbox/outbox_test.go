package outbox

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderitem"
)

func TestSequencerIncreases(t *testing.T) {
	var s Sequencer
	now := time.Now()
	prev := ""
	for i := 0; i < 5000; i++ {
		seq := s.Next(now) // the same instant: the counter keeps it increasing
		if len(seq) != 20 || seq <= prev {
			t.Fatalf("seq %q after %q: want 20 digits, strictly increasing", seq, prev)
		}
		prev = seq
	}
}

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)
	st := orderitem.Stored{Order: order.Order{
		ID: "ord_1", CustomerID: "c", Channel: order.Retail, Status: order.Cancelled, Currency: "USD",
		Items: []order.Item{{SKU: "S", Name: "N", Quantity: 1, UnitPrice: 100}}, Total: 100,
		CreatedAt: order.NewTimestamp(at), UpdatedAt: order.NewTimestamp(at), Version: 2,
	}}
	var sq Sequencer
	r, err := NewRecord(Change{Order: st, DetailType: events.OrderCancelled, Previous: map[string]any{"status": "pending", "version": 1}}, sq.Next(at), 4, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.ValidateDetail(r.Detail); err != nil {
		t.Fatalf("the record's detail breaks the schema: %v", err)
	}
	got, err := FromItem(r.Item())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	var d events.Detail
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if e := r.Entry(); e.EventID != d.EventID || d.EventID != events.ID(r.Seq, EventTable, "ord_1") {
		t.Errorf("entry event id %q, detail %q", e.EventID, d.EventID)
	}
	if cmp.Diff([]string{"status", "version"}, d.Changed) != "" {
		t.Errorf("changed = %v", d.Changed)
	}
}
