package loadgen

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Run sends the load cfg describes and writes progress lines and the final
// summary table to out.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, out io.Writer) (Summary, error) {
	return NewGenerator(cfg, logger, out).Run(ctx)
}

// SeedOrders connects to cfg.MySQLDSN and inserts rows historical orders
// into its orders table. progress, when not nil, is a terminal that gets a
// live progress line; otherwise progress is logged.
func SeedOrders(ctx context.Context, cfg Config, rows int64, logger *slog.Logger, progress io.Writer) (SeedResult, error) {
	db, err := OpenDB(cfg.MySQLDSN.Reveal(), cfg.SeedWorkers)
	if err != nil {
		return SeedResult{}, err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = db.PingContext(pctx)
	cancel()
	if err != nil {
		return SeedResult{}, fmt.Errorf("connecting to MySQL at %s: %w", dsnAddr(cfg.MySQLDSN.Reveal()), err)
	}
	var opts []SeedOption
	if progress != nil {
		opts = append(opts, WithProgress(progress))
	}
	return NewSeeder(db, cfg, logger, opts...).Seed(ctx, rows)
}

// OpenDB opens a pool of at most conns connections for dsn, with the
// settings seeding needs (DATETIME as time.Time in UTC). The error never holds the DSN.
func OpenDB(dsn string, conns int) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing mysql_dsn (not shown: it holds a password): %w", err)
	}
	mc.Loc = time.UTC // DATETIME values are UTC, as the legacy service writes them
	mc.ParseTime = true
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("configuring the MySQL connection to %s: %w", mc.Addr, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(conns + 1)
	db.SetMaxIdleConns(conns + 1)
	return db, nil
}

// dsnAddr returns the address of dsn, the one part safe to print.
func dsnAddr(dsn string) string {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "(malformed DSN)"
	}
	return mc.Addr + "/" + mc.DBName
}
