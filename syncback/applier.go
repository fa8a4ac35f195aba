package syncback

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/anycompany/strangler/internal/orderitem"
)

// Outcome is what applying one image did.
type Outcome string

// The outcomes.
const (
	// Applied: the row now holds the image.
	Applied Outcome = "applied"
	// Stale: the row already holds this image (a duplicate delivery) or a
	// newer version (an out-of-order one); nothing was written.
	Stale Outcome = "stale"
)

// ErrLostRace is an image whose version the row already holds with other
// content: legacy changed the order too, from the same version, so two
// writers met and this change lost. It is answered 409 and dead-lettered
// with the reason, never taken as a duplicate.
var ErrLostRace = errors.New("the legacy row holds this version with other content: another writer changed the order from the same version")

// ErrConflict is an image that cannot be placed in the table: a legacy
// (decimal) id with no row, or an ord_ order whose idempotency key belongs
// to another row. Retrying cannot help.
var ErrConflict = errors.New("the order cannot be placed in the legacy table")

// Applier writes order images into the legacy table. Each Apply is one
// transaction: the marker row of its slot first (so the binlog shows it
// before the order row and the cdc skips the transaction), then the order,
// only when the image's version is newer than the row's. A stale image is
// rolled back, so it leaves nothing in the binlog. Every statement is
// parameterised; table and column names are validated identifiers. It is
// safe for concurrent use by as many callers as there are slots.
type Applier struct {
	db     *sql.DB
	insert string // upsert of an ord_ order by ref
	update string // update of a legacy order by id
	marker string // the marker row
	exists string // the row of an id, after a no-op (stale or conflict?)
	byRef  string // the row of a ref, after a no-op
}

// NewApplier returns an applier of cfg.Table with cfg.MarkerTable.
func NewApplier(db *sql.DB, cfg Config) *Applier {
	t, ref, mk := "`"+cfg.Table+"`", "`"+cfg.Ref+"`", "`"+cfg.MarkerTable+"`"
	cols := []string{"customer_id", "channel", "status", "currency", "items", "total", "shipping_address", "notes", "idempotency_key", "created_at", "updated_at"}
	// version is assigned last, so every IF before it compares with the
	// row's old version (MySQL assigns left to right; MariaDB's
	// SIMULTANEOUS_ASSIGNMENT mode reads old values anyway). The ref
	// comparison keeps a collision on another unique key (idempotency_key)
	// from touching a different row.
	newer := "(" + ref + " <=> VALUES(" + ref + ") AND VALUES(version) > version)"
	var sets, updates []string
	for _, c := range cols {
		sets = append(sets, fmt.Sprintf("%s = IF(%s, VALUES(%s), %s)", c, newer, c, c))
		updates = append(updates, c+" = ?")
	}
	sets = append(sets, fmt.Sprintf("version = IF(%s, VALUES(version), version)", newer))
	return &Applier{
		db: db,
		insert: fmt.Sprintf("INSERT INTO %s (%s, %s, version) VALUES (?%s) ON DUPLICATE KEY UPDATE %s",
			t, ref, strings.Join(cols, ", "), strings.Repeat(", ?", len(cols)+1), strings.Join(sets, ", ")),
		update: fmt.Sprintf("UPDATE %s SET %s, version = ? WHERE id = ? AND %s IS NULL AND version < ?", t, strings.Join(updates, ", "), ref),
		marker: fmt.Sprintf("INSERT INTO %s (worker, applied, event_id, order_id, at) VALUES (?, 1, ?, ?, UTC_TIMESTAMP(6)) "+
			"ON DUPLICATE KEY UPDATE applied = applied + 1, event_id = VALUES(event_id), order_id = VALUES(order_id), at = VALUES(at)", mk),
		exists: fmt.Sprintf("SELECT version, status, updated_at FROM %s WHERE id = ? AND %s IS NULL", t, ref),
		byRef:  fmt.Sprintf("SELECT version, status, updated_at FROM %s WHERE %s = ?", t, ref),
	}
}

