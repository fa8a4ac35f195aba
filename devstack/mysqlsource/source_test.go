package mysqlsource

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
	vtmysql "vitess.io/vitess/go/mysql"
	vtbinlog "vitess.io/vitess/go/mysql/binlog"
	"vitess.io/vitess/go/mysql/replication"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/anycompany/strangler/internal/stacktest"
)

// start starts a source in front of a fresh database of the local stack
// and returns it with a client of it.
func start(t *testing.T, version string) (*Source, *sql.DB) {
	t.Helper()
	dsn := stacktest.MySQLDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Config{Backend: dsn, Database: cfg.DBName, Version: version, ServerUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	front, err := s.DSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", front)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// replica is a vitess client reading the source's binlog.
type replica struct {
	conn *vtmysql.Conn
	r    *vreader
}

// dial connects a vitess client as a checksum-aware replica.
func dial(t *testing.T, s *Source) *vtmysql.Conn {
	t.Helper()
	host, port := s.HostPort()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := vtmysql.Connect(ctx, &vtmysql.ConnParams{Host: host, Port: int(port), Uname: s.backend.User, Pass: s.backend.Passwd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.ExecuteFetch("SET @source_binlog_checksum = 'CRC32', @source_heartbeat_period = 100000000", 0, false); err != nil {
		t.Fatal(err)
	}
	return c
}

// dumpGTID starts a GTID dump for a replica that has have.
func dumpGTID(t *testing.T, s *Source, have string) *replica {
	t.Helper()
	c := dial(t, s)
	set, err := replication.ParseMysql56GTIDSet(have)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteComBinlogDumpGTID(42, "", 4, 0, set.SIDBlock()); err != nil {
		t.Fatal(err)
	}
	return &replica{conn: c, r: &vreader{t: t}}
}

// readRows reads until n row images arrived (heartbeats and all).
func (r *replica) readRows(t *testing.T, n int) parsed {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.r.rows) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d row images, want %d", len(r.r.rows), n)
		}
		ev, err := r.conn.ReadBinlogEvent()
		if err != nil {
			t.Fatal(err)
		}
		r.r.visit(ev, false)
	}
	return r.r.parsed
}

// TestServesTheBackendsChangesAsMySQLEvents writes through the source
// with go-sql-driver (prepared statements too) and reads the changes as a
// replica with vitess's client and parser.
func TestServesTheBackendsChangesAsMySQLEvents(t *testing.T) {
	s, db := start(t, "8.0.36")
	var version, format, image string
	if err := db.QueryRow("SELECT @@version, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image").Scan(&version, &format, &image); err != nil {
		t.Fatal(err)
	}
	if version != "8.0.36" || format != "ROW" || image != "FULL" {
		t.Fatalf("version %s format %s image %s", version, format, image)
	}
	exec(t, db, "CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, total DECIMAL(12,2), items JSON, channel ENUM('retail','wholesale'), at DATETIME(6), note TEXT NULL)")
	exec(t, db, `INSERT INTO orders VALUES (1, 12.50, '{"sku":"x","n":[1,2]}', 'wholesale', '2024-01-02 03:04:05.123456', NULL)`)
	exec(t, db, "UPDATE orders SET total = ?, note = ? WHERE id = ?", "-3.25", "héllo", 1)
	exec(t, db, "DELETE FROM orders WHERE id = ?", 1)

	_, _, executed := s.Status()
	if executed != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-4" {
		t.Fatalf("executed %s after a DDL and three changes, want uuid:1-4", executed)
	}
	p := dumpGTID(t, s, "").readRows(t, 4)
	row := []string{"1", "12.50", `{"n": [1, 2], "sku": "x"}`, "2", "2024-01-02 03:04:05.123456", "NULL"}
	upd := []string{"1", "-3.25", `{"n": [1, 2], "sku": "x"}`, "2", "2024-01-02 03:04:05.123456", "héllo"}
	before := func(r []string) []string { r = append([]string(nil), r...); r[2] = ""; return r } // vitess prints no JSON in before images
	if diff := cmp.Diff([][]string{row, before(row), upd, before(upd)}, p.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if p.colTypes[2] != vtbinlog.TypeJSON {
		t.Errorf("the JSON column is binlog type %d, want MYSQL_TYPE_JSON", p.colTypes[2])
	}
	if len(p.gtids) != 4 || p.gtids[3] != "3e11fa47-71ca-11e1-9e33-c80aa9429562:4" {
		t.Errorf("gtids %v", p.gtids)
	}
}

// TestTwoUUIDsRotationAndPurge switches the server uuid (a failover),
// rotates, purges, and checks what a replica is served or refused.
func TestTwoUUIDsRotationAndPurge(t *testing.T) {
	s, db := start(t, "8.0.36")
	tbl := &Table{Schema: s.cfg.Database, Name: "t", Columns: []Column{IntColumn("id", 4, false)}, PrimaryKey: []int{0}}
	add := func(id int) string {
		g, err := s.Append(Txn{Changes: []Change{{Table: tbl, Rows: []Row{{After: []any{id}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	add(1)
	first := s.Files()[0]
	second := s.Rotate()
	if err := s.SetServerUUID("4e11fa47-71ca-11e1-9e33-c80aa9429562"); err != nil {
		t.Fatal(err)
	}
	if g := add(2); g != "4e11fa47-71ca-11e1-9e33-c80aa9429562:1" {
		t.Fatalf("after the uuid switch: %s", g)
	}
	var executed string
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_executed").Scan(&executed); err != nil {
		t.Fatal(err)
	}
	if executed != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1,4e11fa47-71ca-11e1-9e33-c80aa9429562:1" {
		t.Fatalf("gtid_executed %s", executed)
	}
	p := dumpGTID(t, s, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1").readRows(t, 1)
	if diff := cmp.Diff([][]string{{"2"}}, p.rows); diff != "" {
		t.Errorf("rows after the first uuid's transaction (-want +got):\n%s", diff)
	}
	exec(t, db, "PURGE BINARY LOGS TO '"+second+"'")
	if diff := cmp.Diff([]string{second}, s.Files()); diff != "" || first == second {
		t.Fatalf("files after purge: %s", diff)
	}
	var purged string
	if err := db.QueryRow("SELECT @@GLOBAL.gtid_purged").Scan(&purged); err != nil || purged != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1" {
		t.Fatalf("gtid_purged %q, %v", purged, err)
	}
	c := dumpGTID(t, s, "").conn
	_, err := c.ReadBinlogEvent()
	var se *sqlerror.SQLError
	if !errors.As(err, &se) || se.Number() != 1236 || !strings.Contains(se.Message, "the source purged required binary logs") {
		t.Fatalf("a dump missing purged transactions: %v, want error 1236", err)
	}
}

// TestFilePositionsWithGTIDModeOff serves file:offset dumps and refuses
// auto-positioning when gtid_mode is OFF.
func TestFilePositionsWithGTIDModeOff(t *testing.T) {
	s, db := start(t, "5.7.44-log")
	s.Set("gtid_mode", "OFF")
	exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
	file, pos, _ := s.Status()
	exec(t, db, "INSERT INTO t VALUES (7)")
	var f string
	var p uint64
	var doDB, ignore, gtids string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&f, &p, &doDB, &ignore, &gtids); err != nil {
		t.Fatal(err)
	}
	if f != file || int(p) <= pos || gtids != "" {
		t.Fatalf("status %s:%d %q after an insert at %s:%d", f, p, gtids, file, pos)
	}
	c := dial(t, s)
	if err := c.WriteComBinlogDump(42, file, uint64(pos), 0); err != nil {
		t.Fatal(err)
	}
	r := &replica{conn: c, r: &vreader{t: t}}
	got := r.readRows(t, 1)
	if diff := cmp.Diff([][]string{{"7"}}, got.rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if len(got.gtids) != 0 || !bytesContain(got.types, evAnonymousGTID) {
		t.Errorf("event types %v: want an anonymous GTID event and no GTIDs (%v)", got.types, got.gtids)
	}
	c2 := dumpGTID(t, s, "").conn
	if _, err := c2.ReadBinlogEvent(); err == nil || !strings.Contains(err.Error(), "GTID_MODE = OFF") {
		t.Fatalf("an auto-positioned dump with gtid_mode OFF: %v", err)
	}
}

func bytesContain(b []byte, x byte) bool {
	for _, c := range b {
		if c == x {
			return true
		}
	}
	return false
}

// TestHoldIsBinloggedBeforeVisible holds a transaction between its binlog
// write and its commit.
func TestHoldIsBinloggedBeforeVisible(t *testing.T) {
	s, db := start(t, "8.0.36")
	exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY)")
	_, before, _ := s.Status()
	ctx := context.Background()
	h, err := s.Hold(ctx, "INSERT INTO t VALUES (1)")
	if err != nil {
		t.Fatal(err)
	}
	_, after, executed := s.Status()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if after <= before || n != 0 || strings.HasSuffix(executed, ":1-2") {
		t.Fatalf("held: position %d -> %d, %d rows visible, executed %s", before, after, n, executed)
	}
	var waited int
	if err := db.QueryRow("SELECT WAIT_FOR_EXECUTED_GTID_SET('" + h.GTID + "', 0.1)").Scan(&waited); err != nil || waited != 1 {
		t.Fatalf("WAIT_FOR_EXECUTED_GTID_SET on a held transaction: %d, %v; want 1 (timeout)", waited, err)
	}
	p := dumpGTID(t, s, "").readRows(t, 1)
	if diff := cmp.Diff([][]string{{"1"}}, p.rows); diff != "" {
		t.Errorf("a replica is served the held transaction (-want +got):\n%s", diff)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT WAIT_FOR_EXECUTED_GTID_SET('" + h.GTID + "', 1)").Scan(&waited); err != nil || waited != 0 {
		t.Fatalf("after release: %d, %v", waited, err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after release %d rows, %v", n, err)
	}
	if _, _, executed := s.Status(); !strings.HasSuffix(executed, ":1-2") {
		t.Fatalf("executed %s after release", executed)
	}
}

// TestAnswersAsTheVersionDoes checks the statements whose answer depends
// on the MySQL version, and the refusal of MariaDB's names.
func TestAnswersAsTheVersionDoes(t *testing.T) {
	cases := []struct {
		version, query string
		ok             bool
	}{
		{"8.0.36", "SHOW MASTER STATUS", true},
		{"8.0.36", "SHOW BINARY LOG STATUS", false},
		{"8.4.3", "SHOW MASTER STATUS", false},
		{"8.4.3", "SHOW BINARY LOG STATUS", true},
		{"8.4.3", "SHOW REPLICA STATUS", true},
		{"8.4.3", "SHOW SLAVE STATUS", false},
		{"8.0.mysql_aurora.3.05.2", "SHOW MASTER STATUS", true},
		{"5.7.44-log", "SHOW BINARY LOG STATUS", false},
		{"8.0.36", "SELECT @@gtid_binlog_pos", false},
		{"8.0.36", "SELECT BINLOG_GTID_POS('binlog.000001', 4)", false},
		{"8.0.36", "SHOW GRANTS", true},
	}
	for _, c := range cases {
		_, db := start(t, c.version)
		rows, err := db.Query(c.query)
		if err == nil {
			rows.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("%s on %s: %v, want ok=%v", c.query, c.version, err, c.ok)
		}
	}
	s, db := start(t, "8.0.36")
	s.Set("binlog_row_value_options", "PARTIAL_JSON")
	var name, value string
	if err := db.QueryRow("SHOW GLOBAL VARIABLES LIKE 'binlog_row_value%'").Scan(&name, &value); err != nil || value != "PARTIAL_JSON" {
		t.Fatalf("SHOW VARIABLES: %s=%s, %v", name, value, err)
	}
}

// TestInformationSchemaShowsJSON checks that information_schema says json
// for a JSON column, as MySQL's does, and that CHECK_CONSTRAINTS has no
// TABLE_NAME and no json_valid checks.
func TestInformationSchemaShowsJSON(t *testing.T) {
	_, db := start(t, "8.0.36")
	exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, doc JSON, note LONGTEXT, CHECK (id > 0))")
	rows, err := db.Query("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", "t")
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for rows.Next() {
		var n, dt, ct string
		if err := rows.Scan(&n, &dt, &ct); err != nil {
			t.Fatal(err)
		}
		got = append(got, []string{n, dt, ct})
	}
	rows.Close()
	want := [][]string{{"id", "int", "int(11)"}, {"doc", "json", "json"}, {"note", "longtext", "longtext"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	_, err = db.Query("SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 't'")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1054 {
		t.Fatalf("CHECK_CONSTRAINTS by TABLE_NAME: %v, want error 1054", err)
	}
	var clauses []string
	rows, err = db.Query("SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		clauses = append(clauses, c)
	}
	rows.Close()
	if diff := cmp.Diff([]string{"`id` > 0"}, clauses); diff != "" {
		t.Errorf("checks (-want +got), the json_valid one hidden:\n%s", diff)
	}
}
