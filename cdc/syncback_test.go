package cdc_test

import (
	"context"
	"io"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/syncback"
)

// TestStackSyncbackNotEchoed runs the cdc over the real binlog while the
// sync-back applies new-service events: its transactions (tagged by the
// marker row) produce no DynamoDB write and no event, ordinary legacy
// writes in between still flow, and the checkpoint moves past the tagged
// transactions. A plain write of a row with an order_ref is keyed and
// published under the ref.
func TestStackSyncbackNotEchoed(t *testing.T) {
	f := newFixture(t, eventbus.FaultConfig{})
	ctx := context.Background()
	scfg := syncback.DefaultConfig()
	scfg.MySQL.DSN = config.Secret(f.dsn)
	sdb, err := syncback.OpenDB(scfg.MySQL)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if err := syncback.Prepare(ctx, sdb, scfg); err != nil {
		t.Fatal(err)
	}
	applier := syncback.NewApplier(sdb, scfg)
	apply := func(s orderitem.Stored) {
		t.Helper()
		out, err := applier.Apply(ctx, "test#0", "evt-"+s.ID+"-"+strconv.Itoa(int(s.Version)), s)
		if err != nil || out != syncback.Applied {
			t.Fatalf("sync-back of %s v%d: %v, %v", s.ID, s.Version, out, err)
		}
	}

	r := f.start(cdc.Options{From: f.current()}, "a")
	legacyA := f.insert("c1", "accepted", "5.50")
	at := order.NewTimestamp(time.Now())
	echo := orderitem.Stored{Order: order.Order{
		ID: "ord_01ECHO", CustomerID: "c9", Channel: order.Retail, Status: order.Pending, Currency: "USD",
		Items: []order.Item{{SKU: "S-9", Name: "Sponge", Quantity: 1, UnitPrice: 100}}, Total: 100,
		CreatedAt: at, UpdatedAt: at, Version: 1,
	}}
	apply(echo)
	echo.Status, echo.Version = order.Accepted, 2
	apply(echo)
	// The new service changed legacy order A; the sync-back copies it.
	apply(orderitem.Stored{Order: order.Order{
		ID: strconv.FormatInt(legacyA, 10), CustomerID: "c1", Channel: order.Retail, Status: order.Processing, Currency: "EUR",
		Items: []order.Item{{SKU: "S-1", Name: "Soap 🧼", Quantity: 2, UnitPrice: 275}}, Total: 550,
		CreatedAt: at, UpdatedAt: at, Version: 2,
	}})
	sentinel := f.insert("c2", "pending", "1.00")
	f.exec(`INSERT INTO orders (order_ref, customer_id, channel, status, currency, items, total, created_at, updated_at)
		VALUES ('ord_01PLAIN', 'c3', 'retail', 'accepted', 'USD', '[]', '0.00', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`)
	echo.Status, echo.Version = order.Cancelled, 3
	apply(echo) // the last transaction: the checkpoint must move past it
	end, err := position.Parse(f.current())
	if err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := cdc.RunStatus(ctx, f.cfg, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Checkpoint != nil && st.Checkpoint.Pos.Domain == end.Domain && st.Checkpoint.Pos.Seq >= end.Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint (%+v) never reached the last tagged transaction %s", st.Checkpoint, end)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if it := f.item("ord_01ECHO"); it != nil {
		t.Errorf("the synced-back order was echoed into DynamoDB: %v", it)
	}
	if it := f.item(strconv.FormatInt(legacyA, 10)); itemString(it, "status") != "accepted" {
		t.Errorf("legacy order A in DynamoDB: status %q; the sync-back's update of it must not be echoed", itemString(it, "status"))
	}
	if it := f.item(strconv.FormatInt(sentinel, 10)); it == nil {
		t.Error("the ordinary legacy write between tagged transactions did not flow")
	}
	plain := f.item("ord_01PLAIN")
	if plain == nil {
		t.Fatal("a plain write of a row with an order_ref was not written under its ref")
	}
	if _, ok := plain["order_ref"]; ok {
		t.Error("the ref column became an attribute")
	}
	evs := f.accepted() // complete: the checkpoint follows the bus's acknowledgement
	var got []string
	for _, e := range evs {
		got = append(got, e.DetailType+" "+jsonID(e.Detail.Order["id"]))
		if _, ok := e.Detail.Order["order_ref"]; ok {
			t.Errorf("event %s carries the ref column", e.Detail.EventID)
		}
	}
	want := []string{
		events.OrderCreated + " " + strconv.FormatInt(legacyA, 10),
		events.OrderCreated + " " + strconv.FormatInt(sentinel, 10),
		events.OrderCreated + ` "ord_01PLAIN"`,
	}
	sort.Strings(got) // events of different orders may be accepted in any order
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v (none from the sync-back)", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %s, want %s", i, got[i], want[i])
		}
	}
	if n := counter(t, r, "strangler_cdc_tagged_transactions_skipped_total"); n != 4 {
		t.Errorf("tagged transactions skipped: %v, want 4", n)
	}
}

// counter reads an unlabelled counter of r's registry.
func counter(t *testing.T, r *running, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
