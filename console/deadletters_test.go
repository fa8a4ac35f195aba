package console_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/console"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/legacy"
	"github.com/anycompany/strangler/migrator"
)

// injectedFault is the reason of the fixture's dead letter: what DynamoDB
// answers when a table's rules refuse an item (cdc.TestStackDeadLetterReplay
// injects the same fault in front of DynamoDB Local).
const injectedFault = "ValidationException: injected fault: the table refuses this item"

// deadFixture is one order in a legacy MySQL database whose item DynamoDB
// refused: its dead letter is in the control table, written with the Store
// as the cdc's applier writes one (the full row image as MySQL's text
// protocol sends it, at the source's position), and its item is missing.
type deadFixture struct {
	dsn     string
	control string
	ddb     *dynamodb.Client
	db      *sql.DB
	mapping *codec.Mapping
	orders  string
	store   *deadletter.Store
	rec     deadletter.Record
	row     codec.Row
}

func newDeadFixture(t *testing.T, ddb *dynamodb.Client, controlTable string) *deadFixture {
	t.Helper()
	ctx := context.Background()
	// Without parseTime, as the backfill reads: DATETIME in the text protocol's form.
	dsn, err := mysql.ParseDSN(stacktest.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	dsn.ParseTime = false
	db, err := sql.Open("mysql", dsn.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := legacy.NewSchemaMigrator(db).Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &deadFixture{dsn: dsn.FormatDSN(), control: controlTable, ddb: ddb, db: db, orders: stacktest.TableName(t, ddb, "console_orders")}
	if _, err := ddbtable.Ensure(ctx, ddb, migrator.OrdersSpec(f.orders, migrator.DefaultConfig().Index)); err != nil {
		t.Fatal(err)
	}
	if f.mapping, err = codec.Resolve(ctx, db, codec.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	res, err := db.ExecContext(ctx, "INSERT INTO orders (customer_id, channel, status, currency, items, total, shipping_address, notes, created_at, updated_at) VALUES (?, 'retail', 'pending', 'EUR', ?, '12.50', ?, 'ring twice', ?, ?)",
		"cust-dl", `[{"sku":"S-1","quantity":2,"unit_price":"6.25"}]`, `{"city":"Zürich"}`, now, now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	f.row = f.readRow(t, id)
	pos, err := position.Current(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	text, err := f.mapping.RowText(f.row)
	if err != nil {
		t.Fatal(err)
	}
	key := f.mapping.KeyString(f.row)
	f.rec = deadletter.Record{ID: deadletter.ItemID(key, pos.Number()), Kind: deadletter.Item, Key: key, Position: pos.Number(),
		Reason: injectedFault, Payload: deadletter.Payload{Row: deadletter.NewRow(f.mapping.Table, text)}}
	f.store = deadletter.NewStore(ddb, controlTable, nil)
	if err := f.store.Sink(deadletter.CDC).Add(ctx, f.rec); err != nil {
		t.Fatal(err)
	}
	return f
}

// readRow reads order id as the backfill does (the mapping's columns,
// text protocol).
func (f *deadFixture) readRow(t *testing.T, id int64) codec.Row {
	t.Helper()
	rows, err := f.db.Query("SELECT "+f.mapping.QuotedColumns()+" FROM "+f.mapping.QuotedTable()+" WHERE id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("order %d not found: %v", id, rows.Err())
	}
	raw := make([]sql.RawBytes, len(f.mapping.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, len(raw))
	for i, b := range raw {
		if b != nil {
			vals[i] = append([]byte{}, b...)
		}
	}
	row, err := f.mapping.RowFromText(vals)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// deadLetters is the console's DeadLetters over the fixture, as strangler
// console wires it: each replay runs cdc.NewReplayer, the replayer of
// 'strangler deadletters replay', on a cdc config of the fixture's
// database and tables.
func (f *deadFixture) deadLetters() console.StoreDeadLetters {
	cfg := cdc.DefaultConfig()
	cfg.MySQL.DSN = config.Secret(f.dsn)
	cfg.DynamoDB = stacktest.DynamoDBEndpoint()
	cfg.Table, cfg.ControlTable = f.orders, f.control
	return console.StoreDeadLetters{Store: f.store, NewReplayer: func(ctx context.Context, by string) (*deadletter.Replayer, func(), error) {
		return cdc.NewReplayer(ctx, cfg, f.store, by, slog.New(slog.DiscardHandler))
	}}
}

// item is the order's item, or nil.
func (f *deadFixture) item(t *testing.T) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.orders), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{codec.AttrPK: control.S(f.rec.Key)}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// checkReplayed verifies the replay as migrator verify does: the order's
// item equals what its row maps to (codec.Diff), at the dead letter's
// position; the dead letter is gone.
func (f *deadFixture) checkReplayed(t *testing.T) {
	t.Helper()
	want, err := f.mapping.Item(f.row)
	if err != nil {
		t.Fatal(err)
	}
	got := f.item(t)
	if got == nil {
		t.Fatalf("after the replay the order %s has no item", f.rec.Key)
	}
	if d := codec.Diff(want, got); len(d) != 0 {
		t.Errorf("after the replay the item differs from its row: %+v", d)
	}
	if pos, _ := got[codec.AttrPos].(*types.AttributeValueMemberN); pos == nil || pos.Value != f.rec.Position {
		t.Errorf("the replayed item is at position %v, want the dead letter's %s", got[codec.AttrPos], f.rec.Position)
	}
	if _, err := f.store.Get(context.Background(), deadletter.CDC, f.rec.ID); err == nil || !strings.Contains(err.Error(), "no such dead letter") {
		t.Errorf("the dead letter after its replay: %v, want it gone", err)
	}
}

// TestDeadLetterReplayNeedsAConfirmation: the replay action refuses a
// request without the page's confirmation or a reason, an unknown source
// and an unknown id, naming what to do; none touches the dead letter.
func TestDeadLetterReplayNeedsAConfirmation(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	ddb := stacktest.DynamoDB(t)
	table := stacktest.TableName(t, ddb, "console_control")
	if _, err := ddbtable.Ensure(context.Background(), ddb, control.Spec(table)); err != nil {
		t.Fatal(err)
	}
	f := newDeadFixture(t, ddb, table)
	s := consoleWith(t, console.Deps{DeadLetters: f.deadLetters()})
	c, csrf := loggedIn(t, s)
	cases := []struct {
		path, body string
		status     int
		detail     string
	}{
		{"/api/deadletters/cdc/" + f.rec.ID + "/replay", `{"reason":"fault cleared"}`, 400, `confirm the action first`},
		{"/api/deadletters/cdc/" + f.rec.ID + "/replay", `{"confirmed":true}`, 400, "say why"},
		{"/api/deadletters/kafka/" + f.rec.ID + "/replay", `{"reason":"x","confirmed":true}`, 400, "use one of cdc, relay, backfill, bus"},
		{"/api/deadletters/relay/nope/replay", `{"reason":"x","confirmed":true}`, 404, `no such dead letter "nope" of source relay`},
	}
	for _, tc := range cases {
		resp := postAction(t, c, s.URL+tc.path, csrf, tc.body)
		if p := problemOf(t, resp); resp.StatusCode != tc.status || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("POST %s %s: %d %+v, want %d naming %q", tc.path, tc.body, resp.StatusCode, p, tc.status, tc.detail)
		}
	}
	list, err := f.store.List(context.Background(), deadletter.CDC)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{f.rec.ID}, ids(list)); diff != "" || list[0].Attempts != 0 || f.item(t) != nil {
		t.Errorf("refused replays touched the dead letter (-want +got):\n%s%+v", diff, list)
	}
}

// consoleWith serves a console with d whose proxy is never reached.
func consoleWith(t *testing.T, d console.Deps) *httptest.Server {
	t.Helper()
	cfg := console.DefaultConfig()
	cfg.Proxy.AdminURL, cfg.Proxy.Token = "http://127.0.0.1:9", adminToken
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(c.Handler())
	t.Cleanup(s.Close)
	return s
}

// loggedIn logs in to s as alice and returns the client and the page's
// CSRF token.
func loggedIn(t *testing.T, s *httptest.Server) (*http.Client, string) {
	t.Helper()
	c := client(t)
	resp, err := c.PostForm(s.URL+"/login", url.Values{"token": {adminToken}, "name": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("the page has no CSRF token:\n%s", page)
	}
	return c, m[1]
}

func postAction(t *testing.T, c *http.Client, url, csrf, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func ids(list []deadletter.Record) []string {
	out := []string{}
	for _, r := range list {
		out = append(out, r.ID)
	}
	return out
}
