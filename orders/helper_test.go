package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/sinkauth"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/outbox"
)

const (
	retailKey    = "test-retail-key"
	wholesaleKey = "test-wholesale-key"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// ordersTableSpec is the orders table as `strangler migrate init` creates
// it (migrator.OrdersSpec): key pk, GSI by_customer on customer_id +
// created_at. Written out here so these tests do not depend on the
// migrator package.
func ordersTableSpec(name, index string) ddbtable.Spec {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	return ddbtable.Spec{Create: &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{s("pk"), s("customer_id"), s("created_at")},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("customer_id"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("created_at"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		BillingMode: types.BillingModePayPerRequest,
	}}
}

// env is one order service on its own pair of tables in DynamoDB Local.
type env struct {
	ddb *dynamodb.Client
	cfg orders.Config
	srv *orders.Server
	url string
}

// testSink is the credential of the processor's POST /events in tests.
var testSink = sinkauth.Basic("bus", "test-processor-sink-password")

// newEnv creates fresh tables (orders as migrate init would, the service
// table through orders.Init) and serves the API on a loopback port.
func newEnv(t *testing.T) *env {
	t.Helper()
	ddb := stacktest.DynamoDB(t)
	cfg := orders.DefaultConfig()
	cfg.Table = stacktest.TableName(t, ddb, "orders")
	cfg.ServiceTable = stacktest.TableName(t, ddb, "svc")
	cfg.Processor.Auth = testSink
	cfg.APIKeys, cfg.AdminToken = orderapi.APIKeys{{Key: retailKey, Channel: "retail"}, {Key: wholesaleKey, Channel: "wholesale"}}, "test-orders-admin"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := ddbtable.Ensure(ctx, ddb, ordersTableSpec(cfg.Table, cfg.Index)); err != nil {
		t.Fatal(err)
	}
	if err := orders.Init(ctx, ddb, cfg, quietLogger()); err != nil {
		t.Fatal(err)
	}
	e := &env{ddb: ddb, cfg: cfg, srv: orders.Build(cfg, ddb, quietLogger())}
	ts := httptest.NewServer(e.srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// startProcessing runs the way an order gets accepted in production, all
// in process: a test relay moves the outbox to a real devstack event bus,
// whose rule delivers the service's OrderCreated events to the processor.
func (e *env) startProcessing(t *testing.T) *orders.Processor {
	t.Helper()
	proc := orders.BuildProcessor(e.cfg, e.ddb, quietLogger())
	pts := httptest.NewServer(proc.Handler())
	t.Cleanup(pts.Close)

	dir := t.TempDir()
	bcfg := eventbus.DefaultConfig()
	bcfg.AdminToken = "test-admin-token"
	bcfg.ArchivePath = filepath.Join(dir, "archive.jsonl")
	bcfg.DeadLetterPath = filepath.Join(dir, "dead-letters.jsonl")
	bcfg.Seed = 1
	bcfg.ShutdownTimeout = 2 * time.Second
	bcfg.Rules = []eventbus.RuleConfig{{
		Name:    "orders-processor",
		Pattern: `{"source":["` + outbox.DefaultSource + `"],"detail-type":["OrderCreated"]}`,
		Targets: []eventbus.TargetConfig{{Name: "processor", URL: pts.URL + "/events", Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Connection: testSink}},
	}}
	if err := bcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bus, err := eventbus.New(bcfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := bus.Serve(ctx, ln); err != nil {
			t.Errorf("bus: %v", err)
		}
	}()
	eb, err := awsconf.Local("http://" + ln.Addr().String()).EventBridge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(eb, events.PublisherOptions{Source: outbox.DefaultSource, DeadLetters: failSink{t}})
	go func() {
		defer wg.Done()
		e.relay(ctx, t, pub)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return proc
}

// failSink fails the test on a dead letter: every event here is valid.
type failSink struct{ t *testing.T }

func (f failSink) Add(_ context.Context, dl events.DeadLetter) error {
	f.t.Errorf("dead letter %s: %s", dl.Entry.EventID, dl.Reason)
	return nil
}

// relay is a minimal stand-in for orders/relay (built separately): it polls
// every shard, publishes the records and deletes them.
func (e *env) relay(ctx context.Context, t *testing.T, pub *events.Publisher) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for shard := range e.cfg.Outbox.Shards {
			out, err := e.ddb.Query(ctx, &dynamodb.QueryInput{
				TableName:                 aws.String(e.cfg.ServiceTable),
				KeyConditionExpression:    aws.String("pk = :pk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: outbox.ShardKey(shard)}},
				ConsistentRead:            aws.Bool(true),
			})
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Errorf("relay: %v", err)
				return
			}
			var entries []events.Entry
			for _, item := range out.Items {
				r, err := outbox.FromItem(item)
				if err != nil {
					t.Errorf("relay: %v", err)
					return
				}
				entries = append(entries, r.Entry())
			}
			if len(entries) == 0 {
				continue
			}
			if _, err := pub.Publish(ctx, entries); err != nil {
				if ctx.Err() == nil {
					t.Errorf("relay: publishing: %v", err)
				}
				return
			}
			for _, item := range out.Items {
				if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{
					TableName: aws.String(e.cfg.ServiceTable),
					Key:       map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]},
				}); err != nil && ctx.Err() == nil {
					t.Errorf("relay: deleting: %v", err)
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// call sends a request to the service and returns status, headers and body.
func (e *env) call(t *testing.T, method, path, key string, body any, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func decodeOrder(t *testing.T, b []byte) order.Order {
	t.Helper()
	var o order.Order
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("decoding order %s: %v", b, err)
	}
	return o
}

func retailBody(customer string) map[string]any {
	return map[string]any{
		"customer_id": customer,
		"currency":    "USD",
		"items": []map[string]any{
			{"sku": "CLN-1001", "name": "All-purpose cleaner 1 L", "quantity": 2, "unit_price": "4.99"},
			{"sku": "RTL-2002", "name": "Lavender hand soap 🌿", "quantity": 3, "unit_price": "3.10"},
		},
		"shipping_address": map[string]any{
			"name": "Ana Díaz", "line1": "12 Rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "FR",
		},
		"notes": "leave at the door ✨",
	}
}

// items returns every item of table whose pk starts with prefix ("" for all).
func (e *env) scan(t *testing.T, table string) []map[string]types.AttributeValue {
	t.Helper()
	var all []map[string]types.AttributeValue
	in := &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)}
	for {
		out, err := e.ddb.Scan(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.Items...)
		if out.LastEvaluatedKey == nil {
			return all
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// outboxRecords returns every outbox record in the service table.
func (e *env) outboxRecords(t *testing.T) []outbox.Record {
	t.Helper()
	var recs []outbox.Record
	for shard := range e.cfg.Outbox.Shards {
		out, err := e.ddb.Query(t.Context(), &dynamodb.QueryInput{
			TableName:                 aws.String(e.cfg.ServiceTable),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: outbox.ShardKey(shard)}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range out.Items {
			r, err := outbox.FromItem(item)
			if err != nil {
				t.Fatal(err)
			}
			if r.Shard != shard {
				t.Errorf("record %s in shard %d, want %d", r.SK(), shard, r.Shard)
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// getItem reads the order item id as stored.
func (e *env) getItem(t *testing.T, id string) map[string]types.AttributeValue {
	t.Helper()
	out, err := e.ddb.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(e.cfg.Table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func num(av types.AttributeValue) int64 {
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return -1
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}
