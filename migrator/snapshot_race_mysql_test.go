package migrator_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/devstack/mysqlsource"
	"github.com/anycompany/strangler/internal/stacktest"
)

// TestSnapshotRaceMySQL holds the transaction on the MySQL test source
// (mysqlsource.Hold: binlogged, counted by SHOW BINARY LOG STATUS, not by
// gtid_executed, not visible), with GTIDs on and off, on 8.0, 8.4 (SHOW
// BINARY LOG STATUS) and 5.7.
func TestSnapshotRaceMySQL(t *testing.T) {
	for _, tc := range []struct{ version, mode string }{{"8.0.36", "ON"}, {"8.0.36", "OFF"}, {"8.4.3", "ON"}, {"8.4.3", "OFF"}, {"5.7.44-log", "ON"}, {"5.7.44-log", "OFF"}} {
		version, mode := tc.version, tc.mode
		t.Run(version+"/gtid_mode="+mode, func(t *testing.T) {
			ctx := context.Background()
			dsn := stacktest.MySQLDatabase(t)
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			src, err := mysqlsource.Start(ctx, mysqlsource.Config{Backend: dsn, Database: cfg.DBName, Version: version})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			src.Set("gtid_mode", mode)
			front, err := src.DSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("mysql", front)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var held *mysqlsource.Held
			checkSnapshotRace(t, db, holder{
				hold: func(t *testing.T, _ func() error) {
					if held, err = src.Hold(ctx, heldInsert); err != nil {
						t.Fatal(err)
					}
				},
				release: func(t *testing.T) {
					if err := held.Release(ctx); err != nil {
						t.Fatal(err)
					}
				},
			})
		})
	}
}
