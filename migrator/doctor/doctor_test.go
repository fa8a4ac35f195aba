package doctor_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/stacktest"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/migrator/doctor"
)

// report renders cs for a failure message.
func report(cs []doctor.Check) string {
	var b bytes.Buffer
	_ = doctor.Write(&b, cs, doctor.Aligned)
	return b.String()
}

// TestLocalStackAllOK: a seeded legacy table on the local stack's MariaDB,
// tables from migrate init, the shipped bus rules: every check is ok.
func TestLocalStackAllOK(t *testing.T) {
	t.Parallel()
	f := newFixture(t, localStack(), 300)
	cs, err := f.d.Run(t.Context())
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	for _, c := range cs {
		if c.Level != doctor.OK {
			t.Errorf("not ok: %+v", c)
		}
	}
	m := f.d.Migrator
	for _, want := range []string{
		"config", "server MariaDB", "log_bin=ON", "binlog_format=ROW", "binlog_row_image=FULL", "binlog_row_metadata=FULL",
		"MariaDB GTIDs", "privilege REPLICATION SLAVE", "privilege REPLICATION CLIENT", "primary key id", "columns", "rows", "item size",
		"dynamodb table " + m.Table + " (orders)", "dynamodb index by_customer", "dynamodb ttl expires_at",
		"dynamodb table " + m.ControlTable + " (control)", "write capacity", "backfill time",
		"binlog retention", "event bus default", "bus rules",
	} {
		if !has(cs, func(c doctor.Check) bool { return strings.HasPrefix(c.What, want) }) {
			t.Errorf("no check %q", want)
		}
	}
	if !has(cs, func(c doctor.Check) bool { return c.What == "rows" && strings.HasPrefix(c.Why, "300 rows") }) {
		t.Errorf("rows not counted")
	}
	if t.Failed() {
		t.Logf("report:\n%s", report(cs))
	}
}

func has(cs []doctor.Check, ok func(doctor.Check) bool) bool {
	for _, c := range cs {
		if ok(c) {
			return true
		}
	}
	return false
}

