package lambdafn_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/apigw"
	"github.com/anycompany/strangler/internal/contracttest"
	"github.com/anycompany/strangler/internal/deadletter"
	busevents "github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/lambdafn"
	"github.com/anycompany/strangler/orders/outbox"
)

// apiEvent is an API Gateway HTTP API (payload 2.0) event as the service
// sends it to a function: lower-case headers, the raw path and query, the
// request context, the body as a string.
func apiEvent(method, path, query, key, body string) string {
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
		"headers": map[string]string{
			"authorization": "Bearer " + key, "content-type": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com",
			"user-agent": "curl/8.5.0", "x-forwarded-for": "203.0.113.7", "x-forwarded-port": "443", "x-forwarded-proto": "https",
			"x-amzn-trace-id": "Root=1-6750e3c0-0123456789abcdef01234567",
		},
		"requestContext": map[string]any{
			"accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
			"http":      map[string]string{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
			"requestId": "JKJaXmPLvHcESHA=", "routeKey": "$default", "stage": "$default", "time": "07/Dec/2026:06:00:00 +0000", "timeEpoch": 1796623200000,
		},
		"isBase64Encoded": false,
	}
	if query != "" {
		q := map[string]string{}
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			q[k] = v
		}
		ev["queryStringParameters"] = q
	}
	if body != "" {
		ev["body"] = body
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

const orderBody = `{"customer_id":"%s","currency":"USD","items":[{"sku":"CLN-1001","name":"All-purpose cleaner 1 L","quantity":2,"unit_price":"4.99"}],"shipping_address":{"name":"Ana Díaz","line1":"12 Rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"}}`

// TestOrdersFunction: API Gateway v2 events reach the order API's routes
// through the adapter: a create answers 201 with the order, a GET finds it,
// a list by query string finds it, a missing key answers 401 problem+json.
func TestOrdersFunction(t *testing.T) {
	f := newFixture(t, nil)
	fn := lambda.NewHandler(lambdafn.NewOrders(orders.Build(f.cfg, f.ddb, quiet()), nil).Handle)

	var resp events.APIGatewayV2HTTPResponse
	if err := invoke(t, fn, apiEvent("POST", "/v1/orders", "", retailKey, fmt.Sprintf(orderBody, "cust-l1")), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	var created order.Order
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "ord_") || created.Status != order.Pending || created.Total.String() != "9.98" {
		t.Errorf("created %+v", created)
	}

	if err := invoke(t, fn, apiEvent("GET", "/v1/orders/"+created.ID, "", retailKey, ""), &resp); err != nil {
		t.Fatal(err)
	}
	var got order.Order
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &got) != nil {
		t.Fatalf("get: %d %s", resp.StatusCode, resp.Body)
	}
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GET returned another order (-created +got):\n%s", diff)
	}

	if err := invoke(t, fn, apiEvent("GET", "/v1/orders", "customer_id=cust-l1&limit=5", retailKey, ""), &resp); err != nil {
		t.Fatal(err)
	}
	var page struct{ Orders []order.Order }
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &page) != nil || len(page.Orders) != 1 || page.Orders[0].ID != created.ID {
		t.Errorf("list: %d %s", resp.StatusCode, resp.Body)
	}

	if err := invoke(t, fn, apiEvent("GET", "/v1/orders/"+created.ID, "", "not-a-key", ""), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Headers["Content-Type"], "application/problem+json") {
		t.Errorf("bad key: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}

// eventBridgeEvent is the event EventBridge hands a Lambda target.
func eventBridgeEvent(id, source, detailType string, detail []byte) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": id, "detail-type": detailType, "source": source, "account": "123456789012",
		"time": "2026-12-07T06:00:00Z", "region": "us-east-1", "resources": []string{}, "detail": json.RawMessage(detail),
	})
	return string(b)
}

