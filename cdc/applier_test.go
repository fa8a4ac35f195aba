package cdc

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/position"
)

// recorder is both sinks of an Applier, recording what it was given.
type recorder struct {
	mu      sync.Mutex
	items   []guard.Item
	entries []events.Entry
	dead    []string
}

func (r *recorder) Write(_ context.Context, items []guard.Item) (guard.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, items...)
	return guard.Result{Written: len(items), Calls: 1}, nil
}

func (r *recorder) Publish(_ context.Context, entries []events.Entry) (events.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, entries...)
	return events.Result{Accepted: len(entries), Calls: 1}, nil
}

func (r *recorder) AddChange(_ context.Context, key, pos, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = append(r.dead, key+"@"+pos+": "+reason)
	return nil
}

// TestApplierCoalescesAndDescribes: one key changed three times in a batch
// is written once (its newest image, its newest position) but has three
// events in order with changed/previous; a delete is a tombstone; a row
// DynamoDB cannot hold is dead-lettered, not dropped, and still has its
// event.
func TestApplierCoalescesAndDescribes(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint},
		{Name: "status", Attribute: "status", Type: codec.Enum},
		{Name: "total", Attribute: "total", Type: codec.Decimal, Precision: 12, Scale: 2},
		{Name: "d", Attribute: "d", Type: codec.Double},
	}}
	tx := position.Position{Kind: position.GTID, Domain: "0", Server: "1", Seq: 7}
	row := func(status, total string) codec.Row { return codec.Row{uint64(1), status, total, nil} }
	changes := []Change{
		{Kind: Insert, Key: "1", After: row("pending", "1.00")},
		{Kind: Update, Key: "1", Before: row("pending", "1.00"), After: row("accepted", "1.00")},
		{Kind: Update, Key: "1", Before: row("accepted", "1.00"), After: row("accepted", "2.50")},
		{Kind: Delete, Key: "2", Before: codec.Row{uint64(2), "pending", "3.00", nil}},
		{Kind: Insert, Key: "3", After: codec.Row{uint64(3), "pending", "3.00", 1e300}},
	}
	for i := range changes {
		changes[i].Pos, changes[i].Mapping = tx.At(uint32(i)), m
	}
	rec := &recorder{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := NewApplier(rec, rec, rec, DefaultRules(), time.Hour, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	res, err := a.Apply(context.Background(), []Txn{{Pos: tx, Time: now, Changes: changes}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Coalesced != 2 || res.Dead != 1 || len(rec.items) != 2 || len(rec.entries) != 5 {
		t.Fatalf("result %+v, %d items, %d entries", res, len(rec.items), len(rec.entries))
	}
	if got := rec.items[0].Item["total"].(*types.AttributeValueMemberN).Value; got != "2.50" || rec.items[0].Pos != tx.At(2).Number() {
		t.Errorf("key 1 written as total %s at %s, want its newest image", got, rec.items[0].Pos)
	}
	if _, ok := rec.items[1].Item[codec.AttrDeleted]; !ok {
		t.Errorf("delete not a tombstone: %v", rec.items[1].Item)
	}
	type brief struct {
		Type     string
		Changed  []string
		Previous map[string]any
	}
	var got []brief
	for _, e := range rec.entries {
		var d events.Detail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if err := events.ValidateDetail(e.Detail); err != nil {
			t.Errorf("schema: %v", err)
		}
		got = append(got, brief{e.DetailType, d.Changed, d.Previous})
	}
	want := []brief{
		{Type: events.OrderCreated},
		{events.OrderStatusChanged, []string{"status"}, map[string]any{"status": "pending"}},
		{events.OrderUpdated, []string{"total"}, map[string]any{"total": "1.00"}},
		{Type: events.OrderDeleted},
		{Type: events.OrderCreated},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
