// Package legacydb opens the legacy MySQL database the way every part that
// reads or writes its orders table through database/sql expects it: DATETIME
// values as time.Time in UTC (the session's time zone too) and utf8mb4.
package legacydb

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/anycompany/strangler/internal/config"
)

// Open returns a pool of at most maxConns connections to dsn. Errors never
// hold the DSN (it holds a password).
func Open(dsn config.Secret, maxConns int) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(dsn.Reveal())
	if err != nil {
		return nil, fmt.Errorf("parsing mysql.dsn: %w", err)
	}
	mc.ParseTime = true
	mc.Loc = time.UTC
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"
	mc.Collation = "utf8mb4_unicode_ci"
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("configuring mysql: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
}
