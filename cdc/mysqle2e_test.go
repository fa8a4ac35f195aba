package cdc_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/mysqlsource"
	"github.com/anycompany/strangler/devstack/mysqlsource/sourcetest"
	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/stacktest"
)

// everyTypeDDL is one table of every column type the codec maps (the
// row tests' table, cdc/mysqlrows_test.go, with the remaining integer,
// character and binary types).
const everyTypeDDL = `CREATE TABLE everytype (id BIGINT UNSIGNED PRIMARY KEY, qty INT, small TINYINT UNSIGNED, total DECIMAL(12,2),
	ratio DOUBLE, f FLOAT, at DATETIME(6), at0 DATETIME, ts TIMESTAMP(3) NULL, d DATE, tm TIME(2), status ENUM('new','paid'),
	tags SET('gift','rush','fragile'), note VARCHAR(50), body TEXT, raw VARBINARY(16), flag BIT(8), y YEAR, doc JSON,
	sm SMALLINT, med MEDIUMINT UNSIGNED, big BIGINT, num NUMERIC(20,0), code CHAR(3), lt LONGTEXT, bin BINARY(4), blb BLOB)
	DEFAULT CHARSET utf8mb4`

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "9c1d5b2e-0000-11ef-8000-000000000002" // the promoted replica's
)

// everyTypeFixture is a fixture whose cdc and verify map the everytype
// table (no ref column).
func everyTypeFixture(t *testing.T, dsn string) *fixture {
	t.Helper()
	f := newFixtureOn(t, dsn, eventbus.FaultConfig{})
	mc := codec.Config{Table: "everytype", Key: "id"}
	f.cfg.Mapping, f.mcfg.Mapping = mc, mc
	if err := f.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStackMySQLEndToEnd runs the whole cdc (stream -> guarded writes to
// DynamoDB -> events on the local bus -> checkpoint) over the MySQL test
// source (the replication protocol, GTIDs), beside a second cdc that
// reads the same rows from MariaDB's own binlog, and walks issue 14's
// list: a row of every column type the codec maps with a JSON document
// (binary JSON on the MySQL side), an ALTER TABLE adding a column in the
// middle, a compressed transaction, a rotation, a switch of server uuid (a
// failover: two uuids in one GTID set) and a restart from that
// checkpoint, a document of MySQL's opaque JSON values (FULL metadata),
// then PARTIAL_JSON refused and a purged checkpoint refused.
// Both sides end with the same items (but src_pos) and the same events
// (but ids, positions and times), and verify finds DynamoDB equal to the
// rows read through the MySQL source. It runs on MySQL 8.0 with
// binlog_row_metadata=FULL; on 8.4 with MINIMAL (columns named from
// information_schema, across the ALTER) and the cdc user's privilege
// spelled REPLICATION REPLICA; on 5.7 (no table map metadata at all,
// no compression, no binlog_row_value_options to set); and on 8.0 with
// gtid_mode=OFF (checkpoints are file:offset).
func TestStackMySQLEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name, version, metadata string
		gtid                    bool
	}{{"8.0.36", "8.0.36", "FULL", true}, {"8.4.3", "8.4.3", "MINIMAL", true}, {"5.7.44", "5.7.44-log", "", true}, {"8.0.36/gtid_mode=OFF", "8.0.36", "FULL", false}} {
		t.Run(tc.name, func(t *testing.T) { mysqlEndToEnd(t, tc.version, tc.metadata, tc.gtid) })
	}
}

