package position

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Queryer is the calls the source readers make: *sql.DB, *sql.Conn and
// *sql.Tx have them.
type Queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// server is what the readers need to know of a source.
type server struct {
	version  string
	mariadb  bool
	gtidMode string // MySQL's @@gtid_mode, upper-case
}

func readServer(ctx context.Context, q Queryer) (server, error) {
	var s server
	if err := q.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.version); err != nil {
		return s, fmt.Errorf("reading the server version: %w", err)
	}
	s.mariadb = strings.Contains(strings.ToLower(s.version), "mariadb")
	if s.mariadb {
		return s, nil
	}
	var mode sql.NullString
	if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_mode").Scan(&mode); err != nil {
		return s, fmt.Errorf("reading @@gtid_mode: %w", err)
	}
	s.gtidMode = strings.ToUpper(mode.String)
	if s.gtidMode != "ON" && s.gtidMode != "OFF" {
		return s, fmt.Errorf("%w: gtid_mode is %s, part-way through a transition: finish it (SET GLOBAL gtid_mode to ON or OFF, one step at a time)", ErrUnsupported, s.gtidMode)
	}
	return s, nil
}

// Current returns the position of the last transaction the source
// committed, at its end (EndOfTransaction): the place a binlog reader
// resumes after (--from-now, the cdc's status). It is not a safe stamp for
// a snapshot: that is Snapshot.
func Current(ctx context.Context, q Queryer) (Position, error) {
	s, err := readServer(ctx, q)
	if err != nil {
		return Position{}, err
	}
	switch {
	case s.mariadb:
		var gtid string
		if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&gtid); err != nil {
			return Position{}, fmt.Errorf("reading @@gtid_binlog_pos: %w", err)
		}
		p, err := ParseMariaDBGTID(gtid)
		return p.At(EndOfTransaction), err
	case s.gtidMode == "ON":
		p, err := executed(ctx, q)
		return p.At(EndOfTransaction), err
	}
	file, offset, err := binlogStatus(ctx, q, s.version)
	if err != nil {
		return Position{}, err
	}
	p, err := FilePosition(file, offset)
	return p.At(EndOfTransaction), err
}

func executed(ctx context.Context, q Queryer) (Position, error) {
	var set string
	if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_executed").Scan(&set); err != nil {
		return Position{}, fmt.Errorf("reading @@gtid_executed: %w", err)
	}
	return ParseMySQLGTIDSet(set)
}

// BinlogStatusStatement is the statement that shows a MySQL server's
// current binlog file and position: SHOW BINARY LOG STATUS from 8.2 (8.4
// removed SHOW MASTER STATUS), SHOW MASTER STATUS before.
func BinlogStatusStatement(version string) string {
	var major, minor int
	_, _ = fmt.Sscanf(version, "%d.%d", &major, &minor) // a version it cannot read is an old one
	if major > 8 || (major == 8 && minor >= 2) {
		return "SHOW BINARY LOG STATUS"
	}
	return "SHOW MASTER STATUS"
}

// binlogStatus reads the current binlog file and position (the first two
// columns; MySQL adds Binlog_Do_DB, Binlog_Ignore_DB, Executed_Gtid_Set).
func binlogStatus(ctx context.Context, q Queryer, version string) (string, uint64, error) {
	stmt := BinlogStatusStatement(version)
	rows, err := q.QueryContext(ctx, stmt)
	if err != nil {
		return "", 0, fmt.Errorf("reading the binlog position (%s): %w", stmt, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil || len(cols) < 2 {
		return "", 0, fmt.Errorf("reading the binlog position (%s): %d columns, %v", stmt, len(cols), err)
	}
	var file string
	var offset uint64
	dest := []any{&file, &offset}
	for len(dest) < len(cols) {
		dest = append(dest, new(any))
	}
	if !rows.Next() {
		return "", 0, fmt.Errorf("%s returned nothing: the binary log is off (start the server with --log-bin): %v", stmt, rows.Err())
	}
	if err := rows.Scan(dest...); err != nil {
		return "", 0, fmt.Errorf("reading the binlog position (%s): %w", stmt, err)
	}
	return file, offset, rows.Err()
}

// Snapshot opens a consistent snapshot on conn (open runs START
// TRANSACTION WITH CONSISTENT SNAPSHOT on it) and returns a safe stamp
// for it: every transaction at or below the stamp is visible in the
// snapshot. A transaction reaches the binlog before its commit is visible,
// so the stamp is read where the server guarantees visibility
// (docs/positions.md, The snapshot stamp):
//   - MariaDB: after open, the snapshot's own binlog coordinates
//     (Binlog_snapshot_file/position, taken with the snapshot) through
//     BINLOG_GTID_POS: exactly what the snapshot sees.
//   - MySQL, gtid_mode=ON: before open, @@gtid_executed. The server adds a
//     GTID to it only after the transaction's engine commit, so a snapshot
//     opened later sees every transaction in it.
//   - MySQL, gtid_mode=OFF: before open, the start of the current binlog
//     file. The server rotates to a new file only once every transaction
//     of the older files committed in the engine.
func Snapshot(ctx context.Context, conn Queryer, open func(context.Context) error) (Position, error) {
	s, err := readServer(ctx, conn)
	if err != nil {
		return Position{}, err
	}
	var p Position
	switch {
	case s.mariadb:
		if err := open(ctx); err != nil {
			return Position{}, err
		}
		return mariadbSnapshot(ctx, conn)
	case s.gtidMode == "ON":
		p, err = executed(ctx, conn)
	default:
		var file string
		if file, _, err = binlogStatus(ctx, conn, s.version); err == nil {
			p, err = FilePosition(file, 4)
		}
	}
	if err != nil {
		return Position{}, err
	}
	if err := open(ctx); err != nil {
		return Position{}, err
	}
	return p.At(EndOfTransaction), nil
}

// mariadbSnapshot is the GTID at the open snapshot's binlog coordinates.
// (Reading @@gtid_binlog_pos before the snapshot is not a safe bound
// there: MariaDB advances it when the transaction is written to the
// binlog, before its engine commit is visible.)
func mariadbSnapshot(ctx context.Context, conn Queryer) (Position, error) {
	var file, offset, name string
	if err := conn.QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_file'").Scan(&name, &file); err != nil {
		return Position{}, fmt.Errorf("reading the snapshot's binlog file: %w", err)
	}
	if file == "" {
		// No binlog: nothing for a cdc to follow; the backfill alone runs.
		var gtid string
		if err := conn.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&gtid); err != nil {
			return Position{}, fmt.Errorf("reading @@gtid_binlog_pos: %w", err)
		}
		p, err := ParseMariaDBGTID(gtid)
		return p.At(EndOfTransaction), err
	}
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
