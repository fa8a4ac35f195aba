package cdc

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/mysqlsource"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/position"
	"github.com/anycompany/strangler/internal/stacktest"
)

// mysqlSource starts the MySQL-flavor test source in front of a fresh
// database of the local MariaDB, with vars set before any event is written;
// it returns the source, the backend's DSN and a backend connection.
func mysqlSource(t *testing.T, vars map[string]string) (*mysqlsource.Source, string, *sql.DB) {
	t.Helper()
	dsn := stacktest.MySQLDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	src, err := mysqlsource.Start(context.Background(), mysqlsource.Config{Backend: dsn, Database: cfg.DBName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	for k, v := range vars {
		src.Set(k, v)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return src, dsn, db
}

// binlogReader reads a binlog with go-mysql's BinlogSyncer configured for
// rows as the Streamer configures it (ParseTime, DECIMAL as text,
// RenderJSONAsMySQLText), compressed transactions opened in place as the
// Streamer opens them.
type binlogReader struct {
	st     *replication.BinlogStreamer
	inner  []*replication.BinlogEvent // the rest of a compressed transaction
	schema string                     // the database whose changes count
	// xidPos is the LogPos of each transaction's XID event, in order.
	xidPos []uint32
}

func readBinlog(t *testing.T, schema, flavor, host string, port uint16, user, password string, from gomysql.Position) *binlogReader {
	t.Helper()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4242, Flavor: flavor, Host: host, Port: port, User: user, Password: password,
		ParseTime: true, UseDecimal: false, TimestampStringLocation: time.UTC, RenderJSONAsMySQLText: true,
		HeartbeatPeriod: time.Second, ReadTimeout: 10 * time.Second, DisableRetrySync: true, EventCacheCount: 64,
		Logger: goMySQLLogger(slog.New(slog.DiscardHandler)),
	})
	t.Cleanup(syncer.Close)
	st, err := syncer.StartSync(from)
	if err != nil {
		t.Fatal(err)
	}
	return &binlogReader{st: st, schema: schema}
}

// mysqlReader reads the source's binlog from its current end.
func mysqlReader(t *testing.T, src *mysqlsource.Source, dsn string) *binlogReader {
	t.Helper()
	cfg, _ := mysql.ParseDSN(dsn)
	host, port := src.HostPort()
	file, pos, _ := src.Status()
	return readBinlog(t, cfg.DBName, gomysql.MySQLFlavor, host, port, cfg.User, cfg.Passwd, gomysql.Position{Name: file, Pos: uint32(pos)})
}

// mariadbReader reads the backend MariaDB's binlog from its current end.
func mariadbReader(t *testing.T, db *sql.DB, dsn string) *binlogReader {
	t.Helper()
	cfg, _ := mysql.ParseDSN(dsn)
	var file string
	var pos uint32
	var skip1, skip2 sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &skip1, &skip2); err != nil {
		t.Fatal(err)
	}
	host, portText, _ := strings.Cut(cfg.Addr, ":")
	var port uint16
	fmt.Sscan(portText, &port)
	return readBinlog(t, cfg.DBName, gomysql.MariaDBFlavor, host, port, cfg.User, cfg.Passwd, gomysql.Position{Name: file, Pos: pos})
}

// next is the next event, a compressed transaction's inner events one by
// one in its place.
func (r *binlogReader) next(ctx context.Context) (*replication.BinlogEvent, error) {
	for len(r.inner) == 0 {
		ev, err := r.st.GetEvent(ctx)
		if err != nil {
			return nil, err
		}
		tpe, ok := ev.Event.(*replication.TransactionPayloadEvent)
		if !ok {
			return ev, nil
		}
		r.inner = tpe.Events
	}
	ev := r.inner[0]
	r.inner = r.inner[1:]
	return ev, nil
}

