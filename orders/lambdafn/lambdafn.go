// Package lambdafn runs the new order service's three pieces as AWS Lambda
// functions, on the same code as the local stack's processes (one path):
//
//   - Orders serves the order API (orders.Server's http.Handler) to API
//     Gateway HTTP API events (payload v2) through aws-lambda-go-api-proxy;
//   - Processor is the Lambda target of the processor's EventBridge rule:
//     it hands each event to orders.Processor.Process, as the HTTP sink does;
//   - Outbox is the Lambda on the service table's DynamoDB Stream: each
//     stream record of an outbox shard triggers relay passes over that
//     shard (orders/relay: read, publish through events.Publisher, delete,
//     dead-letter), so the stream only says which shard has work and the
//     relay's code does the publishing. docs/aws.md says why this, and not
//     EventBridge Pipes.
//
// The cmd/lambda/* mains load the configuration with LoadOrders or
// LoadRelay and call lambda.Start on a handler built here; the tests invoke
// the same handlers in process with the payloads the services send.
package lambdafn

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/awsiam"
	"github.com/anycompany/strangler/internal/clock"
	"github.com/anycompany/strangler/internal/config"
	busevents "github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/retry"
	"github.com/anycompany/strangler/internal/tracing"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
)

// Part names, as the template's roles and the IAM recording call them.
const (
	PartOrders    = "orders"
	PartProcessor = "processor"
	PartOutbox    = "outbox"
)

// Orders is the order API as a Lambda handler of API Gateway HTTP API
// (payload v2) events. The zero value is not usable; make one with
// NewOrders. It is safe for concurrent use.
type Orders struct {
	adapter *httpadapter.HandlerAdapterV2
	tp      trace.TracerProvider
}

// NewOrders serves srv's routes: every route of the process, so the proxy
// and the contract suite see the same API behind API Gateway. Each request
// is a server span of tp continuing the caller's traceparent (tp nil: not
// traced); the events it causes carry the span's traceparent.
func NewOrders(srv *orders.Server, tp trace.TracerProvider) *Orders {
	return &Orders{adapter: httpadapter.NewV2(srv.Traced(tp)), tp: tp}
}

// Handle answers one API Gateway request; its spans are sent before it
// returns.
func (o *Orders) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	defer flush(ctx, o.tp, slog.Default())
	return o.adapter.ProxyWithContext(awsiam.WithPart(ctx, PartOrders), req)
}

// flush sends the spans tp still holds (a batch of the otlp exporter)
// before an invocation returns: Lambda freezes the process once it has, so
// a batch left for later would go out late or never. A failure is logged,
// not returned: a lost span must not fail (and so retry) the invocation.
func flush(ctx context.Context, tp trace.TracerProvider, log *slog.Logger) {
	f, ok := tp.(interface{ ForceFlush(context.Context) error })
	if !ok {
		return // nil, or tracing off
	}
	if err := f.ForceFlush(ctx); err != nil {
		log.Warn("sending the invocation's spans failed", "err", err)
	}
}

// Processor is the order processor as the Lambda target of its EventBridge
// rule. The zero value is not usable; make one with NewProcessor.
type Processor struct {
	p  *orders.Processor
	tp trace.TracerProvider
}

// NewProcessor wraps p; each event is a consumer span of tp continuing the
// traceparent in the event's detail (tp nil: not traced), made by
// orders.Processor.Process as for the HTTP sink.
func NewProcessor(p *orders.Processor, tp trace.TracerProvider) *Processor {
	p.Trace(tp)
	return &Processor{p: p, tp: tp}
}

// Handle processes one event. An error fails the invocation: EventBridge
// invokes asynchronously, so Lambda retries it (the function's
// MaximumRetryAttempts) and then sends it, with the error, to the
// function's dead-letter queue; an event is never dropped. That holds for
// an event that can never be processed too: the queue keeps it for an
// operator. Its spans are sent before it returns.
func (h *Processor) Handle(ctx context.Context, ev events.EventBridgeEvent) (orders.Outcome, error) {
	defer flush(ctx, h.tp, slog.Default())
	return h.p.Process(awsiam.WithPart(ctx, PartProcessor), orders.Delivery{ID: ev.ID, DetailType: ev.DetailType, Source: ev.Source, Detail: ev.Detail})
}

