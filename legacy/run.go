package legacy

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/anycompany/strangler/internal/httpserver"
	"github.com/anycompany/strangler/internal/legacydb"
)

// OpenDB opens the legacy database with the settings the store relies on:
// parseTime, UTC, utf8mb4.
func OpenDB(cfg MySQLConfig) (*sql.DB, error) {
	return legacydb.Open(cfg.DSN, cfg.MaxOpenConns)
}

// Run serves the legacy order API until ctx ends, then drains in-flight
// requests. It migrates the schema first.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	db, err := OpenDB(cfg.MySQL)
	if err != nil {
		return err
	}
	defer db.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		return fmt.Errorf("connecting to MySQL (mysql.dsn; is the stack up? run `make stack-up`): %w", err)
	}
	version, err := NewSchemaMigrator(db).Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrating the legacy schema: %w", err)
	}
	logger.Info("schema ready", "component", "legacy", "version", version)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	srv := NewServer(cfg, Deps{
		Store:    NewStore(db, nil),
		Notifier: NewNotifier(cfg.Downstream, client),
		DB:       db,
		Logger:   logger,
		Crash:    func() { os.Exit(70) },
	})
	return httpserver.Serve(ctx, httpserver.Listener{Addr: cfg.Listen, TLS: cfg.TLS}, srv.Handler(), cfg.ShutdownTimeout, logger.With("component", "legacy"))
}
