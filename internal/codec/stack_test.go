package codec_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/stacktest"
)

// openSource opens a per-test database the way the backfill reads one: the
// text protocol (interpolated parameters, no parseTime) in a UTC session.
func openSource(t *testing.T) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(stacktest.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// readText reads every row of m's table as the backfill does: the SELECT
// list of QuotedColumns into sql.RawBytes, copied (nil stays NULL).
func readText(t *testing.T, db *sql.DB, m *codec.Mapping) [][][]byte {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT "+m.QuotedColumns()+" FROM "+m.QuotedTable()+" ORDER BY `"+m.Key().Name+"`")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var out [][][]byte
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		vals := make([][]byte, len(raw))
		for i, r := range raw {
			if r != nil {
				vals[i] = append([]byte{}, r...)
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newItemTable(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	name := stacktest.TableName(t, c, "codec")
	_, err := ddbtable.Ensure(context.Background(), c, ddbtable.Spec{Create: &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(codec.AttrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(codec.AttrPK), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// roundTrip writes each row's item with the guarded writer, reads it back
// and checks that it decodes to the same row and diffs empty.
func roundTrip(t *testing.T, m *codec.Mapping, rows []codec.Row) {
	t.Helper()
	ctx := context.Background()
	c := stacktest.DynamoDB(t)
	table := newItemTable(t, c)
	var items []guard.Item
	for _, r := range rows {
		it, err := m.Item(r)
		if err != nil {
			t.Fatalf("Item(%v): %v", r, err)
		}
		items = append(items, guard.NewItem(m.KeyString(r), it, "1"))
	}
	res, err := guard.NewWriter(c, table, guard.Put, guard.Options{}).Write(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != len(rows) || len(res.Dead) > 0 {
		t.Fatalf("Write = %+v, want %d written", res, len(rows))
	}
	for _, r := range rows {
		key := m.KeyString(r)
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(table),
			Key:            map[string]types.AttributeValue{codec.AttrPK: &types.AttributeValueMemberS{Value: key}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.Item == nil {
			t.Fatalf("key %s: no item", key)
		}
		back, err := m.RowFromItem(out.Item)
		if err != nil {
			t.Fatalf("key %s: RowFromItem: %v", key, err)
		}
		if diff := cmp.Diff(r, back, valueOpts); diff != "" {
			t.Errorf("key %s: row -> item -> row (-want +got):\n%s", key, diff)
		}
		want, err := m.Item(r)
		if err != nil {
			t.Fatal(err)
		}
		if d := codec.Diff(want, out.Item); len(d) > 0 {
			t.Errorf("key %s: Diff(item, stored) = %+v, want none", key, d)
		}
	}
}

const everyTypeDDL = "CREATE TABLE every_type (" +
	"id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, " +
	"ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, " +
	"i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, y YEAR, " +
	"d12 DECIMAL(12,2), d65 DECIMAL(65,30), d38 DECIMAL(38,0), f FLOAT, db DOUBLE, " +
	"b1 BIT(1), b64 BIT(64), " +
	"c CHAR(3), vc VARCHAR(64) CHARACTER SET utf8mb4, tx TEXT, e ENUM('retail','wholesale','it''s'), st SET('a','b','c'), " +
	"tm TIME(6), dt DATE, dtm DATETIME(6), dt0 DATETIME, ts TIMESTAMP(6) NULL, " +
	"j JSON, bl BLOB, vb VARBINARY(16)" +
	") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"

// everyTypeColumns is the mapping Resolve must find for every_type.
var everyTypeColumns = []codec.Column{
	{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint},
	{Name: "ti", Attribute: "ti", Type: codec.Int},
	{Name: "tu", Attribute: "tu", Type: codec.Uint},
	{Name: "si", Attribute: "si", Type: codec.Int},
	{Name: "su", Attribute: "su", Type: codec.Uint},
	{Name: "mi", Attribute: "mi", Type: codec.Int},
	{Name: "i", Attribute: "i", Type: codec.Int},
	{Name: "iu", Attribute: "iu", Type: codec.Uint},
	{Name: "bi", Attribute: "bi", Type: codec.Int},
	{Name: "bu", Attribute: "bu", Type: codec.Uint},
	{Name: "y", Attribute: "y", Type: codec.Int},
	{Name: "d12", Attribute: "d12", Type: codec.Decimal, Precision: 12, Scale: 2},
	{Name: "d65", Attribute: "d65", Type: codec.Decimal, Precision: 65, Scale: 30},
	{Name: "d38", Attribute: "d38", Type: codec.Decimal, Precision: 38, Scale: 0},
	{Name: "f", Attribute: "f", Type: codec.Float},
	{Name: "db", Attribute: "db", Type: codec.Double},
	{Name: "b1", Attribute: "b1", Type: codec.Bit},
	{Name: "b64", Attribute: "b64", Type: codec.Bit},
	{Name: "c", Attribute: "c", Type: codec.String},
	{Name: "vc", Attribute: "vc", Type: codec.String},
	{Name: "tx", Attribute: "tx", Type: codec.String},
	{Name: "e", Attribute: "e", Type: codec.Enum, Enum: []string{"retail", "wholesale", "it's"}},
	{Name: "st", Attribute: "st", Type: codec.String},
	{Name: "tm", Attribute: "tm", Type: codec.String},
	{Name: "dt", Attribute: "dt", Type: codec.Date},
	{Name: "dtm", Attribute: "dtm", Type: codec.Datetime},
	{Name: "dt0", Attribute: "dt0", Type: codec.Datetime},
	{Name: "ts", Attribute: "ts", Type: codec.Timestamp},
	{Name: "j", Attribute: "j", Type: codec.JSON},
	{Name: "bl", Attribute: "bl", Type: codec.Blob},
	{Name: "vb", Attribute: "vb", Type: codec.Blob},
}

// cell is a value to insert and the canonical value it must read back as.
type cell struct {
	in   any
	want any
}

func same(v any) cell { return cell{v, v} }

// everyTypeRows are the rows inserted into every_type; a column left out is
// NULL.
var everyTypeRows = []map[string]cell{
	{ // minimums
		"id": same(uint64(1)),
		"ti": same(int64(-128)), "tu": same(uint64(0)), "si": same(int64(-32768)), "su": same(uint64(0)),
		"mi": same(int64(-8388608)), "i": same(int64(math.MinInt32)), "iu": same(uint64(0)),
		"bi": same(int64(math.MinInt64)), "bu": same(uint64(0)), "y": same(int64(1901)),
		"d12": same("-9999999999.99"),
		"d65": same("-99999999999999999999999999999999999.999999999999999999999999999999"),
		"d38": same("-99999999999999999999999999999999999999"),
		"f":   {-3.402823466e38, -float64(math.MaxFloat32)},
		"db":  {-1.5e-130, -1.5e-130},
		"b1":  {uint64(0), uint64(0)}, "b64": {uint64(0), uint64(0)},
		"c": same(""), "vc": same(""), "tx": same(""), "e": same("retail"), "st": same(""),
		"tm":  {"-838:59:59", "-838:59:59.000000"},
		"dt":  same("1000-01-01"),
		"dtm": {"1000-01-01 00:00:00", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"dt0": {"1000-01-01 00:00:00", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"ts":  {"1970-01-01 00:00:01", time.Unix(1, 0).UTC()},
		"j":   {`{}`, map[string]any{}},
		"bl":  same([]byte{}),
		"vb":  same([]byte{}),
	},
	{ // maximums and awkward values
		"id": same(uint64(2)),
		"ti": same(int64(127)), "tu": same(uint64(255)), "si": same(int64(32767)), "su": same(uint64(65535)),
		"mi": same(int64(8388607)), "i": same(int64(math.MaxInt32)), "iu": same(uint64(math.MaxUint32)),
		"bi": same(int64(math.MaxInt64)), "bu": same(uint64(math.MaxUint64)), "y": same(int64(2155)),
		"d12": same("9999999999.99"),
		"d65": same("12345678901234567890123456789012345.123456789012345678901234567890"),
		"d38": same("10000000000000000000000000000000000000"),
		"f":   {3.402823466e38, float64(math.MaxFloat32)},
		"db":  {9.5e125, 9.5e125},
		"b1":  {uint64(1), uint64(1)}, "b64": {uint64(math.MaxUint64), uint64(math.MaxUint64)},
		"c": same("abc"), "vc": same("🦀🚀 ünï 𝄞𠜎"), "tx": same("line\nwith NUL \x00 and emoji 🎉"),
		"e": same("it's"), "st": same("a,c"),
		"tm":  {"838:59:59.999999", "838:59:59.999999"},
		"dt":  same("9999-12-31"),
		"dtm": {"9999-12-31 23:59:59.999999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		"dt0": {"2024-02-29 12:34:56", time.Date(2024, 2, 29, 12, 34, 56, 0, time.UTC)},
		"ts":  {"2038-01-19 03:14:07.999999", time.Date(2038, 1, 19, 3, 14, 7, 999999000, time.UTC)},
		"j":   {`[]`, []any{}},
		"bl":  same([]byte{0x00, 0xff, 0x00}),
		"vb":  same(bytes.Repeat([]byte{0xff}, 16)),
	},
	{ // everyday values the text protocol formats in its own way
		"id": same(uint64(3)),
		"ti": same(int64(0)), "bi": same(int64(-1)), "y": same(int64(2024)),
		"d12": same("-0.01"), "d65": same("0.000000000000000000000000000001"), "d38": same("0"),
		"f":  {float32(16777217), float64(16777216)}, // MariaDB prints it "16777200"
		"db": {1e-7, 1e-7},
		"b1": {uint64(1), uint64(1)}, "b64": {uint64(513), uint64(513)},
		"tm":  {"12:00:00.5", "12:00:00.500000"},
		"dtm": {"2024-01-02 03:04:05.000001", time.Date(2024, 1, 2, 3, 4, 5, 1000, time.UTC)},
		"ts":  {"2024-06-30 23:59:59.5", time.Date(2024, 6, 30, 23, 59, 59, 500000000, time.UTC)},
		"j": {`{"a": [1, {"b": null, "c": []}], "n": [1.50, 1e3, 0.1, -0, 1E-130], "s": "🦀\u0000é", "t": true, "u": ""}`, map[string]any{
			"a": []any{json.Number("1"), map[string]any{"b": codec.JSONNull{}, "c": []any{}}},
			"n": []any{json.Number("1.50"), json.Number("1e3"), json.Number("0.1"), json.Number("-0"), json.Number("1E-130")},
			"s": "🦀\x00é", "t": true, "u": "",
		}},
		"bl": same([]byte("\x00")),
	},
	{ // JSON scalars; float subtleties
		"id": same(uint64(4)),
		"f":  {0.1, float64(float32(0.1))},
		"db": {math.Copysign(0, -1), float64(0)},
		"j":  {`null`, codec.JSONNull{}},
	},
	{ // all NULL
		"id": same(uint64(5)),
		"f":  {1e-7, float64(float32(1e-7))},
		"j":  {`"just a string"`, "just a string"},
	},
	{ // the largest key
		"id": same(uint64(math.MaxUint64)),
	},
}

// TestStackEveryType round-trips a row of every supported MySQL type
// through the text protocol, the codec and DynamoDB Local.
func TestStackEveryType(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	exec(t, db, everyTypeDDL)
	for _, r := range everyTypeRows {
		names, marks, args := "", "", []any{}
		for _, c := range everyTypeColumns {
			if v, ok := r[c.Name]; ok {
				if names != "" {
					names, marks = names+", ", marks+", "
				}
				names, marks, args = names+"`"+c.Name+"`", marks+"?", append(args, v.in)
			}
		}
		exec(t, db, "INSERT INTO every_type ("+names+") VALUES ("+marks+")", args...)
	}

	m, err := codec.Resolve(ctx, db, codec.Config{Table: "every_type", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(everyTypeColumns, m.Columns); diff != "" {
		t.Fatalf("Resolve columns (-want +got):\n%s", diff)
	}

	raws := readText(t, db, m)
	if len(raws) != len(everyTypeRows) {
		t.Fatalf("read %d rows, want %d", len(raws), len(everyTypeRows))
	}
	var rows []codec.Row
	for i, raw := range raws {
		row, err := m.RowFromText(raw)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		want := make(codec.Row, len(m.Columns))
		for j, c := range m.Columns {
			want[j] = everyTypeRows[i][c.Name].want
		}
		if diff := cmp.Diff(want, row, valueOpts); diff != "" {
			t.Errorf("row %d from the text protocol (-want +got):\n%s", i, diff)
		}
		rows = append(rows, row)
	}
	roundTrip(t, m, rows)
}

// TestStackFloatText shows why QuotedColumns casts FLOAT: MariaDB's text
// protocol prints a FLOAT with 6 significant digits.
func TestStackFloatText(t *testing.T) {
	db := openSource(t)
	exec(t, db, "CREATE TABLE fl (id INT PRIMARY KEY, f FLOAT)")
	exec(t, db, "INSERT INTO fl VALUES (1, ?)", float32(16777217))
	var plain, cast string
	if err := db.QueryRow("SELECT f, CAST(f AS DOUBLE) FROM fl").Scan(&plain, &cast); err != nil {
		t.Fatal(err)
	}
	t.Logf("FLOAT 16777216 as text: %q, cast as DOUBLE: %q", plain, cast)
	m, err := codec.Resolve(context.Background(), db, codec.Config{Table: "fl", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	row, err := m.RowFromText(readText(t, db, m)[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(codec.Row{int64(1), float64(16777216)}, row); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}

// TestStackLegacyOrders round-trips the reference orders table.
func TestStackLegacyOrders(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	_, file, _, _ := runtime.Caller(0)
	for _, name := range []string{"0001_orders.sql", "0002_order_ref.sql"} {
		ddl, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "legacy", "migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		exec(t, db, string(ddl))
	}
	const ins = "INSERT INTO orders (customer_id, channel, status, currency, items, total, shipping_address, notes, idempotency_key, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	exec(t, db, ins, "cust-🦀", "wholesale", "shipped", "EUR",
		`[{"sku": "A-1", "qty": 2, "price": 19.90}, {"sku": "B-2", "qty": 1, "price": 0.05, "tags": ["é", "🎁"]}]`,
		"39.85", `{"line1": "1 Rue de la Paix", "city": "Paris", "zip": null}`, "leave at the door 🚪", "idem-1",
		"2024-05-06 07:08:09.123456", "2024-05-06 07:08:10.000001", 3)
	exec(t, db, ins, "c2", "retail", "pending", "USD", `[]`, "0.00", nil, nil, nil,
		"2024-01-01 00:00:00", "2024-01-01 00:00:00", 4294967295)

	m, err := codec.Resolve(ctx, db, codec.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	wantCols := []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint},
		{Name: "customer_id", Attribute: "customer_id", Type: codec.String},
		{Name: "channel", Attribute: "channel", Type: codec.Enum, Enum: []string{"retail", "wholesale"}},
		{Name: "status", Attribute: "status", Type: codec.Enum, Enum: []string{"pending", "accepted", "processing", "shipped", "cancelled"}},
		{Name: "currency", Attribute: "currency", Type: codec.String},
		{Name: "items", Attribute: "items", Type: codec.JSON},
		{Name: "total", Attribute: "total", Type: codec.Decimal, Precision: 12, Scale: 2},
		{Name: "shipping_address", Attribute: "shipping_address", Type: codec.JSON},
		{Name: "notes", Attribute: "notes", Type: codec.String},
		{Name: "idempotency_key", Attribute: "idempotency_key", Type: codec.String},
		{Name: "created_at", Attribute: "created_at", Type: codec.Datetime},
		{Name: "updated_at", Attribute: "updated_at", Type: codec.Datetime},
		{Name: "version", Attribute: "version", Type: codec.Uint},
		{Name: "order_ref", Type: codec.String}, // the ref: read with the row, never an attribute
	}
	if diff := cmp.Diff(wantCols, m.Columns); diff != "" {
		t.Fatalf("Resolve columns (-want +got):\n%s", diff)
	}
	var rows []codec.Row
	for _, raw := range readText(t, db, m) {
		row, err := m.RowFromText(raw)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	want := []codec.Row{
		{uint64(1), "cust-🦀", "wholesale", "shipped", "EUR",
			[]any{
				map[string]any{"sku": "A-1", "qty": json.Number("2"), "price": json.Number("19.90")},
				map[string]any{"sku": "B-2", "qty": json.Number("1"), "price": json.Number("0.05"), "tags": []any{"é", "🎁"}},
			},
			"39.85", map[string]any{"line1": "1 Rue de la Paix", "city": "Paris", "zip": codec.JSONNull{}},
			"leave at the door 🚪", "idem-1",
			time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC), time.Date(2024, 5, 6, 7, 8, 10, 1000, time.UTC), uint64(3), nil},
		{uint64(2), "c2", "retail", "pending", "USD", []any{}, "0.00", nil, nil, nil,
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), uint64(math.MaxUint32), nil},
	}
	if diff := cmp.Diff(want, rows, valueOpts); diff != "" {
		t.Fatalf("rows from the text protocol (-want +got):\n%s", diff)
	}
	roundTrip(t, m, rows)
}

// TestStackOrderRef maps a row with an order_ref (copied back from the new
// service) to the item keyed by its ref, with no attribute of the ref
// column, and back: RowFromItem of the ord_ pk fills the ref, not the key.
// A ref that reads as an integer key is refused by name.
func TestStackOrderRef(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	_, file, _, _ := runtime.Caller(0)
	for _, name := range []string{"0001_orders.sql", "0002_order_ref.sql"} {
		ddl, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "legacy", "migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		exec(t, db, string(ddl))
	}
	const ins = "INSERT INTO orders (id, order_ref, customer_id, channel, status, currency, items, total, created_at, updated_at, version) VALUES (?, ?, 'c', 'retail', 'accepted', 'USD', '[]', '1.00', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 2)"
	exec(t, db, ins, 7, "ord_01ABC")
	exec(t, db, ins, 8, nil)
	exec(t, db, ins, 9, "123")
	m, err := codec.Resolve(ctx, db, codec.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c, i, ok := m.Ref(); !ok || c.Name != "order_ref" || !m.IsRef(i) {
		t.Fatalf("Ref() = %+v, %d, %v", c, i, ok)
	}
	raws := readText(t, db, m)
	withRef, err := m.RowFromText(raws[0])
	if err != nil {
		t.Fatal(err)
	}
	plain, err := m.RowFromText(raws[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := m.KeyString(withRef); got != "ord_01ABC" {
		t.Errorf("KeyString(row with ref) = %q, want the ref", got)
	}
	if got := m.KeyString(plain); got != "8" {
		t.Errorf("KeyString(row without ref) = %q, want the key", got)
	}
	if _, err := m.RowFromText(raws[2]); err == nil {
		t.Error("a ref that reads as an integer key was accepted")
	} else {
		wantValueError(t, err, "order_ref", "NULL")
	}
	it, err := m.Item(withRef)
	if err != nil {
		t.Fatal(err)
	}
	if pk := it[codec.AttrPK].(*types.AttributeValueMemberS).Value; pk != "ord_01ABC" {
		t.Errorf("item pk = %q", pk)
	}
	if _, ok := it["order_ref"]; ok {
		t.Error("the ref column became an attribute")
	}
	if _, ok := it["id"]; ok {
		t.Error("the surrogate key became an attribute")
	}
	back, err := m.RowFromItem(it)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(withRef)
	want[0] = nil // the surrogate key is MySQL's own; the item does not hold it
	if diff := cmp.Diff(want, back, valueOpts); diff != "" {
		t.Errorf("RowFromItem of an ord_ pk (-want +got):\n%s", diff)
	}
	if again, _ := m.Item(back); len(codec.Diff(it, again)) > 0 {
		t.Errorf("item -> row -> item differs: %+v", codec.Diff(it, again))
	}
	if !m.IsRefKey("ord_01ABC") || m.IsRefKey("8") || m.IsRefKey("") {
		t.Error("IsRefKey: want true only for a non-integer pk")
	}
	roundTrip(t, m, []codec.Row{plain})

	// Without the column: a SchemaError naming mapping.ref and the way out.
	exec(t, db, "CREATE TABLE noref (id BIGINT UNSIGNED PRIMARY KEY, x INT)")
	_, err = codec.Resolve(ctx, db, codec.Config{Table: "noref", Key: "id", Ref: "order_ref"})
	var se *codec.SchemaError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "mapping.ref empty") {
		t.Errorf("Resolve without the ref column = %v, want a SchemaError saying to set mapping.ref empty", err)
	}
	exec(t, db, "CREATE TABLE strkey (id VARCHAR(10) PRIMARY KEY, order_ref VARCHAR(40) NULL)")
	_, err = codec.Resolve(ctx, db, codec.Config{Table: "strkey", Key: "id", Ref: "order_ref"})
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "integer key") {
		t.Errorf("Resolve with a string key and a ref = %v, want a SchemaError about the integer key", err)
	}
	if mm, err := codec.Resolve(ctx, db, codec.Config{Table: "noref", Key: "id"}); err != nil || mm.IsRefKey("ord_x") {
		t.Errorf("Resolve with mapping.ref empty = %v; IsRefKey must be false without a ref", err)
	}
}

// TestStackRefused reads rows MariaDB holds but DynamoDB cannot: each is a
// *ValueError naming its column.
func TestStackRefused(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	exec(t, db, "CREATE TABLE z (id INT PRIMARY KEY, d DATE NULL, dtm DATETIME(6) NULL, ts TIMESTAMP NULL, db DOUBLE NULL, j JSON NULL)")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec(t, conn, "SET SESSION sql_mode = ''")
	exec(t, conn, "INSERT INTO z (id, d) VALUES (1, '0000-00-00')")
	exec(t, conn, "INSERT INTO z (id, dtm) VALUES (2, '0000-00-00 00:00:00')")
	exec(t, conn, "INSERT INTO z (id, ts) VALUES (3, '0000-00-00 00:00:00')")
	exec(t, conn, "INSERT INTO z (id, d) VALUES (4, '2024-00-10')")
	exec(t, conn, "INSERT INTO z (id, db) VALUES (5, 1e300)")
	exec(t, conn, "INSERT INTO z (id, j) VALUES (6, ?)", `{"": 1}`)
	exec(t, conn, "INSERT INTO z (id, j) VALUES (7, ?)", `[123456789012345678901234567890123456789]`)

	m, err := codec.Resolve(ctx, db, codec.Config{Table: "z", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	wantColumn := []string{"d", "dtm", "ts", "d", "db", "j", "j"}
	raws := readText(t, db, m)
	if len(raws) != len(wantColumn) {
		t.Fatalf("read %d rows, want %d", len(raws), len(wantColumn))
	}
	for i, raw := range raws {
		row, err := m.RowFromText(raw)
		if err == nil {
			_, err = m.Item(row)
		}
		if err == nil {
			t.Errorf("row %d: no error", i+1)
			continue
		}
		t.Logf("row %d: %v", i+1, err)
		var advice []string
		if i < 4 {
			advice = []string{"NULL or a real date", "exclude the column"}
		}
		wantValueError(t, err, wantColumn[i], advice...)
	}
}