// Passer makes one relay pass over an outbox shard; *relay.Relay is one.
type Passer interface {
	Pass(ctx context.Context, shard int) (relay.PassResult, error)
}

var _ Passer = (*relay.Relay)(nil)

// Outbox is the outbox publisher on the service table's DynamoDB Stream.
// The zero value is not usable; make one with NewOutbox.
type Outbox struct {
	relay  Passer
	shards int
	tp     trace.TracerProvider
	log    *slog.Logger
}

// NewOutbox publishes the shards (0..shards-1) of r's table; tp is the
// provider r traces with (nil: off), whose spans each invocation sends
// before it returns.
func NewOutbox(r Passer, shards int, tp trace.TracerProvider, log *slog.Logger) *Outbox {
	return &Outbox{relay: r, shards: shards, tp: tp, log: log.With("component", "outbox-lambda")}
}

// Handle publishes every outbox shard that a record of the batch names (an
// INSERT of pk outbox#<n>; the stream's view type may be KEYS_ONLY), one
// shard after the other, each until a pass reads less than a page. Records
// of other items (idempotency keys, dead letters) and REMOVEs (the relay's
// own deletes) are skipped. A shard that fails is reported as a batch item
// failure at its first record, so Lambda delivers the batch again from
// there (ReportBatchItemFailures); publishing again is harmless (the same
// event ids, consumers drop duplicates). A record of a shard this function
// does not know is an error: the configs' shard counts disagree.
func (o *Outbox) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	defer flush(ctx, o.tp, o.log)
	ctx = awsiam.WithPart(ctx, PartOutbox)
	var resp events.DynamoDBEventResponse
	order, first := []int{}, map[int]string{}
	for _, rec := range ev.Records {
		shard, ok, err := o.shardOf(rec)
		if err != nil {
			return resp, err
		}
		if _, seen := first[shard]; ok && !seen {
			order = append(order, shard)
			first[shard] = rec.Change.SequenceNumber
		}
	}
	for _, shard := range order {
		n, err := o.drain(ctx, shard)
		if err != nil {
			o.log.Warn("outbox shard not published; Lambda delivers the batch again", "shard", shard, "published", n, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: first[shard]})
			continue
		}
		o.log.Debug("outbox shard published", "shard", shard, "published", n)
	}
	return resp, nil
}

// shardOf reads the outbox shard a stream record names.
func (o *Outbox) shardOf(rec events.DynamoDBEventRecord) (int, bool, error) {
	if rec.EventName != string(events.DynamoDBOperationTypeInsert) {
		return 0, false, nil
	}
	pk, ok := rec.Change.Keys[outbox.PK]
	if !ok || pk.DataType() != events.DataTypeString {
		return 0, false, fmt.Errorf("stream record %s has no string key %s: is the function on the service table's stream?", rec.EventID, outbox.PK)
	}
	s, ok := strings.CutPrefix(pk.String(), "outbox#")
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= o.shards {
		return 0, false, fmt.Errorf("stream record %s names outbox shard %q, outside 0..%d: set the relay's shards to the order service's outbox.shards", rec.EventID, s, o.shards-1)
	}
	return n, true, nil
}

// drain passes over shard until a pass reads less than a page.
func (o *Outbox) drain(ctx context.Context, shard int) (published int, err error) {
	for {
		res, err := o.relay.Pass(ctx, shard)
		published += res.Published
		if err != nil || !res.Full {
			return published, err
		}
	}
}

// region is the Lambda's region (AWS_REGION, set by the runtime).
func region() string {
	if r := os.Getenv("AWS_REGION"); r != "" {
		return r
	}
	return "us-east-1"
}