// mysqlEndToEnd is TestStackMySQLEndToEnd on one version; metadata is
// binlog_row_metadata ("" on 5.7, which has none).
func mysqlEndToEnd(t *testing.T, version, metadata string, gtid bool) {
	dsn := stacktest.MySQLDatabase(t)
	src, front := sourcetest.Start(t, dsn, mysqlsource.Config{Version: version, ServerUUID: uuidA})
	v8 := metadata != ""
	if !gtid {
		src.Set("gtid_mode", "OFF")
	}
	if v8 {
		src.Set("binlog_row_metadata", metadata)
	}
	if strings.HasPrefix(version, "8.4") {
		src.SetGrants("GRANT SELECT, RELOAD, REPLICATION REPLICA, REPLICATION CLIENT ON *.* TO `strangler`@`%`")
	}
	my, maria := everyTypeFixture(t, front), everyTypeFixture(t, dsn)
	my.exec(everyTypeDDL)
	myRun, _ := my.start(cdc.Options{From: my.current()}, "my"), maria.start(cdc.Options{From: maria.current()}, "maria")

	// A row of every type; the JSON document goes to the MySQL binlog as
	// binary JSON.
	my.exec(`INSERT INTO everytype VALUES (1, -3, 255, 1.50, 0.1, 1.5, '2024-01-02 03:04:05.5', '2024-01-02 03:04:05',
		'2024-01-02 03:04:05.250', '2024-02-29', '-01:02:03.5', 'new', 'rush,gift', 'é🦀 "q"', 'long text', x'00ff', b'101', 2024,
		'{"b": [1.50, 2.0, 1e3, "x", 0.1], "a": {"n": -0, "s": "é", "deep": [[{"k": [true, false, null]}]]}, "z": null, "big": 12345678901234567890}',
		-32768, 16777215, -9223372036854775808, 99999999999999999999, 'abc', 'longtext é', x'01020304', x'deadbeef')`)
	// A column added in the middle once the cdc is caught up (without
	// names in the binlog, an event older than an ALTER the server has
	// applied is refused: docs in cdc/README.md).
	waitCheckpoint(t, my)
	my.exec("ALTER TABLE everytype ADD COLUMN extra VARCHAR(10) AFTER qty")
	// A compressed transaction of three changes (8.0.20+).
	src.Set("binlog_transaction_compression", "ON")
	inTxn(t, my, `INSERT INTO everytype (id, extra, status, doc) VALUES (2, 'x', 'new', '[1, {"x": "y"}]')`,
		`UPDATE everytype SET total = 2.00, doc = '{"b": [1.5], "z": 1.25E0}', tags = '' WHERE id = 1`,
		`UPDATE everytype SET note = 'second' WHERE id = 2`)
	src.Set("binlog_transaction_compression", "OFF")
	// A rotation, then a failover's new uuid: the executed set has two.
	first := src.Files()[len(src.Files())-1]
	second := src.Rotate()
	if second == first {
		t.Fatalf("Rotate stayed in %s", first)
	}
	if err := src.SetServerUUID(uuidB); err != nil {
		t.Fatal(err)
	}
	my.exec("UPDATE everytype SET status = 'paid' WHERE id = 2")
	waitCheckpoint(t, my)
	cp := checkpoint(t, my)
	if gtid && (!strings.HasPrefix(cp, uuidA+":1-") || !strings.HasSuffix(cp, ","+uuidB+":1")) {
		t.Errorf("checkpoint %q: want the GTID set of both server uuids", cp)
	}
	if !gtid && !strings.HasPrefix(cp, second+":") {
		t.Errorf("checkpoint %q: want a position in %s, the file after the rotation", cp, second)
	}

	// Restarted, the cdc resumes from the two-uuid checkpoint exactly.
	myRun.stop(t)
	my.exec("DELETE FROM everytype WHERE id = 2")
	my.exec(`INSERT INTO everytype (id, doc) VALUES (3, '{"after": "restart"}')`)
	myRun = my.start(cdc.Options{}, "my")
	waitCheckpoint(t, my)
	my.verify(20 * time.Second)
	wantTypes := map[string][]string{
		"1": {events.OrderCreated, events.OrderUpdated},
		"2": {events.OrderCreated, events.OrderUpdated, events.OrderStatusChanged, events.OrderDeleted},
		"3": {events.OrderCreated},
	}
	sameAsMariaDB(t, my, maria, wantTypes)
	if metadata == "FULL" {
		opaqueJSON(t, src, my)
	}
	myRun.stop(t)
	refusals(t, src, my, v8)
}

