package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
)

// TestMain doubles as the relay process the crash test kills: with
// RELAY_HELPER set, the test binary runs relay.Run with the config in it
// until SIGTERM.
func TestMain(m *testing.M) {
	if raw := os.Getenv("RELAY_HELPER"); raw != "" {
		var cfg relay.Config
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			os.Stderr.WriteString("helper config: " + err.Error() + "\n")
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if err := relay.Run(ctx, cfg, relay.Env{Log: log}); err != nil {
			os.Stderr.WriteString("relay: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// delivery is one event as the receiver got it from the bus.
type delivery struct {
	Source     string
	DetailType string
	EventID    string
	OrderID    string
	Seq        uint64
}

// receiver is an HTTP target of the bus that records every delivery.
type receiver struct {
	mu  sync.Mutex
	got []delivery
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			EventID        string         `json:"event_id"`
			SourcePosition string         `json:"source_position"`
			Order          map[string]any `json:"order"`
		} `json:"detail"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &env); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	seq, _ := strconv.ParseUint(env.Detail.SourcePosition, 10, 64)
	id, _ := env.Detail.Order["id"].(string)
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{Source: env.Source, DetailType: env.DetailType, EventID: env.Detail.EventID, OrderID: id, Seq: seq})
	rc.mu.Unlock()
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// fixture is a service table of its own in DynamoDB Local and a bus of its
// own whose one rule sends the new service's events to a receiver.
type fixture struct {
	t     *testing.T
	ddb   *dynamodb.Client
	table string
	bus   *bustest.Bus
	recv  *receiver
	cfg   relay.Config
	seq   outbox.Sequencer
	store *relay.Store
}

func newFixture(t *testing.T, faults eventbus.FaultConfig) *fixture {
	t.Helper()
	f := &fixture{t: t, ddb: stacktest.DynamoDB(t), recv: &receiver{}}
	f.table = stacktest.TableName(t, f.ddb, "relay")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ddbtable.Ensure(ctx, f.ddb, outbox.Spec(f.table)); err != nil {
		t.Fatal(err)
	}
	target := httptest.NewServer(f.recv)
	t.Cleanup(target.Close)
	f.bus = bustest.Start(t, func(c *eventbus.Config) {
		c.Faults = faults
		c.Rules = []eventbus.RuleConfig{{
			Name: "service-to-receiver", Pattern: `{"source": ["` + outbox.DefaultSource + `"]}`,
			// One delivery at a time: the receiver sees the acceptance order.
			Targets: []eventbus.TargetConfig{{URL: target.URL, Concurrency: 1, MaxAttempts: 10}},
		}}
	})
	f.cfg = relay.DefaultConfig()
	f.cfg.DynamoDB = stacktest.DynamoDBEndpoint()
	f.cfg.EventBridge = awsconf.Local(f.bus.URL)
	f.cfg.Table = f.table
	f.cfg.Shards = 4
	f.cfg.MetricsListen = ""
	f.cfg.Lease.TTL = 2 * time.Second
	f.cfg.ProgressInterval = time.Second
	f.cfg.ControlTable = stacktest.TableName(t, f.ddb, "relay_control")
	f.store = relay.NewStore(f.ddb, f.table, f.cfg.ControlTable, nil, time.Now)
	return f
}

// records builds perOrder records of each of orders orders (created, then
// status changes), in seq order per order, interleaved across orders.
func (f *fixture) records(prefix string, orders, perOrder int) []outbox.Record {
	f.t.Helper()
	now := time.Now()
	var recs []outbox.Record
	for v := 1; v <= perOrder; v++ {
		for i := range orders {
			rec, err := outbox.NewRecord(change(fmt.Sprintf("ord_%s%05d", prefix, i), v, ""), f.seq.Next(now), f.cfg.Shards, now)
			if err != nil {
				f.t.Fatal(err)
			}
			recs = append(recs, rec)
		}
	}
	return recs
}

func change(id string, version int, notes string) outbox.Change {
	at := order.NewTimestamp(time.Now())
	st := orderitem.Stored{Order: order.Order{
		ID: id, CustomerID: "c-" + id, Channel: order.Retail, Status: order.Pending, Currency: "EUR",
		Items: []order.Item{{SKU: "SKU-1", Name: "Soap", Quantity: 2, UnitPrice: 275}}, Total: 550,
		CreatedAt: at, UpdatedAt: at, Version: uint32(version),
	}}
	st.Notes = notes
	c := outbox.Change{Order: st, DetailType: events.OrderCreated}
	if version > 1 {
		c.DetailType, c.Previous = events.OrderStatusChanged, map[string]any{"version": version - 1}
	}
	return c
}

// write puts recs into the outbox as the order service does: Record.Put in
// TransactWriteItems (of up to 100 here).
func (f *fixture) write(recs []outbox.Record) {
	f.t.Helper()
	for start := 0; start < len(recs); start += 100 {
		var items []types.TransactWriteItem
		for _, r := range recs[start:min(start+100, len(recs))] {
			items = append(items, r.Put(f.table))
		}
		if _, err := f.ddb.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			f.t.Fatalf("writing outbox records: %v", err)
		}
	}
}

// backlog counts the records left in the outbox.
func (f *fixture) backlog() int {
	f.t.Helper()
	n := 0
	for s := range f.cfg.Shards {
		var start map[string]types.AttributeValue
		for {
			out, err := f.ddb.Query(context.Background(), &dynamodb.QueryInput{
				TableName: aws.String(f.table), KeyConditionExpression: aws.String("pk = :pk"), ConsistentRead: aws.Bool(true),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": control.S(outbox.ShardKey(s))},
				Select:                    types.SelectCount, ExclusiveStartKey: start,
			})
			if err != nil {
				f.t.Fatal(err)
			}
			n += int(out.Count)
			if start = out.LastEvaluatedKey; start == nil {
				break
			}
		}
	}
	return n
}

// running is a relay in the test process.
type running struct {
	reg  *prometheus.Registry
	stop func()
}

// start runs a relay in the test process as owner until stop or the test's end.
func (f *fixture) start(owner string) *running {
	f.t.Helper()
	cfg := f.cfg
	cfg.Lease.Owner = owner
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testWriter{f.t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("owner", owner)
	go func() { done <- relay.Run(ctx, cfg, relay.Env{Log: log, Registry: reg}) }()
	var once sync.Once
	r := &running{reg: reg, stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("relay %s: %v", owner, err)
			}
		})
	}}
	f.t.Cleanup(r.stop)
	return r
}

// counter reads a counter or gauge without labels (summed over labels).
func (r *running) value(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// process is a relay in a child process (the test binary, see TestMain).
type process struct{ cmd *exec.Cmd }

func (f *fixture) spawn(owner string) *process {
	f.t.Helper()
	cfg := f.cfg
	cfg.Lease.Owner = owner
	raw, err := json.Marshal(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RELAY_HELPER="+string(raw))
	if os.Getenv("RELAY_TEST_VERBOSE") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &process{cmd: cmd}
	f.t.Cleanup(p.kill)
	return p
}

// kill is kill -9.
func (p *process) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkDelivered asserts at-least-once in order: every record's event was
// received, repeats carry the same event id for the same record, and per
// order the first occurrences come in seq order.
func checkDelivered(t *testing.T, recs []outbox.Record, got []delivery) (dups int) {
	t.Helper()
	want := map[string]outbox.Record{}
	for _, r := range recs {
		want[r.Entry().EventID] = r
	}
	seen := map[string]bool{}
	last := map[string]uint64{}
	for _, d := range got {
		r, ok := want[d.EventID]
		if !ok {
			t.Errorf("received event %s that no record carries", d.EventID)
			continue
		}
		if d.OrderID != r.OrderID || fmt.Sprintf("%020d", d.Seq) != r.Seq || d.Source != outbox.DefaultSource || d.DetailType != r.DetailType {
			t.Errorf("event %s: got %+v, record %s/%s %s", d.EventID, d, r.Seq, r.OrderID, r.DetailType)
		}
		if seen[d.EventID] {
			dups++
			continue
		}
		seen[d.EventID] = true
		if d.Seq <= last[d.OrderID] {
			t.Errorf("order %s: event of seq %d received after seq %d", d.OrderID, d.Seq, last[d.OrderID])
		}
		last[d.OrderID] = d.Seq
	}
	missing := 0
	for id := range want {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d records' events never received", missing, len(want))
	}
	return dups
}

func putInput(table string, item map[string]types.AttributeValue) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}
}
