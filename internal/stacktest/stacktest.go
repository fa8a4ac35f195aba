// Package stacktest gives integration tests their own piece of the local
// stack (scripts/stack.sh): a fresh MySQL database per test, dropped when the
// test ends. It fails the test loudly when the stack is not running; it never
// skips.
package stacktest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DefaultMySQLDSN is the local stack's admin DSN, without a database.
const DefaultMySQLDSN = "strangler:strangler@tcp(127.0.0.1:3307)/"

// MySQLDSN returns the server DSN from STRANGLER_TEST_MYSQL_DSN, else the
// local stack's.
func MySQLDSN() string {
	if v := os.Getenv("STRANGLER_TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return DefaultMySQLDSN
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// MySQLDatabase creates a database named after the test and returns a DSN
// for it (parseTime, UTC). The database is dropped when the test ends.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLDSN())
	if err != nil {
		t.Fatalf("STRANGLER_TEST_MYSQL_DSN: %v", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = "t_" + name + "_" + hex.EncodeToString(suffix)

	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("opening MySQL: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MySQL at %s is unreachable: %v\nThe integration tests need the local stack: run `make stack-up` (or scripts/stack.sh up).", cfg.Addr, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	return cfg.FormatDSN()
}
