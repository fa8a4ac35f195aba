package migrator_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/loadgen"
	"github.com/anycompany/strangler/devstack/mysqlsource/sourcetest"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/orderitem"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
)

// childEnv carries a backfill config to a child test process (TestMain).
const childEnv = "STRANGLER_TEST_BACKFILL_CHILD"

func TestMain(m *testing.M) {
	if raw := os.Getenv(childEnv); raw != "" {
		var cfg migrator.Config
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			panic(err)
		}
		cfg.MySQL.DSN = config.Secret(os.Getenv(childEnv + "_DSN"))
		_, err := migrator.RunBackfill(context.Background(), cfg, env())
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func env() migrator.Env {
	return migrator.Env{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: io.Discard}
}

// fixture is a seeded legacy table and fresh DynamoDB tables.
type fixture struct {
	cfg    migrator.Config
	db     *sql.DB
	client *dynamodb.Client
}

func newFixture(t *testing.T, rows int64) *fixture {
	t.Helper()
	dsn := sourcetest.Database(t, stacktest.MySQLDatabase(t))
	client := stacktest.DynamoDB(t)
	db, err := legacy.OpenDB(legacy.MySQLConfig{DSN: config.Secret(dsn), MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if rows > 0 {
		lc := loadgen.DefaultConfig()
		if _, err := loadgen.NewSeeder(db, lc, slog.New(slog.NewTextHandler(io.Discard, nil))).Seed(ctx, rows); err != nil {
			t.Fatalf("seeding: %v", err)
		}
	}
	cfg := migrator.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(dsn)
	cfg.DynamoDB = stacktest.DynamoDBEndpoint()
	cfg.Table = stacktest.TableName(t, client, "orders")
	cfg.ControlTable = stacktest.TableName(t, client, "control")
	cfg.MetricsListen = ""
	cfg.Backfill.ChunkSize = 300
	cfg.Backfill.Workers = 3
	cfg.Verify.Grace = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := migrator.RunInit(ctx, cfg, env()); err != nil {
		t.Fatal(err)
	}
	return &fixture{cfg: cfg, db: db, client: client}
}

func (f *fixture) verify(t *testing.T, repair bool) migrator.VerifyReport {
	t.Helper()
	rep, err := migrator.RunVerify(context.Background(), f.cfg, migrator.VerifyOptions{Repair: repair}, env())
	if err != nil && !errors.Is(err, migrator.ErrNotEqual) {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func (f *fixture) chunks(t *testing.T) []migrator.Chunk {
	t.Helper()
	cs, err := migrator.NewJobStore(f.client, f.cfg.ControlTable, f.cfg.JobName(), nil).Chunks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestBackfillEveryModeThenVerifyEqual(t *testing.T) {
	for _, mode := range guard.Modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, 2500)
			f.cfg.Backfill.WriteMode = mode
			sum, err := migrator.RunBackfill(context.Background(), f.cfg, env())
			if err != nil {
				t.Fatal(err)
			}
			if sum.RowsRead != 2500 || sum.RowsWritten != 2500 || sum.Chunks != 9 || sum.StartPosition == "" {
				t.Fatalf("summary %+v: want 2500 rows read and written in 9 chunks, a start position", sum)
			}
			if rep := f.verify(t, false); !rep.Equal() || rep.RowsChecked != 2500 || rep.ItemsChecked != 2500 {
				t.Fatalf("verify after backfill: %+v", rep)
			}
			again, err := migrator.RunBackfill(context.Background(), f.cfg, env())
			if err != nil || again.ChunksThisRun != 0 || again.ChunksFinished != 9 {
				t.Fatalf("rerun of a finished job: %+v, %v; want nothing redone", again, err)
			}
			job, ok, err := migrator.NewJobStore(f.client, f.cfg.ControlTable, f.cfg.JobName(), nil).Job(context.Background())
			if err != nil || !ok || !job.StartPosSet || job.StartPos.String() != sum.StartPosition {
				t.Fatalf("job %+v ok=%v err=%v: want the start position %s recorded", job, ok, err, sum.StartPosition)
			}
			// What the console reads: the job's progress and verify's last result.
			p, ok, err := control.LoadBackfillProgress(context.Background(), f.client, f.cfg.ControlTable, f.cfg.JobName())
			if err != nil || !ok || p.State != "done" || p.ChunksDone != 9 || p.Chunks != 9 || p.RowsDone != 2500 || p.Created.IsZero() {
				t.Errorf("backfill progress %+v ok=%v err=%v: want done, 9 of 9 chunks, 2500 rows", p, ok, err)
			}
			v, ok, err := control.LoadVerifyResult(context.Background(), f.client, f.cfg.ControlTable, f.cfg.Table)
			if err != nil || !ok || !v.Equal || v.Rows != 2500 || v.Items != 2500 || v.Sample != 100 || v.At.IsZero() {
				t.Errorf("verify's last result %+v ok=%v err=%v: want equal, 2500 rows and items, all keys", v, ok, err)
			}
		})
	}
}

// TestBackfillResumesAfterKill9 kills a backfill process mid-run, reruns
// it, and checks that the copy is equal and finished chunks were read once.
func TestBackfillResumesAfterKill9(t *testing.T) {
	f := newFixture(t, 6000)
	f.cfg.Backfill.ChunkSize = 200
	f.cfg.Backfill.Workers = 2
	f.cfg.Backfill.WriteMode = guard.Put
	f.cfg.Backfill.MaxWCU = 1500
	f.cfg.Backfill.LeaseTTL = 2 * time.Second
	raw, err := json.Marshal(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw), childEnv+"_DSN="+f.cfg.MySQL.DSN.Reveal())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	done := 0
	for done < 6 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the child finished only %d chunks in 60s", done)
		}
		time.Sleep(50 * time.Millisecond)
		done = 0
		for _, c := range f.chunks(t) {
			if c.State == "done" {
				done++
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := map[int]bool{}
	for _, c := range f.chunks(t) {
		if c.State == "done" {
			before[c.N] = true
		}
	}
	total := len(f.chunks(t))
	if len(before) >= total {
		t.Fatalf("the child finished all chunks before the kill; slow it down")
	}
	f.cfg.Backfill.MaxWCU = 0
	sum, err := migrator.RunBackfill(context.Background(), f.cfg, env())
	if err != nil {
		t.Fatal(err)
	}
	if sum.ChunksFinished != len(before) || sum.ChunksThisRun != total-len(before) {
		t.Errorf("rerun: %d finished before, %d this run; want %d and %d", sum.ChunksFinished, sum.ChunksThisRun, len(before), total-len(before))
	}
	for _, c := range f.chunks(t) {
		t.Logf("chunk %d: %s reads %d rows %d before=%v", c.N, c.State, c.Reads, c.Rows, before[c.N])
		if c.State != "done" {
			t.Errorf("chunk %d is %s after the rerun", c.N, c.State)
		}
		if before[c.N] && c.Reads != 1 {
			t.Errorf("chunk %d was finished before the kill but read %d times", c.N, c.Reads)
		}
	}
	if rep := f.verify(t, false); !rep.Equal() || rep.RowsChecked != 6000 {
		t.Fatalf("verify after resume: %+v", rep)
	}
}

func TestTwoWorkersShareOneJob(t *testing.T) {
	f := newFixture(t, 3000)
	f.cfg.Backfill.WriteMode = guard.Put
	var wg sync.WaitGroup
	sums := make([]migrator.Summary, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := migrator.RunBackfill(context.Background(), f.cfg, env())
			if err != nil {
				t.Error(err)
			}
			sums[i] = s
		}()
	}
	wg.Wait()
	if sums[0].RowsRead+sums[1].RowsRead != 3000 {
		t.Errorf("two workers read %d + %d rows, want 3000 together", sums[0].RowsRead, sums[1].RowsRead)
	}
	for _, c := range f.chunks(t) {
		if c.State != "done" || c.Reads != 1 {
			t.Errorf("chunk %d: state %s, read %d times; want done, once", c.N, c.State, c.Reads)
		}
	}
}

func TestVerifyFindsAndRepairsDivergence(t *testing.T) {
	f := newFixture(t, 500)
	if _, err := migrator.RunBackfill(context.Background(), f.cfg, env()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := func(k string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}}
	}
	if _, err := f.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.cfg.Table), Key: key("7"),
		UpdateExpression:          aws.String("SET #t = :t"),
		ExpressionAttributeNames:  map[string]string{"#t": "total"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberN{Value: "0.01"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.cfg.Table), Key: key("8")}); err != nil {
		t.Fatal(err)
	}
	extra := key("999999")
	extra["src_pos"] = &types.AttributeValueMemberN{Value: "1"}
	if _, err := f.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.cfg.Table), Item: extra}); err != nil {
		t.Fatal(err)
	}
	rep := f.verify(t, false)
	if rep.Different != 1 || rep.Missing != 1 || rep.Extra != 1 {
		t.Fatalf("verify found %+v; want 1 different, 1 missing, 1 extra", rep)
	}
	for _, d := range rep.Differences {
		if d.Key == "7" && (len(d.Fields) != 1 || d.Fields[0].Attribute != "total" || d.Fields[0].Got != "0.01") {
			t.Errorf("field diff of key 7: %+v", d.Fields)
		}
	}
	if rep := f.verify(t, true); rep.Repaired != 3 || !rep.Equal() {
		t.Fatalf("repair: %+v; want 3 repaired", rep)
	}
	if rep := f.verify(t, false); !rep.Equal() {
		t.Fatalf("after repair: %+v", rep)
	}
	// The extra item became a tombstone, not a deletion (invariant 4).
	out, err := f.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.cfg.Table), Key: key("999999"), ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item["deleted"] == nil {
		t.Errorf("the extra item is %v (err %v), want a tombstone", out.Item, err)
	}
}

