package cdc_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/devstack/mysqlsource/sourcetest"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
)

// fixture is one test's source database, DynamoDB tables and bus.
type fixture struct {
	t    *testing.T
	dsn  string
	db   *sql.DB
	ddb  *dynamodb.Client
	bus  *bustest.Bus
	cfg  cdc.Config
	mcfg migrator.Config
	log  *slog.Logger
}

func newFixture(t *testing.T, faults eventbus.FaultConfig) *fixture {
	t.Helper()
	return newFixtureOn(t, sourcetest.Database(t, stacktest.MySQLDatabase(t)), faults)
}

// newFixtureOn is newFixture with the source database at dsn.
func newFixtureOn(t *testing.T, dsn string, faults eventbus.FaultConfig) *fixture {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	ctx := context.Background()
	f := &fixture{t: t, dsn: dsn}
	var err error
	f.db, err = sql.Open("mysql", f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if _, err := legacy.NewSchemaMigrator(f.db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f.ddb = stacktest.DynamoDB(t)
	f.bus = bustest.Start(t, func(c *eventbus.Config) { c.Faults = faults })

	f.mcfg = migrator.DefaultConfig()
	f.mcfg.MySQL.DSN = config.Secret(f.dsn)
	f.mcfg.DynamoDB = stacktest.DynamoDBEndpoint()
	f.mcfg.Table = stacktest.TableName(t, f.ddb, "cdc_orders")
	f.mcfg.ControlTable = stacktest.TableName(t, f.ddb, "cdc_control")
	f.mcfg.MetricsListen = ""
	f.mcfg.Verify.Grace = 500 * time.Millisecond
	if os.Getenv("CDC_TEST_VERBOSE") != "" {
		f.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else {
		f.log = slog.New(slog.DiscardHandler)
	}
	if err := migrator.RunInit(ctx, f.mcfg, migrator.Env{Log: f.log, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}

	f.cfg = cdc.DefaultConfig()
	f.cfg.MySQL.DSN = config.Secret(f.dsn)
	f.cfg.MySQL.Reconnect = 500 * time.Millisecond
	f.cfg.DynamoDB = f.mcfg.DynamoDB
	f.cfg.EventBridge = awsconf.Local(f.bus.URL)
	f.cfg.Table = f.mcfg.Table
	f.cfg.ControlTable = f.mcfg.ControlTable
	f.cfg.MetricsListen = ""
	f.cfg.CheckpointInterval = 0
	f.cfg.Lease.TTL = 2 * time.Second
	if err := f.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// current is the source's position in its resume form (either flavor).
func (f *fixture) current() string {
	f.t.Helper()
	p, err := position.Current(context.Background(), f.db)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.Resume()
}

// running is one in-process cdc.
type running struct {
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func (f *fixture) start(opts cdc.Options, owner string) *running {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := f.cfg
	cfg.Lease.Owner = owner
	r := &running{cancel: cancel, done: make(chan error, 1), reg: prometheus.NewRegistry()}
	go func() {
		r.done <- cdc.Run(ctx, cfg, opts, cdc.Env{Log: f.log.With("owner", owner), Out: io.Discard, Registry: r.reg})
	}()
	f.t.Cleanup(func() { r.stop(f.t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("cdc.Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("cdc.Run did not stop")
	}
}

// verify waits until migrator verify reports DynamoDB equal to MySQL.
func (f *fixture) verify(within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var out bytes.Buffer
		rep, err := migrator.RunVerify(context.Background(), f.mcfg, migrator.VerifyOptions{Sample: 100}, migrator.Env{Log: f.log, Out: &out})
		if err == nil && rep.Equal() {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("DynamoDB never became equal to MySQL: %v\n%s", err, out.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// event is an accepted event, decoded.
type event struct {
	DetailType string
	Detail     events.Detail
	Raw        json.RawMessage
}

func (f *fixture) accepted() []event {
	f.t.Helper()
	var out []event
	for _, e := range f.bus.Accepted(f.t) {
		var d events.Detail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, event{DetailType: e.DetailType, Detail: d, Raw: e.Detail})
	}
	return out
}

// waitEvents waits until the bus accepted at least n events.
func (f *fixture) waitEvents(n int, within time.Duration) []event {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for f.bus.Server.Stats().Accepted < int64(n) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return f.accepted()
}

// byOrder groups events by order id, sorted by source position.
func byOrder(evs []event) map[string][]event {
	out := map[string][]event{}
	for _, e := range evs {
		id := jsonID(e.Detail.Order["id"])
		out[id] = append(out[id], e)
	}
	for _, l := range out {
		sort.SliceStable(l, func(i, j int) bool { return lessNum(l[i].Detail.SourcePosition, l[j].Detail.SourcePosition) })
	}
	return out
}

func jsonID(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func lessNum(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func (f *fixture) item(key string) map[string]types.AttributeValue {
	f.t.Helper()
	out, err := f.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.cfg.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Item
}

func leaseKey(f *fixture) *dynamodb.GetItemInput {
	return &dynamodb.GetItemInput{TableName: aws.String(f.cfg.ControlTable), ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "cdc#orders"}, "sk": &types.AttributeValueMemberS{Value: "lease"},
	}}
}

func itemString(item map[string]types.AttributeValue, k string) string {
	if s, ok := item[k].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
