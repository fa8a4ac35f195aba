package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/orders/outbox"
)

// ErrTableMissing is a table the service needs that does not exist (or
// lacks its index); the message says which command creates it.
var ErrTableMissing = errors.New("table missing")

// Describer is the DynamoDB call the table checks use.
type Describer interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// CheckTables proves the orders table (with its listing index) and the
// service table exist, naming the command that creates a missing one.
func CheckTables(ctx context.Context, api Describer, cfg Config) error {
	if err := checkOrdersTable(ctx, api, cfg); err != nil {
		return err
	}
	if _, err := describe(ctx, api, cfg.ServiceTable); err != nil {
		if errors.Is(err, ErrTableMissing) {
			return fmt.Errorf("the service table %s (outbox, idempotency keys) does not exist: run `strangler orders init` first: %w", cfg.ServiceTable, err)
		}
		return err
	}
	return nil
}

func checkOrdersTable(ctx context.Context, api Describer, cfg Config) error {
	t, err := describe(ctx, api, cfg.Table)
	if errors.Is(err, ErrTableMissing) {
		return fmt.Errorf("the orders table %s does not exist: run `strangler migrate init` first: %w", cfg.Table, err)
	}
	if err != nil {
		return err
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if aws.ToString(gsi.IndexName) == cfg.Index {
			return nil
		}
	}
	return fmt.Errorf("the orders table %s has no index %s (customer_id + created_at) for listing: run `strangler migrate init` on a new table, or set index: %w",
		cfg.Table, cfg.Index, ErrTableMissing)
}

func describe(ctx context.Context, api Describer, table string) (*types.TableDescription, error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, ErrTableMissing
	}
	if err != nil {
		return nil, fmt.Errorf("describing table %s: %w", table, err)
	}
	return out.Table, nil
}

// Init creates the service table unless it exists and checks that the
// orders table (created by `strangler migrate init`) exists.
func Init(ctx context.Context, api ddbtable.API, cfg Config, log *slog.Logger) error {
	if err := checkOrdersTable(ctx, api, cfg); err != nil {
		return err
	}
	created, err := ddbtable.Ensure(ctx, api, outbox.Spec(cfg.ServiceTable))
	if err != nil {
		return fmt.Errorf("service table: %w", err)
	}
	state := "exists"
	if created {
		state = "created"
	}
	log.Info("table ready", "component", "orders", "table", cfg.ServiceTable, "role", "service (outbox, idempotency)", "state", state)
	log.Info("table ready", "component", "orders", "table", cfg.Table, "role", "orders", "state", "exists")
	return nil
}

// RunInit is `strangler orders init`.
func RunInit(ctx context.Context, cfg Config, log *slog.Logger) error {
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	return Init(ctx, api, cfg, log)
}

// Run serves the order API until ctx ends, then drains in-flight requests,
// tracing with tp (nil: off). It refuses to start while a table is missing.
func Run(ctx context.Context, cfg Config, tp trace.TracerProvider, log *slog.Logger) error {
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	if err := startupCheck(ctx, api, cfg); err != nil {
		return err
	}
	srv := Build(cfg, api, log)
	return httpserver.Serve(ctx, httpserver.Listener{Addr: cfg.Listen, TLS: cfg.TLS}, srv.Traced(tp), cfg.ShutdownTimeout, log.With("component", "orders"))
}

// RunProcessor serves the order processor (POST /events) until ctx ends,
// tracing with tp (nil: off).
func RunProcessor(ctx context.Context, cfg Config, tp trace.TracerProvider, log *slog.Logger) error {
	api, err := cfg.DynamoDB.DynamoDB(ctx)
	if err != nil {
		return err
	}
	if err := startupCheck(ctx, api, cfg); err != nil {
		return err
	}
	p := BuildProcessor(cfg, api, log)
	p.Trace(tp)
	return httpserver.Serve(ctx, httpserver.Listener{Addr: cfg.Processor.Listen, TLS: cfg.Processor.TLS}, p.Handler(), cfg.ShutdownTimeout, log.With("component", "orders-processor"))
}

func startupCheck(ctx context.Context, api Describer, cfg Config) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := CheckTables(cctx, api, cfg); err != nil {
		return fmt.Errorf("not starting: %w", err)
	}
	return nil
}

// API is every DynamoDB call the service makes.
type API interface {
	DynamoAPI
	Describer
}

// StoreFor builds the Store of cfg over api; onRetry (may be nil) counts
// lost races.
func StoreFor(cfg Config, api DynamoAPI, onRetry func(op string)) *Store {
	return NewStore(api, StoreOptions{
		Table: cfg.Table, Index: cfg.Index, ServiceTable: cfg.ServiceTable, Shards: cfg.Outbox.Shards,
		Attempts: cfg.TransactAttempts, OnRetry: onRetry,
	})
}

// Build wires the order API's Server and its Store over api from cfg.
func Build(cfg Config, api API, log *slog.Logger) *Server {
	var srv *Server
	store := StoreFor(cfg, api, func(op string) { srv.OnRetry(op) })
	srv = NewServer(cfg, ServerDeps{
		Store:  store,
		Ready:  func(ctx context.Context) error { return CheckTables(ctx, api, cfg) },
		Logger: log,
	})
	return srv
}

// BuildProcessor wires the Processor and its Store over api from cfg.
func BuildProcessor(cfg Config, api DynamoAPI, log *slog.Logger) *Processor {
	var p *Processor
	store := StoreFor(cfg, api, func(op string) { p.conflicts.WithLabelValues(op).Inc() })
	p = NewProcessor(cfg, store, log, nil)
	return p
}