// TestVerifyIgnoresWritesInFlight: a key that differs only until the cdc
// catches up settles within the grace period. The "cdc" catches up during
// the verifier's (injected) grace sleep, so the test needs no timing luck.
func TestVerifyIgnoresWritesInFlight(t *testing.T) {
	f := newFixture(t, 200)
	ctx := context.Background()
	if _, err := migrator.RunBackfill(ctx, f.cfg, env()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec("UPDATE orders SET status = 'cancelled', version = version + 1 WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	db, err := migrator.OpenSource(f.cfg.MySQL.DSN, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := codec.Resolve(ctx, db, f.cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	slept := 0
	vcfg := f.cfg.Verify
	vcfg.Grace = time.Minute
	v := migrator.NewVerifier(vcfg, migrator.VerifierDeps{
		Inspector: migrator.NewInspector(db, m), Mapping: m, API: f.client, Table: f.cfg.Table,
		Logger: env().Log,
		Sleep: func(ctx context.Context, d time.Duration) error {
			slept++
			// The cdc applies the change while verify waits.
			_, err := migrator.RunVerify(ctx, f.cfg, migrator.VerifyOptions{Repair: true}, env())
			return err
		},
	})
	rep, err := v.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.Settled != 1 || slept != 1 {
		t.Fatalf("verify: %+v after %d grace sleeps; want equal with the one key settled in grace", rep, slept)
	}
}

func TestBadRowsGoToDeadLetters(t *testing.T) {
	f := newFixture(t, 100)
	huge := `[{"sku":"BIG-1","name":"` + strings.Repeat("x", 420*1024) + `","quantity":1,"unit_price":"1.00"}]`
	if _, err := f.db.Exec(`INSERT INTO orders (customer_id, channel, status, currency, items, total, created_at, updated_at, version)
		VALUES ('big', 'retail', 'accepted', 'USD', ?, 1.00, NOW(6), NOW(6), 1)`, huge); err != nil {
		t.Fatal(err)
	}
	conn, err := f.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "SET SESSION sql_mode = ''"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), `INSERT INTO orders (customer_id, channel, status, currency, items, total, created_at, updated_at, version)
		VALUES ('zero', 'retail', 'accepted', 'USD', '[]', 1.00, '0000-00-00 00:00:00', NOW(6), 1)`); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	rep, err := migrator.RunDryRun(context.Background(), f.cfg, env())
	var ue *migrator.UnmappableError
	if !errors.As(err, &ue) || ue.N != 2 || rep.Rows != 102 {
		t.Fatalf("dry run: %+v, %v; want 102 rows with 2 that cannot be written", rep, err)
	}
	if n := countItems(t, f); n != 0 {
		t.Fatalf("the dry run wrote %d items", n)
	}
	sum, err := migrator.RunBackfill(context.Background(), f.cfg, env())
	var de *migrator.DeadLettersError
	if !errors.As(err, &de) || de.N != 2 || sum.RowsWritten != 100 {
		t.Fatalf("backfill: %+v, %v; want 100 written and 2 dead letters", sum, err)
	}
	store := deadletter.NewStore(f.client, f.cfg.ControlTable, nil)
	list, err := store.List(context.Background(), deadletter.Backfill)
	if err != nil || len(list) != 2 {
		t.Fatalf("backfill dead letters: %d (err %v), want 2", len(list), err)
	}
	for _, l := range list {
		r, err := store.Get(context.Background(), deadletter.Backfill, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		cols := r.Payload.Row.Columns
		switch {
		case strings.Contains(r.Reason, "400 KB"):
			// Too large for an item, and kept whole all the same.
			var want, got any
			if err := json.Unmarshal([]byte(huge), &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(cols["items"], &got); err != nil {
				t.Fatalf("the large row's items: %v", err)
			}
			if !cmp.Equal(want, got) || string(cols["customer_id"]) != "big" {
				t.Errorf("the large row's image is not the row's: items of %d bytes, want %d", len(cols["items"]), len(huge))
			}
		case strings.Contains(r.Reason, "zero date"):
			if string(cols["created_at"]) != "0000-00-00 00:00:00.000000" && string(cols["created_at"]) != "0000-00-00 00:00:00" {
				t.Errorf("the zero-date row's image has created_at %q", cols["created_at"])
			}
		default:
			t.Errorf("dead letter reason %q names neither the size nor the zero date", r.Reason)
		}
		if r.Position == "" || r.Key == "" || r.Payload.Row.Table != "orders" {
			t.Errorf("dead letter %s lacks its position, key or table: %+v", r.ID, r)
		}
	}
}

func countItems(t *testing.T, f *fixture) int {
	t.Helper()
	out, err := f.client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(f.cfg.Table), Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

func TestBadInputIsRefusedClearly(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	cases := []struct {
		name string
		mod  func(c *migrator.Config)
		want string
	}{
		{"missing MySQL table", func(c *migrator.Config) { c.Mapping.Table = "nope" }, "table not found: nope"},
		{"key is not the primary key", func(c *migrator.Config) { c.Mapping.Key = "customer_id" }, "primary key"},
		{"unknown column", func(c *migrator.Config) {
			c.Mapping.Columns = append(c.Mapping.Columns, codecColumn("colour"))
		}, "does not have"},
		{"unreachable MySQL", func(c *migrator.Config) {
			c.MySQL.DSN = "strangler:strangler@tcp(127.0.0.1:1)/x"
		}, "make stack-up"},
		{"unreachable DynamoDB", func(c *migrator.Config) { c.DynamoDB.URL = "http://127.0.0.1:1" }, "make stack-up"},
		{"tables not created", func(c *migrator.Config) { c.Table = "never_created_" + strconv.Itoa(int(time.Now().UnixNano()%1e6)) }, "strangler migrate init"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.cfg
			tc.mod(&cfg)
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			_, err := migrator.RunBackfill(cctx, cfg, env())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	// Nothing half-written: the job is untouched and a correct run works.
	if n := countItems(t, f); n != 0 {
		t.Fatalf("failed runs wrote %d items", n)
	}
	if _, err := migrator.RunBackfill(ctx, f.cfg, env()); err != nil {
		t.Fatal(err)
	}

	t.Run("wrong key schema", func(t *testing.T) {
		cfg := f.cfg
		cfg.Table = stacktest.TableName(t, f.client, "wrongkey")
		_, err := ddbtable.Ensure(ctx, f.client, ddbtable.Spec{Create: &dynamodb.CreateTableInput{
			TableName:            aws.String(cfg.Table),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		}})
		if err != nil {
			t.Fatal(err)
		}
		err = migrator.RunInit(ctx, cfg, env())
		var ks *ddbtable.KeySchemaError
		if !errors.As(err, &ks) || !strings.Contains(err.Error(), "pk(S,HASH)") {
			t.Fatalf("init over a table keyed by id: %v", err)
		}
	})
	t.Run("bad mapping config", func(t *testing.T) {
		cfg := f.cfg
		cfg.Mapping.Table = "orders; DROP TABLE orders"
		cfg.Backfill.WriteMode = "fast"
		err := cfg.Validate()
		if !config.IsConfigError(err) || !strings.Contains(err.Error(), "mapping.table") || !strings.Contains(err.Error(), "backfill.write_mode") {
			t.Fatalf("Validate: %v", err)
		}
	})
}

func codecColumn(name string) codec.ColumnConfig { return codec.ColumnConfig{Name: name} }

// storedOrder is an order of the new service (an ord_ id).
func storedOrder(id string, version uint32) orderitem.Stored {
	at := order.NewTimestamp(time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC))
	return orderitem.Stored{Order: order.Order{
		ID: id, CustomerID: "cust-owned", Channel: order.Wholesale, Status: order.Processing, Currency: "EUR",
		Items: []order.Item{{SKU: "WHL-1", Name: "Bleach 🧴", Quantity: 12, UnitPrice: 199}}, Total: 2388,
		ShippingAddress: &order.Address{Name: "B", Line1: "2 Side St", City: "Y", PostalCode: "2", Country: "DE"},
		CreatedAt:       at, UpdatedAt: at, Version: version, Notes: "dock 3",
	}, IdempotencyKey: "idem-" + id}
}

// insertOwned writes s into MySQL as the sync-back does: a row with its id
// in order_ref.
func insertOwned(t *testing.T, db *sql.DB, s orderitem.Stored) {
	t.Helper()
	items, _ := json.Marshal(s.Items)
	addr, _ := json.Marshal(s.ShippingAddress)
	if _, err := db.Exec(`INSERT INTO orders (order_ref, customer_id, channel, status, currency, items, total, shipping_address, notes, idempotency_key, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.CustomerID, string(s.Channel), string(s.Status), s.Currency, string(items),
		s.Total.String(), string(addr), s.Notes, s.IdempotencyKey, s.CreatedAt.Time, s.UpdatedAt.Time, s.Version); err != nil {
		t.Fatal(err)
	}
}

// putOwned writes s's item as the new service does (src_pos 0).
func putOwned(t *testing.T, f *fixture, s orderitem.Stored) {
	t.Helper()
	item, err := orderitem.Item(s)
	if err != nil {
		t.Fatal(err)
	}
	item[codec.AttrPos] = &types.AttributeValueMemberN{Value: "0"}
	if _, err := f.client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.cfg.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// TestOwnedRows: rows with an order_ref belong to the new service. The
// backfill does not copy them (a newer item stays), verify compares them
// with their ord_ items (equal when the sync-back caught up, a field diff
// when not), finds an ord_ item without a row as extra (looked up by ref,
// not by id), and repair leaves the new service's items alone.
func TestOwnedRows(t *testing.T) {
	f := newFixture(t, 50)
	same, behind, orphan := storedOrder("ord_01SAME", 2), storedOrder("ord_01BEHIND", 3), storedOrder("ord_01ORPHAN", 1)
	insertOwned(t, f.db, same)
	putOwned(t, f, same)
	older := behind
	older.Status, older.Version = order.Accepted, 2 // the sync-back has not applied version 3 yet
	insertOwned(t, f.db, older)
	putOwned(t, f, behind)
	putOwned(t, f, orphan)

	sum, err := migrator.RunBackfill(context.Background(), f.cfg, env())
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsWritten != 50 {
		t.Errorf("backfill wrote %d rows, want the 50 legacy ones only", sum.RowsWritten)
	}
	out, err := f.client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.cfg.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: behind.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := orderitem.FromItem(out.Item); err != nil || got.Version != 3 {
		t.Fatalf("the backfill overwrote the new service's newer item: %+v (err %v)", got, err)
	}
	var surrogate string
	if err := f.db.QueryRow("SELECT id FROM orders WHERE order_ref = ?", same.ID).Scan(&surrogate); err != nil {
		t.Fatal(err)
	}
	if n := countItems(t, f); n != 53 {
		t.Errorf("%d items, want 50 + 3 (no item under a surrogate id %s)", n, surrogate)
	}

	for _, repair := range []bool{false, true} {
		rep := f.verify(t, repair)
		if rep.Different != 1 || rep.Extra != 1 || rep.Missing != 0 || rep.Repaired != 0 {
			t.Fatalf("verify (repair %v): %+v; want ord_01BEHIND different, ord_01ORPHAN extra, nothing repaired", repair, rep)
		}
		got := map[string]migrator.Difference{}
		for _, d := range rep.Differences {
			got[d.Key] = d
		}
		if d := got[behind.ID]; d.Kind != migrator.Different || len(d.Fields) != 2 || d.Fields[0].Attribute != "status" || d.Fields[1].Attribute != "version" {
			t.Errorf("difference of %s: %+v; want status and version", behind.ID, d)
		}
		if d := got[orphan.ID]; d.Kind != migrator.Extra {
			t.Errorf("difference of %s: %+v; want extra", orphan.ID, d)
		}
	}
	// The sync-back catches up and delivers the orphan: equal.
	if _, err := f.db.Exec("UPDATE orders SET status = 'processing', version = 3 WHERE order_ref = ?", behind.ID); err != nil {
		t.Fatal(err)
	}
	insertOwned(t, f.db, orphan)
	if rep := f.verify(t, false); !rep.Equal() || rep.RowsChecked != 53 {
		t.Fatalf("after the sync-back caught up: %+v; want equal over 53 rows", rep)
	}
}

// TestVerifyIDs: verify --ids checks only the listed orders, and each must be
// in both stores with the same content: an id with only a row, only an
// item, or neither is a lost order; the report and the exit error say so.
func TestVerifyIDs(t *testing.T) {
	f := newFixture(t, 20)
	if _, err := migrator.RunBackfill(context.Background(), f.cfg, env()); err != nil {
		t.Fatal(err)
	}
	owned, onlyItem := storedOrder("ord_01BOTH", 2), storedOrder("ord_01ONLYITEM", 1)
	insertOwned(t, f.db, owned)
	putOwned(t, f, owned)
	putOwned(t, f, onlyItem)
	if _, err := f.client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(f.cfg.Table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "3"}}}); err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.Verify.Grace = 0
	run := func(ids ...string) (migrator.VerifyReport, string, error) {
		path := filepath.Join(t.TempDir(), "ids.txt")
		if err := os.WriteFile(path, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		e := env()
		e.Out = &out
		rep, err := migrator.RunVerify(context.Background(), cfg, migrator.VerifyOptions{IDs: path}, e)
		return rep, out.String(), err
	}

	rep, out, err := run("1", "2", owned.ID, "2")
	if err != nil || !rep.Equal() || rep.RowsChecked != 3 || !strings.Contains(out, "EQUAL: 3 orders in both stores with the same content; 0 lost") {
		t.Fatalf("present orders: %+v, %v\n%s", rep, err, out)
	}
	rep, out, err = run("1", "3", onlyItem.ID, "99999", owned.ID)
	if !errors.Is(err, migrator.ErrNotEqual) {
		t.Fatalf("lost orders: err %v, want ErrNotEqual\n%s", err, out)
	}
	kinds := map[string]string{}
	for _, d := range rep.Differences {
		kinds[d.Key] = d.Kind
	}
	want := map[string]string{"3": migrator.Missing, onlyItem.ID: migrator.Extra, "99999": migrator.Lost}
	if d := cmp.Diff(want, kinds); d != "" || rep.Missing != 1 || rep.Extra != 1 || rep.Lost != 1 || rep.Different != 0 {
		t.Errorf("differences (-want +got):\n%s\nreport %+v", d, rep)
	}
	if !strings.Contains(out, "missing from DynamoDB 1, missing from MySQL 1, missing from both 1, different 0") {
		t.Errorf("report line:\n%s", out)
	}
}
