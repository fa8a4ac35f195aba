package cdc

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/position"
)

// recorder is both sinks of an Applier, recording what it was given.
type recorder struct {
	mu      sync.Mutex
	items   []guard.Item
	entries []events.Entry
	dead    []deadletter.Record
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

func (r *recorder) AddItem(_ context.Context, rec deadletter.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = append(r.dead, rec)
	return nil
}

// TestApplierCoalescesAndDescribes: one key changed three times in a batch
// is written once (its newest image, its newest position) but has three
// events in order with changed/previous; a delete is a tombstone; a row
// DynamoDB cannot hold is dead-lettered, not dropped, with its event.
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
	if res.Coalesced != 2 || res.Dead != 1 || len(rec.items) != 2 || len(rec.entries) != 4 || len(rec.dead) != 1 || rec.dead[0].Payload.Event == nil {
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
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestApplierDeadLettersAKeyWhole: when a key's newest image in a batch
// cannot be written (a value DynamoDB cannot hold, or an item over 400 KB),
// no older image of it is written in its place: every change of the key
// goes to the dead letters with its full row image, and the failed change's
// event is withheld in its dead letter, not published.
func TestApplierDeadLettersAKeyWhole(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint},
		{Name: "status", Attribute: "status", Type: codec.Enum},
		{Name: "notes", Attribute: "notes", Type: codec.String},
		{Name: "d", Attribute: "d", Type: codec.Double},
	}}
	huge := strings.Repeat("n", 500<<10)
	tx := position.Position{Kind: position.GTID, Domain: "0", Server: "1", Seq: 9}
	changes := []Change{
		{Kind: Insert, Key: "1", After: codec.Row{uint64(1), "pending", "ok", 1.5}},
		{Kind: Insert, Key: "2", After: codec.Row{uint64(2), "pending", "ok", nil}},
		{Kind: Update, Key: "1", Before: codec.Row{uint64(1), "pending", "ok", 1.5}, After: codec.Row{uint64(1), "accepted", "ok", 1e300}},
		{Kind: Insert, Key: "3", After: codec.Row{uint64(3), "pending", "ok", nil}},
		{Kind: Update, Key: "3", Before: codec.Row{uint64(3), "pending", "ok", nil}, After: codec.Row{uint64(3), "pending", huge, nil}},
	}
	for i := range changes {
		changes[i].Pos, changes[i].Mapping = tx.At(uint32(i)), m
	}
	rec := &recorder{}
	a := NewApplier(rec, rec, rec, DefaultRules(), time.Hour, time.Now, slog.New(slog.DiscardHandler)).WithEvents("src.test", "bus.test")
	res, err := a.Apply(context.Background(), []Txn{{Pos: tx, Time: time.Now(), Changes: changes}})
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, it := range rec.items {
		written = append(written, it.Key)
	}
	if diff := cmp.Diff([]string{"2"}, written); diff != "" {
		t.Errorf("keys written (-want +got):\n%s", diff)
	}
	type dead struct {
		ID       string
		Withheld string
	}
	var got []dead
	for _, d := range rec.dead {
		w := ""
		if d.Payload.Event != nil {
			w = d.Payload.Event.EventID + " " + d.Payload.Event.Source + " " + d.Payload.Event.Bus
		}
		got = append(got, dead{d.ID, w})
		// The row image is whole and decodes to the change's image.
		row, err := m.RowFromNamedText(d.Payload.Row.Text())
		if err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
		i := slices.IndexFunc(changes, func(c Change) bool { return deadletter.ItemID(c.Key, c.Pos.Number()) == d.ID })
		if diff := cmp.Diff(changes[i].After, row); diff != "" {
			t.Errorf("%s row image (-want +got):\n%s", d.ID, diff)
		}
	}
	id := func(i int) string { return deadletter.ItemID(changes[i].Key, tx.At(uint32(i)).Number()) }
	ev := func(i int) string {
		return events.ID(tx.At(uint32(i)).Number(), "orders", changes[i].Key) + " src.test bus.test"
	}
	want := []dead{{id(0), ""}, {id(2), ev(2)}, {id(3), ""}, {id(4), ev(4)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
	var published []string
	for _, e := range rec.entries {
		published = append(published, e.Key+" "+e.DetailType)
	}
	if diff := cmp.Diff([]string{"1 OrderCreated", "2 OrderCreated", "3 OrderCreated"}, published); diff != "" {
		t.Errorf("events published (-want +got):\n%s", diff)
	}
	if res.Dead != 4 || res.Coalesced != 0 {
		t.Errorf("result %+v", res)
	}
}
