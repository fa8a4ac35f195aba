package orders_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/orders/outbox"
)

// TestCreateIsAtomic proves one create writes the order (pending, version
// 1, src_pos 0, in the shared item format), its OrderCreated outbox record
// and its idempotency record; a replay answers the first order and writes
// nothing; another body with the key is 422 and writes nothing.
func TestCreateIsAtomic(t *testing.T) {
	e := newEnv(t)
	status, hdr, body := e.call(t, "POST", "/v1/orders", retailKey, retailBody("atomic-1"), "Idempotency-Key", "key-atomic-1")
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	o := decodeOrder(t, body)
	if o.Status != order.Pending || o.Version != 1 || len(o.ID) != len(orderitem.Prefix)+26 || o.ID[:4] != orderitem.Prefix {
		t.Fatalf("new order %+v: want pending, version 1, id ord_ + 26 characters", o)
	}
	if hdr.Get("Location") != "/v1/orders/"+o.ID {
		t.Errorf("Location %q", hdr.Get("Location"))
	}

	// The order item is orderitem.Item of the answer, plus src_pos 0.
	got := e.getItem(t, o.ID)
	want, err := orderitem.Item(orderitem.Stored{Order: o, IdempotencyKey: "key-atomic-1"})
	if err != nil {
		t.Fatal(err)
	}
	if d := codec.Diff(want, got); len(d) != 0 {
		t.Errorf("stored item differs from orderitem.Item: %+v", d)
	}
	if num(got[codec.AttrPos]) != 0 || len(got) != len(want)+1 {
		t.Errorf("item has src_pos %v and %d attributes, want 0 and %d", got[codec.AttrPos], len(got), len(want)+1)
	}

	// One OrderCreated record whose event image is the order.
	recs := e.outboxRecords(t)
	if len(recs) != 1 || recs[0].DetailType != events.OrderCreated || recs[0].OrderID != o.ID ||
		recs[0].Shard != outbox.ShardOf(o.ID, e.cfg.Outbox.Shards) {
		t.Fatalf("outbox records %+v: want one OrderCreated of %s", recs, o.ID)
	}
	var d struct {
		Order json.RawMessage `json:"order"`
	}
	if err := json.Unmarshal(recs[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	img, err := orderitem.FromImage(d.Order)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(orderitem.Stored{Order: o, IdempotencyKey: "key-atomic-1"}, img); diff != "" {
		t.Errorf("event image (-want +got):\n%s", diff)
	}

	// The idempotency record names the order.
	idem, err := e.ddb.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(e.cfg.ServiceTable), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: outbox.IdempotencyKey("key-atomic-1")}, "sk": &types.AttributeValueMemberS{Value: "idem"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := idem.Item[outbox.AttrOrderID].(*types.AttributeValueMemberS); v == nil || v.Value != o.ID {
		t.Errorf("idempotency record %v does not name order %s", idem.Item, o.ID)
	}
	if v, _ := idem.Item[outbox.AttrRequest].(*types.AttributeValueMemberS); v == nil || len(v.Value) != 64 {
		t.Errorf("idempotency record %v has no request fingerprint", idem.Item)
	}

	// A replay answers the first order; nothing new is written.
	status, hdr, body = e.call(t, "POST", "/v1/orders", retailKey, retailBody("atomic-1"), "Idempotency-Key", "key-atomic-1")
	if status != http.StatusCreated || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %s", status, hdr, body)
	}
	if diff := cmp.Diff(o, decodeOrder(t, body)); diff != "" {
		t.Errorf("replay answer (-first +replay):\n%s", diff)
	}
	// Same key, other body (and the same body on the other channel): 422.
	other := retailBody("atomic-1")
	other["currency"] = "GBP"
	if status, _, body := e.call(t, "POST", "/v1/orders", retailKey, other, "Idempotency-Key", "key-atomic-1"); status != http.StatusUnprocessableEntity {
		t.Errorf("same key, other body: %d %s", status, body)
	}
	if n := len(e.outboxRecords(t)); n != 1 {
		t.Errorf("%d outbox records after replay and reuse, want 1", n)
	}
	if n := len(e.scan(t, e.cfg.Table)); n != 1 {
		t.Errorf("%d orders after replay and reuse, want 1", n)
	}
}

// TestConcurrentCreatesOneKey: many first uses of one key at once create
// exactly one order and one OrderCreated record, and all answer it.
func TestConcurrentCreatesOneKey(t *testing.T) {
	e := newEnv(t)
	const n = 12
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, body := e.call(t, "POST", "/v1/orders", retailKey, retailBody("conc-1"), "Idempotency-Key", "key-conc-1")
			if status != http.StatusCreated {
				t.Errorf("concurrent create: %d %s", status, body)
				return
			}
			ids <- decodeOrder(t, body).ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]int{}
	for id := range ids {
		seen[id]++
	}
	if len(seen) != 1 {
		t.Fatalf("%d concurrent creates with one key answered %d orders: %v", n, len(seen), seen)
	}
	if items := e.scan(t, e.cfg.Table); len(items) != 1 {
		t.Errorf("%d order items, want 1", len(items))
	}
	recs := e.outboxRecords(t)
	if len(recs) != 1 || recs[0].DetailType != events.OrderCreated {
		t.Errorf("outbox %+v: want exactly one OrderCreated", recs)
	}
}