// txns reads until n transactions changed s's table in r's database and
// decodes their changes as the Streamer does (decode), each transaction
// at position seq 1, 2, … (the local MariaDB is shared: other databases'
// transactions are skipped).
func (r *binlogReader) txns(t *testing.T, s *Streamer, n int) []Txn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Txn
	var txn *Txn
	for len(out) < n {
		ev, err := r.next(ctx)
		if err != nil {
			t.Fatalf("after %d transactions: %v", len(out), err)
		}
		switch e := ev.Event.(type) {
		case *replication.MariadbGTIDEvent, *replication.GTIDEvent: // MariaDB writes no BEGIN query
			txn = &Txn{Pos: position.Position{Kind: position.GTID, Domain: "0", Server: "1", Seq: uint64(len(out) + 1)}}
		case *replication.RowsEvent:
			if txn == nil || string(e.Table.Schema) != r.schema || string(e.Table.Table) != s.mappingCfg.Table {
				continue
			}
			if err := s.decode(ctx, ev.Header.EventType, e, txn); err != nil {
				t.Fatal(err)
			}
		case *replication.XIDEvent:
			if txn != nil && len(txn.Changes) > 0 {
				out = append(out, *txn)
				r.xidPos = append(r.xidPos, ev.Header.LogPos)
			}
			txn = nil
		}
	}
	return out
}

// jsonStreamer decodes the orders table (id, doc JSON) by the table map's
// names; no database is read.
func jsonStreamer() *Streamer {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint}, {Name: "doc", Attribute: "doc", Type: codec.JSON},
	}}
	return NewStreamer(StreamerDeps{MappingConfig: codec.Config{Table: "orders", Key: "id"}, Mapping: m, Logger: slog.New(slog.DiscardHandler)})
}

