package position

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Queryer is the call the source readers make: *sql.DB, *sql.Conn and
// *sql.Tx have it.
type Queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Current returns the position of the last transaction the source
// committed, at its end (EndOfTransaction): a safe lower bound for a
// snapshot begun after it, and the place a binlog reader resumes after.
// The backfill and the cdc both read the source's position through it.
func Current(ctx context.Context, q Queryer) (Position, error) {
	var version string
	if err := q.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return Position{}, fmt.Errorf("reading the server version: %w", err)
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		var gtid string
		if err := q.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&gtid); err != nil {
			return Position{}, fmt.Errorf("reading @@gtid_binlog_pos: %w", err)
		}
		p, err := ParseMariaDBGTID(gtid)
		return p.At(EndOfTransaction), err
	}
	var mode sql.NullString
	_ = q.QueryRowContext(ctx, "SELECT @@gtid_mode").Scan(&mode)
	if strings.EqualFold(mode.String, "ON") {
		var set string
		if err := q.QueryRowContext(ctx, "SELECT @@gtid_executed").Scan(&set); err != nil {
			return Position{}, fmt.Errorf("reading @@gtid_executed: %w", err)
		}
		p, err := ParseMySQLGTIDSet(strings.ReplaceAll(set, "\n", ""))
		return p.At(EndOfTransaction), err
	}
	return Position{}, errors.New("the source has no GTIDs: enable gtid_mode (MySQL) or use MariaDB; file positions are not supported yet")
}

// Snapshot returns the position a consistent snapshot reflects exactly;
// call it on the connection inside START TRANSACTION WITH CONSISTENT
// SNAPSHOT. On MariaDB that is the GTID at the snapshot's binlog
// coordinates (Binlog_snapshot_file/position through BINLOG_GTID_POS):
// every transaction up to it is visible in the snapshot and none after it.
// (Reading @@gtid_binlog_pos before the snapshot is not a safe bound there:
// a transaction is written to the binlog before its engine commit becomes
// visible, so a snapshot begun in between misses a change the position
// already counts, and a deleted row could come back.) Elsewhere it falls
// back to Current read inside the snapshot.
func Snapshot(ctx context.Context, conn Queryer) (Position, error) {
	var file, offset, name string
	if err := conn.QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_file'").Scan(&name, &file); err == nil && file != "" {
		if err := conn.QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_position'").Scan(&name, &offset); err != nil {
			return Position{}, fmt.Errorf("reading the snapshot's binlog position: %w", err)
		}
		var gtid sql.NullString
		if err := conn.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, offset).Scan(&gtid); err != nil {
			return Position{}, fmt.Errorf("reading the snapshot's GTID (BINLOG_GTID_POS(%s, %s)): %w", file, offset, err)
		}
		if !gtid.Valid {
			return Position{}, fmt.Errorf("BINLOG_GTID_POS(%s, %s) is NULL: the snapshot's binlog is gone", file, offset)
		}
		p, err := ParseMariaDBGTID(gtid.String)
		return p.At(EndOfTransaction), err
	}
	return Current(ctx, conn)
}