// MarkerDDL creates the marker table: one row per worker slot, whose
// applied counter changes in every transaction (an unchanged row would log
// no row event, and the cdc would not see the tag).
func MarkerDDL(table string) string {
	return "CREATE TABLE IF NOT EXISTS `" + table + "` (" +
		"worker VARCHAR(100) NOT NULL PRIMARY KEY, " +
		"applied BIGINT UNSIGNED NOT NULL, " +
		"event_id VARCHAR(64) NOT NULL, " +
		"order_id VARCHAR(40) NOT NULL, " +
		"at DATETIME(6) NOT NULL" +
		") ENGINE=InnoDB DEFAULT CHARSET=ascii"
}

// Apply writes s (the image of event eventID) as worker. A decimal id
// updates that legacy row; an ord_ id is upserted by its ref.
func (a *Applier) Apply(ctx context.Context, worker, eventID string, s orderitem.Stored) (Outcome, error) {
	args, err := values(s)
	if err != nil {
		return "", err
	}
	legacyID, isLegacy := parseLegacyID(s.ID)
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("beginning the transaction of order %s: %w", s.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// The marker first: the cdc tags the transaction when it sees it.
	if _, err := tx.ExecContext(ctx, a.marker, worker, eventID, s.ID); err != nil {
		return "", fmt.Errorf("writing the marker row: %w", err)
	}
	var res sql.Result
	if isLegacy {
		res, err = tx.ExecContext(ctx, a.update, append(args, s.Version, legacyID, s.Version)...)
	} else {
		res, err = tx.ExecContext(ctx, a.insert, append(append([]any{s.ID}, args...), s.Version)...)
	}
	if err != nil {
		return "", fmt.Errorf("writing order %s: %w", s.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", fmt.Errorf("writing order %s: %w", s.ID, err)
	}
	if n > 0 {
		if err := tx.Commit(); err != nil {
			return "", fmt.Errorf("committing order %s: %w", s.ID, err)
		}
		return Applied, nil
	}
	// Nothing changed: the row is as new or newer, or the image has no
	// place here. The marker is rolled back with the rest.
	q, arg := a.byRef, any(s.ID)
	if isLegacy {
		q, arg = a.exists, legacyID
	}
	var (
		have    uint32
		status  string
		updated time.Time
	)
	switch err := tx.QueryRowContext(ctx, q, arg).Scan(&have, &status, &updated); {
	case errors.Is(err, sql.ErrNoRows) && isLegacy:
		return "", fmt.Errorf("%w: no legacy row with id %d (or it was copied from the new service and has a ref)", ErrConflict, legacyID)
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("%w: order %s collides with another row on a unique key (its idempotency_key %q is taken)", ErrConflict, s.ID, s.IdempotencyKey)
	case err != nil:
		return "", fmt.Errorf("reading order %s: %w", s.ID, err)
	}
	if have == s.Version && (status != string(s.Status) || !updated.Equal(s.UpdatedAt.UTC().Truncate(time.Microsecond))) {
		return "", fmt.Errorf("%w: order %s version %d is %s updated at %s in legacy, %s updated at %s in the event",
			ErrLostRace, s.ID, have, status, updated.Format(time.RFC3339Nano), s.Status, s.UpdatedAt.UTC().Format(time.RFC3339Nano))
	}
	return Stale, nil
}

// values are the column values of s in the order NewApplier's statements
// name them (customer_id … updated_at).
func values(s orderitem.Stored) ([]any, error) {
	items, err := json.Marshal(s.Items)
	if err != nil {
		return nil, fmt.Errorf("encoding items: %w", err)
	}
	var addr, notes, key any
	if s.ShippingAddress != nil {
		b, err := json.Marshal(s.ShippingAddress)
		if err != nil {
			return nil, fmt.Errorf("encoding shipping_address: %w", err)
		}
		addr = string(b)
	}
	if s.Notes != "" {
		notes = s.Notes
	}
	if s.IdempotencyKey != "" {
		key = s.IdempotencyKey
	}
	return []any{s.CustomerID, string(s.Channel), string(s.Status), s.Currency, string(items), s.Total.String(),
		addr, notes, key, s.CreatedAt.UTC(), s.UpdatedAt.UTC()}, nil
}

// parseLegacyID reads a legacy table's decimal id.
func parseLegacyID(id string) (uint64, bool) {
	if id == "" || id[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}