// TestDryRunWritesNothing: a create, cancel or patch with the dry-run header
// is validated and answered as if done, and no table changes.
func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	dry := []string{e.cfg.DryRunHeader, "true"}
	status, hdr, body := e.call(t, "POST", "/v1/orders", retailKey, retailBody("dry-1"), append(dry, "Idempotency-Key", "key-dry-1")...)
	if status != http.StatusCreated || hdr.Get(e.cfg.DryRunHeader) != "true" {
		t.Fatalf("dry-run create: %d %v %s", status, hdr, body)
	}
	if o := decodeOrder(t, body); o.Status != order.Pending || o.Version != 1 || o.ID == "" {
		t.Errorf("dry-run order %+v", o)
	}
	bad := retailBody("dry-1")
	delete(bad, "shipping_address")
	if status, _, body := e.call(t, "POST", "/v1/orders", retailKey, bad, dry...); status != http.StatusBadRequest {
		t.Errorf("dry-run of an invalid order: %d %s, want 400", status, body)
	}
	if n := len(e.scan(t, e.cfg.Table)) + len(e.scan(t, e.cfg.ServiceTable)); n != 0 {
		t.Fatalf("a dry-run create wrote %d items", n)
	}

	// On a real (pending) order: a dry cancel answers cancelled, changes nothing.
	status, _, body = e.call(t, "POST", "/v1/orders", retailKey, retailBody("dry-2"))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	o := decodeOrder(t, body)
	before := e.getItem(t, o.ID)
	status, _, body = e.call(t, "POST", "/v1/orders/"+o.ID+"/cancel", retailKey, nil, dry...)
	if c := decodeOrder(t, body); status != http.StatusOK || c.Status != order.Cancelled || c.Version != 2 {
		t.Errorf("dry-run cancel: %d %s", status, body)
	}
	if status, _, body := e.call(t, "PATCH", "/v1/orders/"+o.ID, retailKey, map[string]string{"status": "shipped"}, dry...); status != http.StatusConflict {
		t.Errorf("dry-run patch of a pending order to shipped: %d %s, want 409", status, body)
	}
	if diff := cmp.Diff(codec.Show(&types.AttributeValueMemberM{Value: before}), codec.Show(&types.AttributeValueMemberM{Value: e.getItem(t, o.ID)})); diff != "" {
		t.Errorf("a dry run changed the order:\n%s", diff)
	}
	if n := len(e.outboxRecords(t)); n != 1 {
		t.Errorf("%d outbox records, want only the real create's", n)
	}
}

