package lambdafn_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/orderapi"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/lambdafn"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
)

const (
	retailKey    = "lambda-retail-key"
	wholesaleKey = "lambda-wholesale-key"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// ordersTableSpec is the orders table as `strangler migrate init` creates
// it (key pk, GSI by_customer on customer_id + created_at), written out so
// these tests need not build the migrator.
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

// fixture is the three functions over fresh tables in DynamoDB Local and a
// bus of their own.
type fixture struct {
	ddb       *dynamodb.Client
	cfg       orders.Config
	rcfg      relay.Config
	bus       *bustest.Bus
	processor lambda.Handler
	outbox    lambda.Handler
	// target is the function the bus's processor rule invokes (the
	// processor, unless a test swaps it).
	target atomic.Value
}

// newFixture builds the functions; rules are the bus's rules (they may
// name the processor target's URL, given to mutate).
func newFixture(t *testing.T, mutate func(cfg *eventbus.Config, processorURL string)) *fixture {
	t.Helper()
	ddb := stacktest.DynamoDB(t)
	cfg := orders.DefaultConfig()
	cfg.Table = stacktest.TableName(t, ddb, "orders")
	cfg.ServiceTable = stacktest.TableName(t, ddb, "svc")
	cfg.APIKeys = orderapi.APIKeys{{Key: retailKey, Channel: "retail"}, {Key: wholesaleKey, Channel: "wholesale"}}
	cfg.AdminToken = "lambda-test-admin"
	cfg.Processor.Auth.APIKeyName, cfg.Processor.Auth.APIKeyValue = "X-Unused", "unused-on-lambda-0123456789"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := ddbtable.Ensure(ctx, ddb, ordersTableSpec(cfg.Table, cfg.Index)); err != nil {
		t.Fatal(err)
	}
	if err := orders.Init(ctx, ddb, cfg, quiet()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{ddb: ddb, cfg: cfg}
	f.setProcessor(ddb)
	target := httptest.NewServer(eventBridgeTarget(func() lambda.Handler { return f.target.Load().(lambda.Handler) }))
	t.Cleanup(target.Close)
	f.bus = bustest.Start(t, func(c *eventbus.Config) {
		if mutate != nil {
			mutate(c, target.URL)
		}
	})
	f.rcfg = relay.DefaultConfig()
	f.rcfg.Table = cfg.ServiceTable
	f.rcfg.ControlTable = stacktest.TableName(t, ddb, "control") // dead letters
	if _, err := ddbtable.Ensure(ctx, ddb, control.Spec(f.rcfg.ControlTable)); err != nil {
		t.Fatal(err)
	}
	f.rcfg.Events.MaxAttempts = 3
	noWait := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	r := lambdafn.BuildRelay(f.rcfg, lambdafn.RelayAPIs{DynamoDB: ddb, EventBridge: f.bus.SDK}, noWait, nil, quiet())
	f.outbox = lambda.NewHandler(lambdafn.NewOutbox(r, f.rcfg.Shards, nil, quiet()).Handle)
	return f
}

// setProcessor builds the processor function over api.
func (f *fixture) setProcessor(api orders.DynamoAPI) {
	f.processor = lambda.NewHandler(lambdafn.NewProcessor(orders.BuildProcessor(f.cfg, api, quiet()), nil).Handle)
	f.target.Store(f.processor)
}

// processorRule routes the service's OrderCreated events to the processor
// function, as the template's rule does.
func processorRule(c *eventbus.Config, url string) {
	c.Rules = []eventbus.RuleConfig{{
		Name:    "orders-processor",
		Pattern: `{"source":["` + outbox.DefaultSource + `"],"detail-type":["OrderCreated"]}`,
		Targets: []eventbus.TargetConfig{{Name: "processor-lambda", URL: url, Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}},
	}}
}

// eventBridgeTarget is the local bus's stand-in for EventBridge invoking a
// Lambda target: the body the bus POSTs is the event, handed to the
// function as JSON; a function error fails the delivery, so the bus retries
// (as Lambda retries an asynchronous invocation).
func eventBridgeTarget(fn func() lambda.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := fn().Invoke(r.Context(), body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// invoke calls fn with payload as the Lambda runtime does and decodes the
// answer into out.
func invoke(t *testing.T, fn lambda.Handler, payload string, out any) error {
	t.Helper()
	b, err := fn.Invoke(t.Context(), []byte(payload))
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decoding the function's answer %s: %v", b, err)
		}
	}
	return nil
}

// streamEvent is the DynamoDB Streams event Lambda delivers for keys (each
// {pk, sk}), as an event source mapping of a KEYS_ONLY stream sends it.
func streamEvent(t *testing.T, table string, records ...streamRec) string {
	t.Helper()
	ev := events.DynamoDBEvent{}
	for i, r := range records {
		ev.Records = append(ev.Records, events.DynamoDBEventRecord{
			AWSRegion: "us-east-1", EventID: "ev" + strconv.Itoa(i), EventName: r.op, EventSource: "aws:dynamodb", EventVersion: "1.1",
			EventSourceArn: "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-12-07T00:00:00.000",
			Change: events.DynamoDBStreamRecord{
				Keys: map[string]events.DynamoDBAttributeValue{
					"pk": events.NewStringAttribute(r.pk), "sk": events.NewStringAttribute(r.sk),
				},
				SequenceNumber: strconv.Itoa(1000 + i), SizeBytes: 64, StreamViewType: "KEYS_ONLY",
			},
		})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type streamRec struct{ op, pk, sk string }

// outboxKeys returns the keys of every outbox record in the service table.
func (f *fixture) outboxKeys(t *testing.T) []streamRec {
	t.Helper()
	var keys []streamRec
	for shard := range f.cfg.Outbox.Shards {
		out, err := f.ddb.Query(t.Context(), &dynamodb.QueryInput{
			TableName:                 aws.String(f.cfg.ServiceTable),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: outbox.ShardKey(shard)}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			keys = append(keys, streamRec{op: "INSERT", pk: str(it["pk"]), sk: str(it["sk"])})
		}
	}
	return keys
}

func str(av types.AttributeValue) string {
	if s, ok := av.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// stream stands in for the service table's DynamoDB Stream and Lambda's
// event source mapping: it wraps the functions' DynamoDB client, and after
// every committed TransactWriteItems hands the keys of the outbox records
// it inserted to the outbox function, in commit order, one batch at a time
// (a stream shard's batches are serial); a batch item failure is delivered
// again from that record.
type stream struct {
	orders.API
	t       *testing.T
	table   string
	outbox  lambda.Handler
	mu      sync.Mutex
	pending []streamRec
	wake    chan struct{}
}

func newStream(t *testing.T, api orders.API, table string, fn lambda.Handler) *stream {
	s := &stream{API: api, t: t, table: table, outbox: fn, wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.deliver(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *stream) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := s.API.TransactWriteItems(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	s.mu.Lock()
	for _, w := range in.TransactItems {
		if w.Put != nil && aws.ToString(w.Put.TableName) == s.table && strings.HasPrefix(str(w.Put.Item["pk"]), "outbox#") {
			s.pending = append(s.pending, streamRec{op: "INSERT", pk: str(w.Put.Item["pk"]), sk: str(w.Put.Item["sk"])})
		}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return out, nil
}

func (s *stream) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			batch := s.pending[:min(len(s.pending), 100)]
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			var resp events.DynamoDBEventResponse
			b, err := s.outbox.Invoke(ctx, []byte(streamEvent(s.t, s.table, batch...)))
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = json.Unmarshal(b, &resp)
			}
			done := len(batch)
			if err != nil {
				done = 0
			} else if len(resp.BatchItemFailures) > 0 {
				done, _ = strconv.Atoi(resp.BatchItemFailures[0].ItemIdentifier)
				done -= 1000
			}
			s.mu.Lock()
			s.pending = s.pending[done:]
			s.mu.Unlock()
			if done == 0 {
				// Lambda retries a failed batch after a pause of its own.
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}
}

func (f *fixture) scanService(t *testing.T) []map[string]types.AttributeValue {
	t.Helper()
	out, err := f.ddb.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(f.cfg.ServiceTable), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Items
}