// LoadOrders reads the order service's configuration of a Lambda: the
// defaults of orders.DefaultConfig with AWS's endpoints in the function's
// region, then STRANGLER_ORDERS_* variables (the template sets them). The
// processor's HTTP credential guards nothing on Lambda (EventBridge invokes
// the function directly), so unless set it is a random value nobody knows.
func LoadOrders() (orders.Config, error) {
	cfg := orders.DefaultConfig()
	cfg.DynamoDB = awsconf.Endpoint{Region: region(), MaxConns: 128}
	cfg.Processor.Auth.APIKeyName = "X-Strangler-Unused"
	cfg.Processor.Auth.APIKeyValue = config.Secret(strconv.FormatInt(time.Now().UnixNano(), 36) + "-unused-on-lambda")
	if err := config.Load(config.Source{Part: "orders"}, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// LoadRelay reads the outbox publisher's configuration of a Lambda: the
// relay's defaults with AWS's endpoints, then STRANGLER_RELAY_* variables.
// Leases, polling and metrics keys are unused on Lambda: the stream
// serialises a shard's invocations.
func LoadRelay() (relay.Config, error) {
	cfg := relay.DefaultConfig()
	cfg.DynamoDB = awsconf.Endpoint{Region: region(), MaxConns: 128}
	cfg.EventBridge = cfg.DynamoDB
	cfg.MetricsListen = ""
	if err := config.Load(config.Source{Part: "relay"}, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// RelayAPIs are the clients the outbox publisher calls.
type RelayAPIs struct {
	DynamoDB    relay.StoreAPI
	EventBridge busevents.API
}

// BuildRelay wires the relay of cfg over apis as relay.Run does: the
// outbox store, its dead letters and the events publisher, with the
// relay's retry policy waiting on sleep (nil: a timer), tracing with tp
// (nil: off).
func BuildRelay(cfg relay.Config, apis RelayAPIs, sleep func(context.Context, time.Duration) error, tp trace.TracerProvider, log *slog.Logger) *relay.Relay {
	if sleep == nil {
		sleep = clock.Sleep
	}
	store := relay.NewStore(apis.DynamoDB, cfg.Table, cfg.ControlTable, sleep, time.Now)
	dead := relay.NewDeadLetters(store)
	pub := busevents.NewPublisher(apis.EventBridge, busevents.PublisherOptions{
		Source: cfg.Events.Source, Bus: cfg.Events.Bus, Concurrency: cfg.Events.Concurrency,
		Retry: retry.Policy{MaxAttempts: cfg.Events.MaxAttempts, Sleep: sleep}, DeadLetters: dead, Logger: log.With("component", "publisher"),
	})
	return relay.NewRelay(store, pub, dead, cfg.Poll.PageSize, tp, log)
}

// OrdersFromEnv builds the order API function of a Lambda's environment;
// it refuses to start while a table is missing.
func OrdersFromEnv(ctx context.Context, log *slog.Logger) (*Orders, error) {
	cfg, err := LoadOrders()
	if err != nil {
		return nil, err
	}
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	return StartOrders(ctx, cfg, api, log)
}

// StartOrders is the order API function's cold start over api: it refuses
// to start while a table is missing.
func StartOrders(ctx context.Context, cfg orders.Config, api orders.API, log *slog.Logger) (*Orders, error) {
	if err := orders.CheckTables(awsiam.WithPart(ctx, PartOrders), api, cfg); err != nil {
		return nil, fmt.Errorf("not starting: %w", err)
	}
	return NewOrders(orders.Build(cfg, api, log), tracerFromEnv(PartOrders)), nil
}

// tracerFromEnv is the tracer provider tracing.EnvExporter asks for; an
// unusable value is logged and tracing stays off (it must not stop the
// function). Its shutdown is never called: the handlers flush it at the
// end of each invocation instead.
func tracerFromEnv(part string) trace.TracerProvider {
	tp, _, err := tracing.Provider(os.Getenv(tracing.EnvExporter), part, os.Stdout)
	if err != nil {
		slog.Default().Warn("tracing off", "err", err)
		return nil
	}
	return tp
}

// ProcessorFromEnv builds the processor function of a Lambda's environment.
func ProcessorFromEnv(ctx context.Context, log *slog.Logger) (*Processor, error) {
	cfg, err := LoadOrders()
	if err != nil {
		return nil, err
	}
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	return NewProcessor(orders.BuildProcessor(cfg, api, log), tracerFromEnv(PartProcessor)), nil
}

// OutboxFromEnv builds the outbox publisher function of a Lambda's
// environment.
func OutboxFromEnv(ctx context.Context, log *slog.Logger) (*Outbox, error) {
	cfg, err := LoadRelay()
	if err != nil {
		return nil, err
	}
	ddb, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	eb, err := cfg.EventBridge.EventBridge(ctx)
	if err != nil {
		return nil, err
	}
	tp := tracerFromEnv(PartOutbox)
	r := BuildRelay(cfg, RelayAPIs{DynamoDB: ddb, EventBridge: eb}, nil, tp, log.With("component", "relay"))
	return NewOutbox(r, cfg.Shards, tp, log), nil
}