// opaqueJSON appends (mysqlsource.Append: MySQL writes these from SQL, the
// MariaDB behind the source cannot) a row whose JSON document holds
// MySQL's opaque values, DECIMAL, DATETIME, DATE and TIME, and then its
// delete: the item and the event carry MySQL's SELECT text of the
// document (the backfill's view), and the delete leaves a tombstone. FULL
// metadata names the two columns the events carry; the rest are NULL.
func opaqueJSON(t *testing.T, src *mysqlsource.Source, f *fixture) {
	t.Helper()
	at := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	dec, err := mysqlsource.JSONDecimal("1.50", 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"d": dec, "dt": mysqlsource.JSONDateTime(at, gomysql.MYSQL_TYPE_DATETIME), "day": mysqlsource.JSONDate(at),
		"time": mysqlsource.JSONTime(-(12*time.Hour + 30*time.Minute + 1500*time.Millisecond)), "n": []any{int64(1), 2.5}}
	tbl := &mysqlsource.Table{Name: "everytype", PrimaryKey: []int{0},
		Columns: []mysqlsource.Column{mysqlsource.IntColumn("id", 8, true), mysqlsource.JSONColumn("doc")}}
	row := []any{uint64(90), doc}
	if _, err := src.Append(mysqlsource.Txn{Changes: []mysqlsource.Change{{Table: tbl, Rows: []mysqlsource.Row{{After: row}}}}}); err != nil {
		t.Fatal(err)
	}
	const want = `{"d":1.5,"day":"2024-01-02","dt":"2024-01-02 03:04:05.123456","n":[1,2.5],"time":"-12:30:01.500000"}`
	var got string
	eventually(20*time.Second, func() bool {
		got = ""
		if d, ok := f.item("90")["doc"]; ok {
			got = codec.Show(d)
		}
		return got != ""
	})
	if got != want {
		t.Errorf("item 90's doc: %s, want %s", got, want)
	}
	var doc90 json.RawMessage
	eventually(20*time.Second, func() bool {
		for _, e := range f.accepted() {
			if jsonID(e.Detail.Order["id"]) == "90" {
				var d struct {
					Order struct{ Doc json.RawMessage }
				}
				doc90 = nil
				if json.Unmarshal(e.Raw, &d) == nil {
					doc90 = d.Order.Doc
				}
				return true
			}
		}
		return false
	})
	if string(doc90) != want {
		t.Errorf("event of 90: order.doc %s, want %s", doc90, want)
	}
	if _, err := src.Append(mysqlsource.Txn{Changes: []mysqlsource.Change{{Table: tbl, Rows: []mysqlsource.Row{{Before: row}}}}}); err != nil {
		t.Fatal(err)
	}
	if !eventually(20*time.Second, func() bool { return f.item("90")["deleted"] != nil }) {
		t.Errorf("no tombstone for 90: %v", f.item("90"))
	}
}

// inTxn runs stmts in one transaction.
func inTxn(t *testing.T, f *fixture, stmts ...string) {
	t.Helper()
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// checkpoint is the cdc's checkpoint in its resume form ("" without one).
func checkpoint(t *testing.T, f *fixture) string {
	t.Helper()
	out, err := f.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.cfg.ControlTable), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cdc#" + f.cfg.Mapping.Table}, "sk": &types.AttributeValueMemberS{Value: "checkpoint"}}})
	if err != nil {
		t.Fatal(err)
	}
	return itemString(out.Item, "resume")
}

// waitCheckpoint waits until f's checkpoint is the source's position.
func waitCheckpoint(t *testing.T, f *fixture) {
	t.Helper()
	want := f.current()
	waitFor(t, "the checkpoint at the source's position "+want, 20*time.Second, func() bool { return checkpoint(t, f) == want })
}