// TestProcessorFunction: an OrderCreated event accepts the order once
// (a duplicate changes nothing), another source is ignored, and an event
// without the order's image fails the invocation with what is wrong, so
// Lambda's retries and the dead-letter queue keep it.
func TestProcessorFunction(t *testing.T) {
	f := newFixture(t, nil)
	store := orders.StoreFor(f.cfg, f.ddb, nil)
	d := order.Draft{CustomerID: "cust-p1", Channel: order.Retail, Currency: "USD",
		Items: []order.Item{{SKU: "CLN-1", Name: "Cleaner", Quantity: 1, UnitPrice: money(t, "2.50")}}, Total: money(t, "2.50")}
	created, err := store.Create(t.Context(), d, "", false)
	if err != nil {
		t.Fatal(err)
	}
	keys := f.outboxKeys(t)
	if len(keys) != 1 {
		t.Fatalf("outbox holds %d records, want 1", len(keys))
	}
	detail := f.detailOf(t, keys[0])

	for i, want := range []string{"accepted", "duplicate"} {
		var out orders.Outcome
		if err := invoke(t, f.processor, eventBridgeEvent(fmt.Sprint("ev-", i), outbox.DefaultSource, busevents.OrderCreated, detail), &out); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		if out != (orders.Outcome{Result: want, OrderID: created.Order.ID, Status: "accepted"}) {
			t.Errorf("delivery %d: %+v, want %s", i, out, want)
		}
	}
	var out orders.Outcome
	if err := invoke(t, f.processor, eventBridgeEvent("ev-x", "com.anycompany.orders", busevents.OrderCreated, detail), &out); err != nil || out.Result != "ignored" {
		t.Errorf("another source: %+v %v", out, err)
	}
	err = invoke(t, f.processor, eventBridgeEvent("ev-bad", outbox.DefaultSource, busevents.OrderCreated, []byte(`{"event_id":"e"}`)), nil)
	var bad *problem.Problem
	if !errors.As(err, &bad) || bad.Field != "detail.order" {
		t.Errorf("an event without the order: %v, want a failed invocation naming detail.order", err)
	}
}

func (f *fixture) detailOf(t *testing.T, k streamRec) []byte {
	t.Helper()
	for _, it := range f.scanService(t) {
		if str(it["pk"]) == k.pk && str(it["sk"]) == k.sk {
			return []byte(str(it["detail"]))
		}
	}
	t.Fatalf("no outbox record %s/%s", k.pk, k.sk)
	return nil
}