func jsonTable(schema string) *mysqlsource.Table {
	return &mysqlsource.Table{Schema: schema, Name: "orders", PrimaryKey: []int{0},
		Columns: []mysqlsource.Column{mysqlsource.IntColumn("id", 8, true), mysqlsource.JSONColumn("doc")}}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMySQLBinaryJSON: every binary JSON type, as MySQL writes it, reaches
// the row as the value MySQL's SELECT text of the same document gives the
// backfill (codec's FromText): objects and arrays nested, literals, every
// integer width, doubles (1.50 is 1.5; a whole double go-mysql writes out
// in full is MySQL's shortest text), strings, opaque DECIMAL, DATETIME,
// TIMESTAMP, DATE and TIME, and documents over 64 KiB (the large format).
func TestMySQLBinaryJSON(t *testing.T) {
	src, dsn, _ := mysqlSource(t, map[string]string{"binlog_row_metadata": "FULL"})
	cfg, _ := mysql.ParseDSN(dsn)
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	large := make([]any, 3000)
	var largeText strings.Builder
	largeText.WriteString("[")
	for i := range large {
		large[i] = map[string]any{"sku": fmt.Sprintf("S-%d", i), "qty": int64(i) * 70000, "price": 1.25, "ok": i%2 == 0}
		if i > 0 {
			largeText.WriteString(", ")
		}
		fmt.Fprintf(&largeText, `{"ok": %v, "qty": %d, "sku": "S-%d", "price": 1.25}`, i%2 == 0, int64(i)*70000, i)
	}
	largeText.WriteString("]")
	deep, deepText := any("bottom"), `"bottom"`
	for range 30 {
		deep, deepText = []any{deep, map[string]any{"k": true}}, "["+deepText+`, {"k": true}]`
	}
	cases := []struct {
		name  string
		doc   any    // what the source encodes (JSON text, or a tree with opaque values)
		mysql string // MySQL's SELECT text of the stored document
	}{
		{"object", `{"b": [true, false, null], "a": {"d": "é🦀\n\"q\""}, "": 0}`, `{"": 0, "a": {"d": "é🦀\n\"q\""}, "b": [true, false, null]}`},
		{"integers", "[0, -1, 32767, -32768, 65535, 65536, 2147483647, -2147483648, 4294967295, 4294967296, 9223372036854775807, -9223372036854775808, 18446744073709551615]",
			"[0, -1, 32767, -32768, 65535, 65536, 2147483647, -2147483648, 4294967295, 4294967296, 9223372036854775807, -9223372036854775808, 18446744073709551615]"},
		{"doubles", "[1.5, 1.50, 2.0, 0.1, 1e23, -0.0, 1e-7, 123456.789, 18446744073709551616]",
			"[1.5, 1.5, 2.0, 0.1, 1e23, -0.0, 1e-7, 123456.789, 1.8446744073709552e19]"},
		{"opaque", map[string]any{
			"d":    must(mysqlsource.JSONDecimal("1.50", 5, 2)),
			"big":  must(mysqlsource.JSONDecimal("-12345678901234567890.123456789", 29, 9)),
			"dt":   mysqlsource.JSONDateTime(at, gomysql.MYSQL_TYPE_DATETIME),
			"ts":   mysqlsource.JSONDateTime(at, gomysql.MYSQL_TYPE_TIMESTAMP),
			"day":  mysqlsource.JSONDate(at),
			"time": mysqlsource.JSONTime(-(12*time.Hour + 30*time.Minute + 1500*time.Millisecond)),
		}, `{"d": 1.50, "dt": "2024-01-02 03:04:05.123456", "ts": "2024-01-02 03:04:05.123456", "big": -12345678901234567890.123456789, "day": "2024-01-02", "time": "-12:30:01.500000"}`},
		{"large", large, largeText.String()},
		{"deep", deep, deepText},
		{"string", `"just a string"`, `"just a string"`},
		{"json null", `null`, `null`},
		{"scalar", `42`, `42`},
	}
	r := mysqlReader(t, src, dsn)
	var rows []mysqlsource.Row
	for i, c := range cases {
		rows = append(rows, mysqlsource.Row{After: []any{uint64(i + 1), c.doc}})
	}
	rows = append(rows, mysqlsource.Row{After: []any{uint64(len(cases) + 1), nil}})
	if _, err := src.Append(mysqlsource.Txn{Changes: []mysqlsource.Change{{Table: jsonTable(cfg.DBName), Rows: rows}}}); err != nil {
		t.Fatal(err)
	}
	got := r.txns(t, jsonStreamer(), 1)[0].Changes
	if len(got) != len(cases)+1 {
		t.Fatalf("%d changes, want %d", len(got), len(cases)+1)
	}
	col := codec.Column{Name: "doc", Type: codec.JSON}
	for i, c := range cases {
		want, err := col.FromText([]byte(c.mysql), false)
		if err != nil {
			t.Fatalf("%s: MySQL's text: %v", c.name, err)
		}
		if !reflect.DeepEqual(want, got[i].After[1]) { // cmp.Diff is too slow on the deep case
			w, _ := json.Marshal(want)
			g, _ := json.Marshal(got[i].After[1])
			t.Errorf("%s: binlog %.2000s, MySQL's SELECT %.2000s", c.name, g, w)
		}
	}
	if got[len(cases)].After[1] != nil {
		t.Errorf("SQL NULL doc decoded as %#v", got[len(cases)].After[1])
	}
}

// TestMySQLCompressedTransaction: a transaction written compressed
// (binlog_transaction_compression=ON: a TRANSACTION_PAYLOAD_EVENT) gives
// the changes, in the order and with the indexes, it gives uncompressed,
// and its XID's LogPos (what a file:offset checkpoint resumes after) is the
// payload's end, the transaction's end in the binlog, as uncompressed.
func TestMySQLCompressedTransaction(t *testing.T) {
	src, dsn, _ := mysqlSource(t, map[string]string{"binlog_row_metadata": "FULL"})
	cfg, _ := mysql.ParseDSN(dsn)
	tbl := jsonTable(cfg.DBName)
	txn := mysqlsource.Txn{Changes: []mysqlsource.Change{
		{Table: tbl, Rows: []mysqlsource.Row{{After: []any{uint64(1), `{"a": 1.50}`}}, {After: []any{uint64(2), `[1, 2]`}}}},
		{Table: tbl, Rows: []mysqlsource.Row{{Before: []any{uint64(1), `{"a": 1.50}`}, After: []any{uint64(1), `{"a": 2}`}}}},
		{Table: tbl, Rows: []mysqlsource.Row{{Before: []any{uint64(2), `[1, 2]`}}}},
		{Table: tbl, Rows: []mysqlsource.Row{{Before: []any{uint64(1), `{"a": 2}`}, After: []any{uint64(3), `{"a": 2}`}}}}, // a key change
	}}
	r := mysqlReader(t, src, dsn)
	var ends []int
	for _, compress := range []string{"OFF", "ON"} {
		src.Set("binlog_transaction_compression", compress)
		if _, err := src.Append(txn); err != nil {
			t.Fatal(err)
		}
		_, end, _ := src.Status()
		ends = append(ends, end)
	}
	got := r.txns(t, jsonStreamer(), 2)
	plain, compressed := got[0], got[1]
	compressed.Pos = plain.Pos
	for i := range compressed.Changes {
		compressed.Changes[i].Pos.Seq = plain.Pos.Seq
	}
	if len(plain.Changes) != 6 {
		t.Fatalf("%d changes uncompressed, want 6 (2 inserts, update, delete, key change as delete+insert)", len(plain.Changes))
	}
	if diff := cmp.Diff(plain.Changes, compressed.Changes, cmp.AllowUnexported(Change{}), cmp.Comparer(func(a, b *codec.Mapping) bool { return a == b })); diff != "" {
		t.Errorf("compressed changes differ (-plain +compressed):\n%s", diff)
	}
	for i, end := range ends {
		if int(r.xidPos[i]) != end {
			t.Errorf("transaction %d: XID LogPos %d, want the transaction's end %d", i, r.xidPos[i], end)
		}
	}
}

// readRow is the table's one row as the backfill reads it (text protocol).
func readRow(t *testing.T, dsn string, m *codec.Mapping) codec.Row {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = false // the backfill reads text
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(context.Background(), "SELECT "+m.QuotedColumns()+" FROM "+m.QuotedTable())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal("no row")
	}
	raw := make([]sql.RawBytes, len(m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, len(raw))
	for i, b := range raw {
		vals[i] = b
	}
	r, err := m.RowFromText(vals)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sameRowDDL is one table of every column type both flavors share.
const sameRowDDL = `CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, qty INT, small TINYINT UNSIGNED, total DECIMAL(12,2),
	ratio DOUBLE, f FLOAT, at DATETIME(6), at0 DATETIME, ts TIMESTAMP(3) NULL, d DATE, tm TIME(2), status ENUM('new','paid'),
	tags SET('gift','rush','fragile'), note VARCHAR(50), body TEXT, raw VARBINARY(16), flag BIT(8), y YEAR, doc JSON)
	DEFAULT CHARSET utf8mb4`

// TestMySQLRowLikeMariaDB: one row written to the local MariaDB, read from
// MariaDB's binlog and from the MySQL test source's (the same row as MySQL
// row events: binary JSON, MySQL's table map), gives the same item and
// byte-equal events (insert, update with changed/previous, delete), equal
// to the backfill's item of the row (text protocol); with the MySQL side's
// table maps carrying column names (FULL) or not (MINIMAL).
func TestMySQLRowLikeMariaDB(t *testing.T) {
	for _, meta := range []string{"FULL", "MINIMAL"} {
		t.Run(meta, func(t *testing.T) { rowLikeMariaDB(t, meta) })
	}
}

// rowLikeMariaDB is TestMySQLRowLikeMariaDB with the MySQL source's
// binlog_row_metadata at meta (MINIMAL: columns named from
// information_schema).
func rowLikeMariaDB(t *testing.T, meta string) {
	ctx := context.Background()
	src, dsn, db := mysqlSource(t, map[string]string{"binlog_row_metadata": meta})
	if _, err := db.Exec(sameRowDDL); err != nil {
		t.Fatal(err)
	}
	cfg := codec.Config{Table: "orders", Key: "id"}
	m, err := codec.Resolve(ctx, db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	streamer := func() *Streamer {
		return NewStreamer(StreamerDeps{DB: db, MappingConfig: cfg, Mapping: m, Logger: slog.New(slog.DiscardHandler)})
	}
	maria, my := mariadbReader(t, db, dsn), mysqlReader(t, src, dsn)
	var backfill map[string]types.AttributeValue
	for _, q := range []string{
		`INSERT INTO orders VALUES (1, -3, 255, 1.50, 0.1, 1.5, '2024-01-02 03:04:05.5', '2024-01-02 03:04:05', '2024-01-02 03:04:05.250',
			'2024-02-29', '-01:02:03.5', 'paid', 'rush,gift', 'é🦀 "q"', 'long text', x'00ff', b'101', 2024,
			'{"b": [1.50, 2.0, 1e3, "x", 0.1], "a": {"n": -0, "s": "é"}, "z": null, "big": 12345678901234567890, "t": true}')`,
		`UPDATE orders SET total = 2.00, doc = '{"b": [1.5], "z": 1.25E0}', tags = '' WHERE id = 1`,
		`DELETE FROM orders WHERE id = 1`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if q[0] == 'I' {
			if backfill, err = m.Item(readRow(t, dsn, m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ys := streamer()
	mt, yt := maria.txns(t, streamer(), 3), my.txns(t, ys, 3)
	if named := ys.columns == nil; named != (meta == "FULL") {
		t.Fatalf("binlog_row_metadata=%s but the MySQL side read information_schema: %v", meta, !named)
	}
	a := NewApplier(nil, nil, nil, DefaultRules(), time.Hour, nil, nil)
	for i := range mt {
		mc, yc := mt[i].Changes[0], yt[i].Changes[0]
		for _, c := range []Change{mc, yc} {
			if c.Kind != []Kind{Insert, Update, Delete}[i] {
				t.Fatalf("transaction %d: %v change", i, c.Kind)
			}
		}
		me, _, err1 := a.event(mc, "2026-01-01T00:00:00.000000Z")
		ye, _, err2 := a.event(yc, "2026-01-01T00:00:00.000000Z")
		if err1 != nil || err2 != nil {
			t.Fatalf("transaction %d: events: %v, %v", i, err1, err2)
		}
		if string(me.Detail) != string(ye.Detail) {
			t.Errorf("transaction %d: events differ:\nMariaDB %s\nMySQL   %s", i, me.Detail, ye.Detail)
		}
		if i == 2 {
			continue
		}
		mi, err1 := m.Item(mc.After)
		yi, err2 := m.Item(yc.After)
		if err1 != nil || err2 != nil {
			t.Fatalf("transaction %d: items: %v, %v", i, err1, err2)
		}
		if g, w := codec.Show(&types.AttributeValueMemberM{Value: yi}), codec.Show(&types.AttributeValueMemberM{Value: mi}); g != w {
			t.Errorf("transaction %d: items differ:\nMariaDB %s\nMySQL   %s", i, w, g)
		}
		if i == 0 {
			if g, w := codec.Show(&types.AttributeValueMemberM{Value: yi}), codec.Show(&types.AttributeValueMemberM{Value: backfill}); g != w {
				t.Errorf("the cdc's item differs from the backfill's:\nbackfill %s\ncdc      %s", w, g)
			}
			t.Logf("event: %s", ye.Detail)
		}
	}
}