// sameAsMariaDB waits until both sides have the events wanted (each
// once: events are at least once, a publisher's retry may repeat one) and
// then checks that both have, key by key, the same events but event_id,
// source_position and occurred_at, of the types wanted, and (once the
// MariaDB side's writes landed too) the same items but src_pos.
func sameAsMariaDB(t *testing.T, my, maria *fixture, want map[string][]string) {
	t.Helper()
	n := 0
	for _, l := range want {
		n += len(l)
	}
	var mine, theirs map[string][]string
	eventually(20*time.Second, func() bool {
		mine, theirs = eventsByKey(t, my), eventsByKey(t, maria)
		return count(mine) >= n && count(theirs) >= n
	})
	if diff := cmp.Diff(theirs, mine); diff != "" {
		t.Errorf("events (-MariaDB +MySQL):\n%s", diff)
	}
	for id, kinds := range want {
		var got []string
		for _, e := range mine[id] {
			got = append(got, strings.Fields(e)[0])
		}
		if diff := cmp.Diff(kinds, got); diff != "" {
			t.Errorf("order %s: detail types (-want +got):\n%s", id, diff)
		}
		var a, b map[string]types.AttributeValue
		same := eventually(20*time.Second, func() bool {
			a, b = my.item(id), maria.item(id)
			return a["src_pos"] != nil && b["src_pos"] != nil && showItem(a) == showItem(b)
		})
		if !same {
			t.Errorf("order %s: items differ:\nMariaDB %v\nMySQL   %v", id, showItem(b), showItem(a))
		}
	}
}

// eventsByKey are the events f's bus accepted, each once, by order id,
// in source order, without what differs between flavors.
func eventsByKey(t *testing.T, f *fixture) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	seen := map[string]bool{}
	for id, l := range byOrder(f.accepted()) {
		for _, e := range l {
			if seen[e.Detail.EventID] {
				continue
			}
			seen[e.Detail.EventID] = true
			var m map[string]json.RawMessage
			if err := json.Unmarshal(e.Raw, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "event_id")
			delete(m, "source_position")
			delete(m, "occurred_at")
			b, _ := json.Marshal(m)
			out[id] = append(out[id], e.DetailType+" "+string(b))
		}
	}
	return out
}

func count(m map[string][]string) int {
	n := 0
	for _, l := range m {
		n += len(l)
	}
	return n
}

// showItem is an item but its src_pos and expires_at (a tombstone's TTL
// counts from its write), as codec.Show prints it.
func showItem(item map[string]types.AttributeValue) string {
	c := maps.Clone(item)
	delete(c, "src_pos")
	delete(c, "expires_at")
	return codec.Show(&types.AttributeValueMemberM{Value: c})
}

// refusals: with the cdc stopped, binlog_row_value_options=PARTIAL_JSON
// (8.0.3+) is refused at start naming the setting; then a checkpoint whose
// next transaction the source purged stops it with ErrPositionPurged.
func refusals(t *testing.T, src *mysqlsource.Source, f *fixture, v8 bool) {
	t.Helper()
	if v8 {
		src.Set("binlog_row_value_options", "PARTIAL_JSON")
		err := f.runOnce(cdc.Options{})
		src.Set("binlog_row_value_options", "")
		if !errors.Is(err, cdc.ErrSource) || !strings.Contains(err.Error(), "binlog_row_value_options=PARTIAL_JSON") {
			t.Errorf("Run with PARTIAL_JSON = %v, want ErrSource naming binlog_row_value_options=PARTIAL_JSON", err)
		}
	}
	f.exec(`INSERT INTO everytype (id) VALUES (4)`)
	if err := src.PurgeTo(src.Rotate()); err != nil {
		t.Fatal(err)
	}
	if err := f.runOnce(cdc.Options{}); !errors.Is(err, cdc.ErrPositionPurged) {
		t.Errorf("Run from a checkpoint whose next transaction is purged = %v, want ErrPositionPurged", err)
	}
}