func money(t *testing.T, s string) order.Money {
	t.Helper()
	m, err := order.ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOutboxFunction: a stream batch naming outbox records publishes every
// record of their shards to the bus and empties them; records of other
// items and REMOVEs are skipped. While the bus throttles every call, each
// shard is reported as a batch item failure at its first record and nothing
// is deleted; the redelivered batch then publishes each event once more
// with the same event id. A record of a shard outside the configured count
// fails the invocation.
func TestOutboxFunction(t *testing.T) {
	f := newFixture(t, nil)
	store := orders.StoreFor(f.cfg, f.ddb, nil)
	for i := range 6 {
		d := order.Draft{CustomerID: fmt.Sprint("cust-o", i), Channel: order.Retail, Currency: "USD",
			Items: []order.Item{{SKU: "CLN-1", Name: "Cleaner", Quantity: 1, UnitPrice: money(t, "2.50")}}, Total: money(t, "2.50")}
		if _, err := store.Create(t.Context(), d, fmt.Sprint("idem-", i), false); err != nil {
			t.Fatal(err)
		}
	}
	keys := f.outboxKeys(t)
	if len(keys) != 6 {
		t.Fatalf("outbox holds %d records, want 6", len(keys))
	}
	// A record that can never be published (no detail) goes to the dead
	// letters, with the reason, and is not in the way of the others.
	malformed := streamRec{op: "INSERT", pk: keys[0].pk, sk: "00000000000000000001#ord_malformed"}
	if _, err := f.ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(f.cfg.ServiceTable), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: malformed.pk}, "sk": &types.AttributeValueMemberS{Value: malformed.sk},
	}}); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, malformed)
	batch := append([]streamRec{{op: "INSERT", pk: outbox.IdempotencyKey("idem-0"), sk: "idem"}, {op: "REMOVE", pk: keys[0].pk, sk: "gone"}}, keys...)

	f.bus.Server.SetFaults(eventbus.FaultConfig{ThrottleRatio: 1})
	var resp events.DynamoDBEventResponse
	if err := invoke(t, f.outbox, streamEvent(t, f.cfg.ServiceTable, batch...), &resp); err != nil {
		t.Fatal(err)
	}
	wantFailed := map[string]bool{}
	for i, k := range batch {
		if _, seen := wantFailed[k.pk]; k.op == "INSERT" && strings.HasPrefix(k.pk, "outbox#") && !seen {
			wantFailed[k.pk] = true
			wantFailed[fmt.Sprint(1000+i)] = true
		}
	}
	for _, fl := range resp.BatchItemFailures {
		if !wantFailed[fl.ItemIdentifier] {
			t.Errorf("batch item failure %s is not the first record of a shard", fl.ItemIdentifier)
		}
	}
	if len(resp.BatchItemFailures) == 0 || len(f.outboxKeys(t)) != 6 {
		t.Fatalf("with the bus throttling: failures %v, outbox %d records; want a failure per shard and only the malformed record gone", resp.BatchItemFailures, len(f.outboxKeys(t)))
	}

	f.bus.Server.SetFaults(eventbus.FaultConfig{})
	resp = events.DynamoDBEventResponse{}
	if err := invoke(t, f.outbox, streamEvent(t, f.cfg.ServiceTable, batch...), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures %v with a healthy bus", resp.BatchItemFailures)
	}
	if left := f.outboxKeys(t); len(left) != 0 {
		t.Errorf("outbox still holds %v", left)
	}
	ids := map[string]int{}
	for _, ev := range f.bus.Accepted(t) {
		var d struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil || ev.DetailType != busevents.OrderCreated || ev.Source != outbox.DefaultSource {
			t.Errorf("accepted %s %s %s", ev.Source, ev.DetailType, ev.Detail)
		}
		ids[d.EventID]++
	}
	if len(ids) != 6 {
		t.Errorf("the bus accepted %d distinct events, want 6: %v", len(ids), ids)
	}
	dead, err := deadletter.NewStore(f.ddb, f.rcfg.ControlTable, nil).List(t.Context(), deadletter.Relay)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || !strings.HasSuffix(dead[0].ID, "/"+malformed.sk) || !strings.Contains(dead[0].Reason, "malformed") {
		t.Errorf("dead letters %+v, want the malformed record's", dead)
	}

	bad := streamEvent(t, f.cfg.ServiceTable, streamRec{op: "INSERT", pk: "outbox#99", sk: "1#ord_x"})
	if err := invoke(t, f.outbox, bad, nil); err == nil || !strings.Contains(err.Error(), "outbox.shards") {
		t.Errorf("a record of shard 99 of 4: %v, want an error naming outbox.shards", err)
	}
}

// TestContractThroughLambdas runs the order API's contract suite against the
// orders function behind the API Gateway adapter (HTTP -> payload v2 event
// -> function -> response), with orders accepted the AWS way: the service
// table's stream invokes the outbox function, the bus's rule invokes the
// processor function.
func TestContractThroughLambdas(t *testing.T) {
	f := newFixture(t, processorRule)
	// The processor's writes go through the stream too (its
	// OrderStatusChanged records are published like any other).
	st := newStream(t, f.ddb, f.cfg.ServiceTable, f.outbox)
	f.setProcessor(st)
	fn := lambda.NewHandler(lambdafn.NewOrders(orders.Build(f.cfg, st, quiet()), nil).Handle)
	gw := httptest.NewServer(apigw.New(fn, 10<<20))
	t.Cleanup(gw.Close)
	contracttest.Run(t, contracttest.Target{BaseURL: gw.URL, RetailKey: retailKey, WholesaleKey: wholesaleKey, SettleTimeout: 20 * time.Second})
}