// TestBrokenSettingsFailNamingTheFix breaks one thing at a time on a
// private MariaDB (never the shared one), on DynamoDB Local and on a bus:
// each fails alone, with its fix named.
func TestBrokenSettingsFailNamingTheFix(t *testing.T) {
	t.Parallel()
	srv := privateMariaDB(t)
	f := newFixture(t, srv, 200)
	root, err := sql.Open("mysql", srv.admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	exec := func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := root.ExecContext(context.Background(), q, args...); err != nil { // also in cleanups, after t.Context ends
			t.Fatalf("%s: %v", q, err)
		}
	}
	// setGlobal sets a global variable to broken (an SQL literal) for a subtest.
	setGlobal := func(name, broken, good string) func(t *testing.T) {
		return func(t *testing.T) {
			exec(t, fmt.Sprintf("SET GLOBAL %s = %s", name, broken))
			t.Cleanup(func() { exec(t, fmt.Sprintf("SET GLOBAL %s = %s", name, good)) })
		}
	}
	useTable := func(create string) func(t *testing.T) {
		return func(t *testing.T) {
			exec(t, "CREATE TABLE `"+f.dbName+"`."+create)
			name := strings.Fields(create)[0]
			m, c := f.d.Migrator.Mapping, f.d.CDC.Mapping
			f.d.Migrator.Mapping.Table, f.d.Migrator.Mapping.Ref = name, ""
			f.d.CDC.Mapping = f.d.Migrator.Mapping
			t.Cleanup(func() { f.d.Migrator.Mapping, f.d.CDC.Mapping = m, c })
		}
	}
	useDynamoDBTable := func(t *testing.T, name string) {
		m, c := f.d.Migrator.Table, f.d.CDC.Table
		f.d.Migrator.Table, f.d.CDC.Table = name, name
		t.Cleanup(func() { f.d.Migrator.Table, f.d.CDC.Table = m, c })
	}

	baseline, err := f.d.Run(t.Context())
	if err != nil || has(baseline, func(c doctor.Check) bool { return c.Level != doctor.OK }) {
		t.Fatalf("the private instance is not all ok before breaking anything (%v):\n%s", err, report(baseline))
	}

	cases := []struct {
		name    string
		breakIt func(t *testing.T)
		what    string // in the failed check's what or why
		fix     string // in its fix
		mayWarn bool   // a warning is right too (the cdc may decode it, at a cost)
	}{
		{"binlog_row_image=MINIMAL", setGlobal("binlog_row_image", "'MINIMAL'", "'FULL'"), "binlog_row_image=MINIMAL", "SET GLOBAL binlog_row_image = 'FULL'", false},
		{"binlog_format=STATEMENT", setGlobal("binlog_format", "'STATEMENT'", "'ROW'"), "binlog_format=STATEMENT", "SET GLOBAL binlog_format = 'ROW'", false},
		{"binlog_row_metadata=MINIMAL", setGlobal("binlog_row_metadata", "'MINIMAL'", "'FULL'"), "binlog_row_metadata=MINIMAL", "SET GLOBAL binlog_row_metadata = 'FULL'", true},
		{"cdc user without REPLICATION SLAVE", func(t *testing.T) {
			exec(t, "CREATE USER IF NOT EXISTS norepl@'127.0.0.1' IDENTIFIED BY 'norepl'")
			exec(t, "GRANT SELECT, BINLOG MONITOR ON *.* TO norepl@'127.0.0.1'")
			f.setCDCUser("norepl", "norepl")
			t.Cleanup(func() { f.setCDCUser(srv.cdcUser, srv.cdcPwd) })
		}, "privilege REPLICATION SLAVE missing", "GRANT REPLICATION SLAVE", false},
		{"table without a primary key", useTable("nopk (id BIGINT NOT NULL, notes TEXT)"), "primary key", "ADD PRIMARY KEY", false},
		{"two-column primary key", useTable("twopk (a INT, b INT, PRIMARY KEY (a, b))"), "primary key (a, b)", "one-column primary key", false},
		{"column type the codec cannot map", useTable("geo (id BIGINT PRIMARY KEY, spot POINT)"), "spot", "exclude", false},
		{"missing DynamoDB table", func(t *testing.T) {
			useDynamoDBTable(t, stacktest.TableName(t, f.ddb, "missing"))
		}, "dynamodb table", "strangler migrate init", false},
		{"TTL off", func(t *testing.T) {
			name := stacktest.TableName(t, f.ddb, "nottl")
			spec := migrator.OrdersSpec(name, f.d.Migrator.Index)
			spec.TTLAttribute = ""
			if _, err := ddbtable.Ensure(t.Context(), f.ddb, spec); err != nil {
				t.Fatal(err)
			}
			useDynamoDBTable(t, name)
		}, "ttl expires_at", "update-time-to-live", false},
		{"unreachable bus", func(t *testing.T) {
			bus, err := awsconf.Local("http://127.0.0.1:1").EventBridge(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			old, oldEP := f.d.Bus, f.d.CDC.EventBridge
			f.d.Bus, f.d.CDC.EventBridge.URL = bus, "http://127.0.0.1:1"
			t.Cleanup(func() { f.d.Bus, f.d.CDC.EventBridge = old, oldEP })
		}, "event bus", "eventbridge.url", false},
		{"binlog retention shorter than the backfill", func(t *testing.T) {
			setGlobal("binlog_expire_logs_seconds", "60", "172800")(t)
			f.d.Migrator.Backfill.MaxWCU = 1 // 200 items x 2 units at 1 a second: 400 s
			t.Cleanup(func() { f.d.Migrator.Backfill.MaxWCU = 0 })
		}, "binlog retention 1m00s", "binlog_expire_logs_seconds = 86400", false},
		{"RDS binlog retention hours unset", func(t *testing.T) {
			exec(t, "CREATE PROCEDURE mysql.rds_show_configuration() SELECT 'binlog retention hours' AS name, NULL AS value, 'binlog retention hours specifies the duration in hours before binary logs are automatically deleted.' AS description")
			t.Cleanup(func() { exec(t, "DROP PROCEDURE mysql.rds_show_configuration") })
		}, "RDS", "CALL mysql.rds_set_configuration('binlog retention hours', 24)", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.breakIt(t)
			cs, err := f.d.Run(t.Context())
			var bad []doctor.Check
			for _, c := range cs {
				if c.Level != doctor.OK {
					bad = append(bad, c)
				}
			}
			if len(bad) != 1 {
				t.Fatalf("%d checks are not ok, want 1:\n%s", len(bad), report(cs))
			}
			c := bad[0]
			t.Logf("%s", report(bad))
			if (c.Level != doctor.Fail && !tc.mayWarn) || (c.Level == doctor.Fail) != (err != nil) {
				t.Errorf("%+v, Run: %v; want it failed", c, err)
			}
			if !strings.Contains(c.What+" "+c.Why, tc.what) || !strings.Contains(c.Fix, tc.fix) {
				t.Errorf("%+v: want %q in what or why and %q in fix", c, tc.what, tc.fix)
			}
			if t.Failed() {
				t.Logf("report:\n%s", report(cs))
			}
		})
	}
	if _, err := f.ddb.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(f.d.Migrator.Table)}); err != nil {
		t.Errorf("the fixture's table: %v", err)
	}
}
