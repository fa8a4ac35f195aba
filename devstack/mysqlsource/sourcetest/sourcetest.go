// Package sourcetest runs integration tests on either source flavor: with
// STRANGLER_TEST_SOURCE=mysql a test's database is served by a
// mysqlsource (MySQL 8 over the real protocol) in front of it; unset or
// "mariadb", by the local MariaDB itself.
package sourcetest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/devstack/mysqlsource"
)

// Flavor is the source flavor the tests run on: "mysql" or "mariadb".
func Flavor(t testing.TB) string {
	t.Helper()
	switch v := strings.ToLower(os.Getenv("STRANGLER_TEST_SOURCE")); v {
	case "", "mariadb":
		return "mariadb"
	case "mysql":
		return "mysql"
	default:
		t.Fatalf("STRANGLER_TEST_SOURCE=%q: want mysql or mariadb (unset means mariadb)", v)
		return ""
	}
}

// Database returns the DSN the code under test should use for the
// database at dsn (a stacktest.MySQLDatabase): dsn itself on MariaDB, a
// mysqlsource in front of it on MySQL (stopped when the test ends).
func Database(t testing.TB, dsn string) string {
	t.Helper()
	if Flavor(t) != "mysql" {
		return dsn
	}
	_, front := Start(t, dsn, mysqlsource.Config{})
	return front
}

// Start starts a mysqlsource in front of the database at dsn, whatever
// the flavor the tests run on, and returns it with the DSN that reaches
// the database through it. cfg's Backend and Database are filled from
// dsn; the rest is as given (zero values take the defaults).
func Start(t testing.TB, dsn string, cfg mysqlsource.Config) (*mysqlsource.Source, string) {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("sourcetest: %v", err)
	}
	cfg.Backend, cfg.Database = dsn, c.DBName
	s, err := mysqlsource.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("sourcetest: starting a MySQL source in front of %s: %v", c.DBName, err)
	}
	t.Cleanup(func() { s.Close() })
	front, err := s.DSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s, front
}
