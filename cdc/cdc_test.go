package cdc_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/events"
)

const insertOrder = "INSERT INTO orders (customer_id, channel, status, currency, items, total, shipping_address, notes, created_at, updated_at) VALUES (?, ?, ?, 'EUR', ?, ?, ?, ?, ?, ?)"

func (f *fixture) insert(customer, status string, total string) int64 {
	f.t.Helper()
	now := time.Now().UTC()
	res, err := f.db.Exec(insertOrder, customer, "retail", status, `[{"sku":"S-1","name":"Soap 🧼","quantity":2,"unit_price":"2.75"}]`, total, `{"city":"Zürich","lines":["a",null]}`, "leave at door", now, now)
	if err != nil {
		f.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

// TestStackEveryChangeKind drives inserts, updates of every rule, deletes,
// a multi-change transaction and a key change through the cdc: DynamoDB
// ends equal to MySQL (verify), deletes are tombstones, and each change has
// its event with the right detail type, changed and previous.
func TestStackEveryChangeKind(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	from := f.current()
	f.start(cdc.Options{From: from}, "a")

	// Other tables are ignored, transactional or not.
	f.exec("CREATE TABLE other (id INT PRIMARY KEY, v INT) ENGINE=MyISAM")
	f.exec("CREATE TABLE other_inno (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
	f.exec("INSERT INTO other VALUES (1, 1), (2, 2)")
	a := f.insert("c1", "accepted", "5.50")
	f.exec("INSERT INTO other_inno VALUES (1, 1)")
	f.exec("UPDATE other SET v = v + 1")
	b := f.insert("c2", "pending", "0.01")
	f.exec("UPDATE orders SET status = 'processing', version = version + 1 WHERE id = ?", a)
	f.exec("UPDATE orders SET notes = NULL, total = 7.10 WHERE id = ?", a)
	f.exec("UPDATE orders SET status = 'cancelled' WHERE id = ?", b)
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf("UPDATE orders SET status = 'shipped' WHERE id = %d", a),
		fmt.Sprintf("UPDATE orders SET notes = 'twice in one txn' WHERE id = %d", a),
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	c := f.insert("c3", "pending", "1.00")
	f.exec("DELETE FROM orders WHERE id = ?", b)
	f.exec("UPDATE orders SET id = 1000 WHERE id = ?", c)

	f.verify(15 * time.Second)
	evs := f.waitEvents(11, 10*time.Second)
	for _, e := range evs {
		if err := events.ValidateDetail(e.Raw); err != nil {
			t.Errorf("%s: %v", e.DetailType, err)
		}
	}
	type brief struct {
		Type     string
		Changed  []string
		Previous map[string]any
	}
	got := map[string][]brief{}
	for id, l := range byOrder(evs) {
		for _, e := range l {
			got[id] = append(got[id], brief{e.DetailType, e.Detail.Changed, e.Detail.Previous})
		}
	}
	want := map[string][]brief{
		fmt.Sprint(a): {
			{Type: events.OrderCreated},
			{events.OrderStatusChanged, []string{"status", "version"}, map[string]any{"status": "accepted", "version": float64(1)}},
			{events.OrderUpdated, []string{"total", "notes"}, map[string]any{"total": "5.50", "notes": "leave at door"}},
			{events.OrderStatusChanged, []string{"status"}, map[string]any{"status": "processing"}},
			{events.OrderUpdated, []string{"notes"}, map[string]any{"notes": nil}},
		},
		fmt.Sprint(b): {
			{Type: events.OrderCreated},
			{events.OrderCancelled, []string{"status"}, map[string]any{"status": "pending"}},
			{Type: events.OrderDeleted},
		},
		fmt.Sprint(c): {{Type: events.OrderCreated}, {Type: events.OrderDeleted}},
		"1000":        {{Type: events.OrderCreated}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events by order (-want +got):\n%s", diff)
	}
	// The last event of a carries the full typed after-image.
	last := byOrder(evs)[fmt.Sprint(a)]
	order := last[len(last)-1].Detail.Order
	if order["total"] != "7.10" || order["status"] != "shipped" || order["notes"] != "twice in one txn" {
		t.Errorf("order after-image: %v", order)
	}
	if _, ok := order["created_at"].(string); !ok {
		t.Errorf("created_at is %T, want an RFC 3339 string", order["created_at"])
	}
	// A deleted row is a tombstone.
	tomb := f.item(fmt.Sprint(b))
	if del, ok := tomb["deleted"].(*types.AttributeValueMemberBOOL); !ok || !del.Value || tomb["expires_at"] == nil || tomb["src_pos"] == nil {
		t.Errorf("tombstone of %d: %v", b, tomb)
	}
	// Event ids are unique and deterministic.
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.Detail.EventID] {
			t.Errorf("event id %s repeated", e.Detail.EventID)
		}
		seen[e.Detail.EventID] = true
		if e.Detail.EventID != events.ID(e.Detail.SourcePosition, "orders", jsonID(e.Detail.Order["id"])) {
			t.Errorf("event id %s is not ID(position, table, key)", e.Detail.EventID)
		}
	}
}