// TestReadsSkipTombstonesAndServeLegacyItems: a tombstone is absent to get
// and list (also when it fills whole query pages), and an item the backfill
// copied from the legacy table (decimal pk) is served like any other.
func TestReadsSkipTombstonesAndServeLegacyItems(t *testing.T) {
	e := newEnv(t)
	var created []order.Order
	for range 5 {
		status, _, body := e.call(t, "POST", "/v1/orders", retailKey, retailBody("tomb-1"))
		if status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, body)
		}
		created = append(created, decodeOrder(t, body))
	}
	// Tombstone the three newest (the cdc writes deleted=true on a delete).
	for _, o := range created[2:] {
		if _, err := e.ddb.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
			TableName: aws.String(e.cfg.Table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: o.ID}},
			UpdateExpression:          aws.String("SET deleted = :t, src_pos = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":p": &types.AttributeValueMemberN{Value: "9"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if status, _, _ := e.call(t, "GET", "/v1/orders/"+created[4].ID, retailKey, nil); status != http.StatusNotFound {
		t.Errorf("get a tombstone: %d, want 404", status)
	}
	if status, _, _ := e.call(t, "POST", "/v1/orders/"+created[4].ID+"/cancel", retailKey, nil); status != http.StatusNotFound {
		t.Errorf("cancel a tombstone: %d, want 404", status)
	}
	var got []string
	cursor := ""
	for page := 0; page < 5; page++ {
		path := "/v1/orders?limit=1&customer_id=tomb-1"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		status, _, body := e.call(t, "GET", path, retailKey, nil)
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, body)
		}
		var p orderapi.Page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Orders {
			got = append(got, o.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff([]string{created[1].ID, created[0].ID}, got); diff != "" {
		t.Errorf("listing around tombstones (-want +got):\n%s", diff)
	}

	// A legacy-origin item, as the backfill writes it.
	legacyOrder := created[0]
	legacyOrder.ID = "4242"
	legacyOrder.Status = order.Accepted
	item, err := orderitem.Item(orderitem.Stored{Order: legacyOrder})
	if err != nil {
		t.Fatal(err)
	}
	item[codec.AttrPos] = &types.AttributeValueMemberN{Value: "123456"}
	if _, err := e.ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(e.cfg.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
	status, _, body := e.call(t, "GET", "/v1/orders/4242", retailKey, nil)
	if status != http.StatusOK {
		t.Fatalf("get a legacy-origin order: %d %s", status, body)
	}
	if diff := cmp.Diff(legacyOrder, decodeOrder(t, body)); diff != "" {
		t.Errorf("legacy-origin order (-want +got):\n%s", diff)
	}
	if status, _, _ := e.call(t, "GET", "/v1/orders/4242", wholesaleKey, nil); status != http.StatusNotFound {
		t.Errorf("another channel's legacy-origin order: %d, want 404", status)
	}
	// Cancelling it keeps its src_pos (a later cdc write of the row still wins).
	status, _, body = e.call(t, "POST", "/v1/orders/4242/cancel", retailKey, nil)
	if c := decodeOrder(t, body); status != http.StatusOK || c.Status != order.Cancelled || c.Version != legacyOrder.Version+1 {
		t.Fatalf("cancel a legacy-origin order: %d %s", status, body)
	}
	after := e.getItem(t, "4242")
	if num(after[codec.AttrPos]) != 123456 {
		t.Errorf("cancel changed src_pos to %v", after[codec.AttrPos])
	}
	var cancelled *outbox.Record
	for _, r := range e.outboxRecords(t) {
		if r.OrderID == "4242" {
			cancelled = &r
		}
	}
	if cancelled == nil || cancelled.DetailType != events.OrderCancelled {
		t.Fatalf("no OrderCancelled record for 4242: %+v", cancelled)
	}
	var d events.Detail
	if err := json.Unmarshal(cancelled.Detail, &d); err != nil {
		t.Fatal(err)
	}
	wantPrev := map[string]any{"status": "accepted", "updated_at": legacyOrder.UpdatedAt.String(), "version": float64(legacyOrder.Version)}
	if diff := cmp.Diff(wantPrev, d.Previous); diff != "" || fmt.Sprint(d.Changed) != "[status updated_at version]" {
		t.Errorf("OrderCancelled previous (-want +got):\n%s changed %v", diff, d.Changed)
	}
}
