package cdc_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/internal/stacktest"
)

// mysql80 is a MySQL 8.0 source the cdc reads.
func mysql80() cdc.Source {
	return cdc.Source{
		Version: "8.0.36", Flavor: "mysql", Major: 8, Minor: 0, Patch: 36,
		Vars: map[string]string{
			"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL",
			"binlog_row_value_options": "", "gtid_mode": "ON", "enforce_gtid_consistency": "ON", "binlog_order_commits": "ON",
			"log_replica_updates": "ON",
		},
		Grants: "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`\n",
	}
}

// TestJudge: each refusal of the issue fails naming the setting and a fix;
// a good source has no failure; what only works with care warns.
func TestJudge(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(s *cdc.Source)
		level string // of the finding naming want
		want  string
	}{
		{"MySQL 8.0 as it should be", func(*cdc.Source) {}, "", ""},
		{"MySQL 8.4 grants spelled REPLICA", func(s *cdc.Source) {
			s.Version, s.Minor, s.Patch = "8.4.3", 4, 3
			s.Grants = "GRANT SELECT, REPLICATION REPLICA, REPLICATION CLIENT ON *.* TO `cdc`@`%`\n"
		}, "", ""},
		{"Aurora MySQL 2", func(s *cdc.Source) {
			s.Version, s.Major, s.Minor, s.Patch, s.Hosting = "5.7.12", 5, 7, 12, "Aurora MySQL 2.11.2"
			delete(s.Vars, "binlog_row_metadata")
			delete(s.Vars, "binlog_row_value_options")
		}, "warn", "binlog_row_metadata (absent before MySQL 8.0.1)"},
		{"MySQL 5.6", func(s *cdc.Source) { s.Version, s.Major, s.Minor = "5.6.51", 5, 6 }, "fail", "server MySQL 5.6.51"},
		{"binlog off", func(s *cdc.Source) { s.Vars["log_bin"] = "OFF" }, "fail", "log_bin=OFF"},
		{"statement binlog", func(s *cdc.Source) { s.Vars["binlog_format"] = "STATEMENT" }, "fail", "binlog_format=STATEMENT"},
		{"mixed binlog", func(s *cdc.Source) { s.Vars["binlog_format"] = "MIXED" }, "fail", "binlog_format=MIXED"},
		{"minimal images", func(s *cdc.Source) { s.Vars["binlog_row_image"] = "MINIMAL" }, "fail", "binlog_row_image=MINIMAL"},
		{"noblob images", func(s *cdc.Source) { s.Vars["binlog_row_image"] = "NOBLOB" }, "fail", "binlog_row_image=NOBLOB"},
		{"partial JSON", func(s *cdc.Source) { s.Vars["binlog_row_value_options"] = "PARTIAL_JSON" }, "fail", "binlog_row_value_options=PARTIAL_JSON"},
		{"GTID transition up", func(s *cdc.Source) { s.Vars["gtid_mode"] = "ON_PERMISSIVE" }, "fail", "gtid_mode=ON_PERMISSIVE"},
		{"GTID transition down", func(s *cdc.Source) { s.Vars["gtid_mode"] = "OFF_PERMISSIVE" }, "fail", "gtid_mode=OFF_PERMISSIVE"},
		{"GTIDs off", func(s *cdc.Source) { s.Vars["gtid_mode"] = "OFF" }, "warn", "gtid_mode=OFF"},
		{"unordered commits", func(s *cdc.Source) { s.Vars["binlog_order_commits"] = "OFF" }, "fail", "binlog_order_commits=OFF"},
		{"minimal metadata", func(s *cdc.Source) { s.Vars["binlog_row_metadata"] = "MINIMAL" }, "warn", "binlog_row_metadata=MINIMAL"},
		{"MariaDB's default metadata", func(s *cdc.Source) {
			s.Version, s.Flavor, s.Major, s.Minor, s.Patch = "10.11.6-MariaDB-0+deb12u1", "mariadb", 10, 11, 6
			delete(s.Vars, "gtid_mode")
			delete(s.Vars, "binlog_row_value_options")
			s.Vars["binlog_row_metadata"] = "NO_LOG"
			s.Grants = "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO `cdc`@`%`\n"
		}, "warn", "binlog_row_metadata=NO_LOG"},
		{"replica not logging", func(s *cdc.Source) { s.Replica, s.Vars["log_replica_updates"] = true, "OFF" }, "fail", "log_replica_updates=OFF on a replica"},
		{"no replication grant", func(s *cdc.Source) {
			s.Grants = "GRANT SELECT, REPLICATION SLAVE ADMIN, REPLICATION CLIENT ON *.* TO `cdc`@`%`\n"
		}, "fail", "privilege REPLICATION SLAVE missing"},
		{"no client grant", func(s *cdc.Source) {
			s.Grants = "GRANT SELECT, REPLICATION SLAVE ON *.* TO `cdc`@`%`\nGRANT REPLICATION CLIENT ON `shop`.* TO `cdc`@`%`\n"
		}, "fail", "privilege REPLICATION CLIENT missing"},
		{"MariaDB 10.11", func(s *cdc.Source) {
			s.Version, s.Flavor, s.Major, s.Minor, s.Patch = "10.11.6-MariaDB-0+deb12u1", "mariadb", 10, 11, 6
			delete(s.Vars, "gtid_mode")
			delete(s.Vars, "binlog_row_value_options")
			s.Grants = "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO `cdc`@`%`\n"
		}, "", ""},
		{"MariaDB 10.5", func(s *cdc.Source) {
			s.Version, s.Flavor, s.Major, s.Minor, s.Patch = "10.5.9-MariaDB", "mariadb", 10, 5, 9
		}, "warn", "server MariaDB 10.5.9-MariaDB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mysql80()
			tc.edit(&s)
			fs := cdc.Judge(s)
			found := false
			for _, f := range fs {
				if f.Level != "ok" && f.Level != "warn" && f.Level != "fail" {
					t.Errorf("finding %+v has level %q", f, f.Level)
				}
				if f.What == "" || f.Why == "" || (f.Level != "ok" && f.Fix == "") {
					t.Errorf("finding %+v lacks what, why or fix", f)
				}
				if f.What == tc.want {
					found = true
					if f.Level != tc.level {
						t.Errorf("%s: level %s, want %s", f.What, f.Level, tc.level)
					}
				} else if f.Level != "ok" {
					t.Errorf("unexpected %s finding: %+v", f.Level, f)
				}
			}
			if tc.want != "" && !found {
				t.Errorf("no finding %q in %+v", tc.want, fs)
			}
		})
	}
}

// TestFindingsLocalMariaDB: the local stack's MariaDB passes every check,
// and its flavor is read from the server.
func TestFindingsLocalMariaDB(t *testing.T) {
	db := openStackDB(t)
	in := cdc.NewInspector(db)
	fs, err := in.Findings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Level != "ok" {
			t.Errorf("%s  %s  %s  %s", f.Level, f.What, f.Why, f.Fix)
		}
	}
	src, err := in.Read(context.Background())
	if err != nil || !src.MariaDB() || src.Major < 10 {
		t.Errorf("Read = %+v, %v; want a MariaDB 10+ source", src, err)
	}
	if err := in.CheckSource(context.Background()); err != nil {
		t.Errorf("CheckSource: %v", err)
	}
	if got := cdc.ReplicaStatusStatement(src); got != "SHOW REPLICA STATUS" {
		t.Errorf("replica status statement on %s: %q", src.Version, got)
	}
}

// openStackDB opens a fresh database on the local stack's MariaDB.
func openStackDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", stacktest.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
