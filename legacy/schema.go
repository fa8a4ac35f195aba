package legacy

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded steps in version order. File names are
// NNNN_name.sql; a gap or a duplicate number is a build mistake, reported here.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaMigrator brings the legacy database to the newest embedded schema
// version. It holds a named lock while it works, so several instances may
// start at once; it records each applied version in schema_migrations.
type SchemaMigrator struct {
	db *sql.DB
}

// NewSchemaMigrator returns a migrator for db.
func NewSchemaMigrator(db *sql.DB) *SchemaMigrator { return &SchemaMigrator{db: db} }

// Migrate applies every pending version and returns the schema version.
func (m *SchemaMigrator) Migrate(ctx context.Context) (int, error) {
	steps, err := migrations()
	if err != nil {
		return 0, err
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("connecting for schema migration: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('strangler_legacy_schema', 30)").Scan(&got); err != nil {
		return 0, fmt.Errorf("taking the schema lock: %w", err)
	}
	if got.Int64 != 1 {
		return 0, fmt.Errorf("taking the schema lock: another instance held it for 30s")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('strangler_legacy_schema')") //nolint:errcheck // the lock dies with the connection anyway

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT UNSIGNED NOT NULL PRIMARY KEY,
		name VARCHAR(255) NOT NULL,
		applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`); err != nil {
		return 0, fmt.Errorf("creating schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if current > len(steps) {
		return current, fmt.Errorf("the database is at schema version %d but this binary knows only %d: run a newer strangler", current, len(steps))
	}
	for _, s := range steps[current:] {
		// DDL commits implicitly in MySQL, so each step must be idempotent
		// (CREATE … IF NOT EXISTS) for a crash between it and its record.
		if _, err := conn.ExecContext(ctx, s.sql); err != nil {
			return current, fmt.Errorf("applying migration %s: %w", s.name, err)
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", s.version, s.name); err != nil {
			return current, fmt.Errorf("recording migration %s: %w", s.name, err)
		}
		current = s.version
	}
	return current, nil
}
