package doctor_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/anycompany/strangler/devstack/mysqlsource"
	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/migrator"
	"github.com/anycompany/strangler/migrator/doctor"
)

// TestMySQLFlavor runs the doctor against devstack/mysqlsource, a MySQL
// 8.0 source over the real protocol in front of a database of the local
// stack: every check is ok; then one setting at a time, PARTIAL_JSON, a
// GTID mode part-way through a transition, an old server and a short
// retention fail (gtid_mode=OFF warns), each naming its fix.
func TestMySQLFlavor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, localStack(), 100)
	src, err := mysqlsource.Start(context.Background(), mysqlsource.Config{Backend: f.dsn, Database: f.dbName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	front, err := src.DSN(f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := migrator.OpenSource(config.Secret(front), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rows.Close() })
	cdcDB, err := sql.Open("mysql", front)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cdcDB.Close() })
	f.d.Migrator.MySQL.DSN, f.d.CDC.DSN = config.Secret(front), front
	f.d.Source, f.d.Inspect = rows, cdcInspect(cdcDB)

	baseline, err := f.d.Run(t.Context())
	if err != nil || has(baseline, func(c doctor.Check) bool { return c.Level != doctor.OK }) {
		t.Fatalf("the MySQL source is not all ok (%v):\n%s", err, report(baseline))
	}
	for _, want := range []string{"server MySQL 8.0.36", "gtid_mode=ON", "binlog_row_value_options=", "binlog retention 30d (binlog_expire_logs_seconds=2592000)"} {
		if !has(baseline, func(c doctor.Check) bool { return strings.HasPrefix(c.What, want) }) {
			t.Errorf("no check %q:\n%s", want, report(baseline))
		}
	}

	cases := []struct {
		name, value, good string
		level             doctor.Level
		what, fix         string
	}{
		{"binlog_row_value_options", "PARTIAL_JSON", "", doctor.Fail, "binlog_row_value_options=PARTIAL_JSON", "SET GLOBAL binlog_row_value_options = ''"},
		{"gtid_mode", "ON_PERMISSIVE", "ON", doctor.Fail, "gtid_mode=ON_PERMISSIVE", "finish the transition"},
		{"gtid_mode", "OFF_PERMISSIVE", "ON", doctor.Fail, "gtid_mode=OFF_PERMISSIVE", "finish the transition"},
		{"gtid_mode", "OFF", "ON", doctor.Warn, "gtid_mode=OFF", "SET GLOBAL gtid_mode step by step to ON"},
		{"binlog_row_image", "MINIMAL", "FULL", doctor.Fail, "binlog_row_image=MINIMAL", "SET GLOBAL binlog_row_image = 'FULL'"},
		{"version", "5.6.51", "8.0.36", doctor.Fail, "server MySQL 5.6.51", "upgrade the source to MySQL 5.7, 8.0 or 8.4"},
		{"binlog_expire_logs_seconds", "60", "2592000", doctor.Fail, "binlog retention 1m00s", "SET PERSIST binlog_expire_logs_seconds = 86400"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			src.Set(tc.name, tc.value)
			t.Cleanup(func() { src.Set(tc.name, tc.good) })
			if tc.name == "binlog_expire_logs_seconds" {
				f.d.Migrator.Backfill.MaxWCU = 1 // 100 items x 2 units at 1 a second: 200 s
				t.Cleanup(func() { f.d.Migrator.Backfill.MaxWCU = 0 })
			}
			cs, err := f.d.Run(t.Context())
			var bad []doctor.Check
			for _, c := range cs {
				// MySQL 5.6 has no binlog_row_metadata either: that warning
				// stands beside the version's failure.
				if c.Level != doctor.OK && (tc.name != "version" || !strings.HasPrefix(c.What, "binlog_row_metadata (absent")) {
					bad = append(bad, c)
				}
			}
			if len(bad) != 1 {
				t.Fatalf("%d checks are not ok, want 1:\n%s", len(bad), report(cs))
			}
			c := bad[0]
			t.Logf("%s", report(bad))
			if c.Level != tc.level || (c.Level == doctor.Fail) != (err != nil) || !strings.HasPrefix(c.What, tc.what) || !strings.Contains(c.Fix, tc.fix) {
				t.Errorf("%+v (Run: %v): want %s %q with fix %q", c, err, tc.level, tc.what, tc.fix)
			}
		})
	}
}
