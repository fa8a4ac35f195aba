package cdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/anycompany/strangler/internal/position"
)

// ErrSource is a source the cdc cannot read correctly; the message says
// what to change.
var ErrSource = errors.New("source not usable for cdc")

// Inspector checks the source before the cdc reads it (invariant 2).
type Inspector struct {
	db *sql.DB
}

// NewInspector returns an inspector of db.
func NewInspector(db *sql.DB) *Inspector { return &Inspector{db: db} }

// CheckSource refuses a source without a ROW binlog of FULL images and
// FULL metadata, one that is not MariaDB, or a user without the
// replication privileges.
func (in *Inspector) CheckSource(ctx context.Context) error {
	var version, logBin, format, image, meta string
	if err := in.db.QueryRowContext(ctx, "SELECT @@version, @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image").Scan(&version, &logBin, &format, &image); err != nil {
		return fmt.Errorf("reading the source's binlog settings: %w", err)
	}
	if !strings.Contains(strings.ToLower(version), "mariadb") {
		return fmt.Errorf("%w: server %s is not MariaDB: the cdc reads MariaDB sources only (MariaDB GTIDs domain-server-seq and MariaDB's binlog events); "+
			"MySQL 8 (uuid:seq GTIDs, binary JSON in row events) is not supported. Point mysql.dsn at a MariaDB server with binlog_format=ROW, "+
			"binlog_row_image=FULL and binlog_row_metadata=FULL (see cdc/README.md, Limitations)", ErrSource, version)
	}
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		return fmt.Errorf("%w: the binary log is off: start the server with --log-bin", ErrSource)
	}
	if !strings.EqualFold(format, "ROW") {
		return fmt.Errorf("%w: binlog_format is %s; the cdc needs ROW so every change carries its row (SET GLOBAL binlog_format = 'ROW', and in the server's config)", ErrSource, format)
	}
	if !strings.EqualFold(image, "FULL") {
		return fmt.Errorf("%w: binlog_row_image is %s; the cdc needs FULL so every change carries the whole row (SET GLOBAL binlog_row_image = 'FULL', and in the server's config)", ErrSource, image)
	}
	if err := in.db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_row_metadata").Scan(&meta); err == nil && !strings.EqualFold(meta, "FULL") {
		return fmt.Errorf("%w: binlog_row_metadata is %s; the cdc needs FULL to decode each event with the column names and ENUM labels it was written with (SET GLOBAL binlog_row_metadata = 'FULL')", ErrSource, meta)
	}
	grants, err := in.grants(ctx)
	if err != nil {
		return err
	}
	has := func(any ...string) bool {
		for _, g := range any {
			if strings.Contains(grants, g) {
				return true
			}
		}
		return false
	}
	if !has("REPLICATION SLAVE", "ALL PRIVILEGES") {
		return fmt.Errorf("%w: the user lacks REPLICATION SLAVE (GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO …)", ErrSource)
	}
	if !has("REPLICATION CLIENT", "BINLOG MONITOR", "ALL PRIVILEGES", "SUPER") {
		return fmt.Errorf("%w: the user lacks REPLICATION CLIENT / BINLOG MONITOR", ErrSource)
	}
	return nil
}

func (in *Inspector) grants(ctx context.Context) (string, error) {
	rows, err := in.db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return "", fmt.Errorf("reading the user's grants: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return "", fmt.Errorf("reading the user's grants: %w", err)
		}
		b.WriteString(strings.ToUpper(g))
		b.WriteByte('\n')
	}
	return b.String(), rows.Err()
}

// CheckStart refuses a start position older than the oldest binlog the
// source still has (ErrPositionPurged) or ahead of the source.
func (in *Inspector) CheckStart(ctx context.Context, start position.Position) error {
	cur, err := position.Current(ctx, in.db)
	if err != nil {
		return err
	}
	if start.Server != "" && cur.Domain == start.Domain && start.Seq > cur.Seq {
		return fmt.Errorf("%w: the start position %s is ahead of the source (%s): is this the right server?", ErrSource, start, cur)
	}
	var file string
	var size any
	rows, err := in.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return fmt.Errorf("listing the binary logs: %w", err)
	}
	cols, _ := rows.Columns()
	dest := []any{&file, &size}
	for len(dest) < len(cols) {
		dest = append(dest, new(any))
	}
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return fmt.Errorf("listing the binary logs: %w", err)
		}
	}
	rows.Close()
	if file == "" {
		return nil
	}
	var oldest sql.NullString
	if err := in.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, 4)", file).Scan(&oldest); err != nil || !oldest.Valid {
		return nil // not answerable here; the stream's own refusal still maps to ErrPositionPurged
	}
	first, err := position.ParseMariaDBGTID(oldest.String)
	if err != nil || first.Server == "" {
		return nil
	}
	if first.Domain == start.Domain && start.Seq < first.Seq {
		return fmt.Errorf("%w (start %s; the oldest binlog %s begins after %s)", ErrPositionPurged, start, file, first)
	}
	return nil
}
