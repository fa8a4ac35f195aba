package syncback

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/legacydb"
)

// OpenDB opens the legacy database: UTC session and time values, utf8mb4.
func OpenDB(cfg MySQLConfig) (*sql.DB, error) {
	return legacydb.Open(cfg.DSN, cfg.MaxOpenConns)
}

// Prepare checks that the table has the ref column and creates the marker
// table when missing.
func Prepare(ctx context.Context, db *sql.DB, cfg Config) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME IN ('id', ?)`, cfg.Table, cfg.Ref).Scan(&n); err != nil {
		return fmt.Errorf("reading the schema of %s: %w", cfg.Table, err)
	}
	if n != 2 {
		return fmt.Errorf("table %s has no id and %s columns: migrate the legacy schema first (strangler legacy serve applies migration 0002, which adds %s), or set table and ref", cfg.Table, cfg.Ref, cfg.Ref)
	}
	if _, err := db.ExecContext(ctx, MarkerDDL(cfg.MarkerTable)); err != nil {
		return fmt.Errorf("creating the marker table %s: %w", cfg.MarkerTable, err)
	}
	return nil
}

// Run serves the sync-back until ctx ends, then drains in-flight
// deliveries, tracing with tp (nil: off).
func Run(ctx context.Context, cfg Config, tp trace.TracerProvider, logger *slog.Logger) error {
	db, err := OpenDB(cfg.MySQL)
	if err != nil {
		return err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return fmt.Errorf("connecting to MySQL (mysql.dsn; is the stack up? run `make stack-up`): %w", err)
	}
	if err := Prepare(pctx, db, cfg); err != nil {
		return err
	}
	name := cfg.Name
	if name == "" {
		name, _ = os.Hostname()
		name = name[:min(len(name), 80)] // the marker's worker column holds <name>#<slot>
	}
	h := NewHandler(cfg, NewApplier(db, cfg), db, name, logger, prometheus.NewRegistry())
	h.Trace(tp)
	logger.Info("syncing back", "component", "syncback", "table", cfg.Table, "marker_table", cfg.MarkerTable, "source", cfg.Source, "workers", cfg.Workers)
	return httpserver.Serve(ctx, httpserver.Listener{Addr: cfg.Listen, TLS: cfg.TLS}, h.Routes(), cfg.ShutdownTimeout, logger.With("component", "syncback"))
}
