package cdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// ErrLayoutChanged is a row event whose table map does not fit the table's
// columns in information_schema: the source writes no column names
// (binlog_row_metadata=MINIMAL, or MySQL 5.7), so the cdc names a table
// map's columns from the table as it is now, and the event was written
// before a DDL the server has since applied. Nothing can name its columns:
// retrying will not help.
var ErrLayoutChanged = errors.New("a row event's columns do not match the table's columns in information_schema (it was written before a later ALTER TABLE) and the binlog carries no column names: set binlog_row_metadata=FULL on the source (SET PERSIST binlog_row_metadata='FULL'), then re-run the backfill and start the cdc from its position")

// tableColumn is one column of the table as information_schema describes it.
type tableColumn struct {
	name     string
	dataType string // DATA_TYPE, lower case
	labels   []string
}

// tableColumns reads every column of table (in the source's current
// database), in ordinal order: the column names of table maps that carry
// none.
func tableColumns(ctx context.Context, db *sql.DB, table string) ([]tableColumn, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []tableColumn
	for rows.Next() {
		var c tableColumn
		var columnType string
		if err := rows.Scan(&c.name, &c.dataType, &columnType); err != nil {
			return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
		}
		c.dataType = strings.ToLower(c.dataType)
		if c.dataType == "enum" || c.dataType == "set" {
			c.labels = labels(columnType)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("reading the columns of %s: the table is not in information_schema", table)
	}
	return cols, nil
}

var quotedLabel = regexp.MustCompile(`'((?:[^']|'')*)'`)

// labels are the labels of an ENUM or SET COLUMN_TYPE, in order.
func labels(columnType string) []string {
	var out []string
	for _, m := range quotedLabel.FindAllStringSubmatch(columnType, -1) {
		out = append(out, strings.ReplaceAll(m[1], "''", "'"))
	}
	return out
}

// binlogTypes are the table-map types MySQL and MariaDB write for a
// DATA_TYPE (ENUM and SET are checked through the table map's real type).
// A DATA_TYPE not listed is not checked.
var binlogTypes = map[string][]byte{
	"tinyint": {gomysql.MYSQL_TYPE_TINY}, "smallint": {gomysql.MYSQL_TYPE_SHORT}, "mediumint": {gomysql.MYSQL_TYPE_INT24},
	"int": {gomysql.MYSQL_TYPE_LONG}, "integer": {gomysql.MYSQL_TYPE_LONG}, "bigint": {gomysql.MYSQL_TYPE_LONGLONG},
	"decimal": {gomysql.MYSQL_TYPE_NEWDECIMAL}, "numeric": {gomysql.MYSQL_TYPE_NEWDECIMAL},
	"float": {gomysql.MYSQL_TYPE_FLOAT}, "double": {gomysql.MYSQL_TYPE_DOUBLE}, "real": {gomysql.MYSQL_TYPE_DOUBLE},
	"date": {gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE}, "year": {gomysql.MYSQL_TYPE_YEAR},
	"datetime":  {gomysql.MYSQL_TYPE_DATETIME2, gomysql.MYSQL_TYPE_DATETIME},
	"timestamp": {gomysql.MYSQL_TYPE_TIMESTAMP2, gomysql.MYSQL_TYPE_TIMESTAMP},
	"time":      {gomysql.MYSQL_TYPE_TIME2, gomysql.MYSQL_TYPE_TIME},
	"char":      {gomysql.MYSQL_TYPE_STRING}, "binary": {gomysql.MYSQL_TYPE_STRING},
	"varchar": {gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING}, "varbinary": {gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING},
	"tinytext": {gomysql.MYSQL_TYPE_BLOB}, "text": {gomysql.MYSQL_TYPE_BLOB}, "mediumtext": {gomysql.MYSQL_TYPE_BLOB},
	"longtext": {gomysql.MYSQL_TYPE_BLOB, gomysql.MYSQL_TYPE_JSON}, // MariaDB's JSON; the MySQL test source serves it as JSON
	"tinyblob": {gomysql.MYSQL_TYPE_BLOB}, "blob": {gomysql.MYSQL_TYPE_BLOB}, "mediumblob": {gomysql.MYSQL_TYPE_BLOB}, "longblob": {gomysql.MYSQL_TYPE_BLOB},
	"json": {gomysql.MYSQL_TYPE_JSON, gomysql.MYSQL_TYPE_BLOB}, "bit": {gomysql.MYSQL_TYPE_BIT},
}

// fit checks that the table map's columns are cols: as many, each of the
// type information_schema says. It cannot see a rename, or two columns of
// one type swapped: with MINIMAL metadata such a DDL is only safe once the
// cdc has read past it (docs: cdc/README.md, "Column names").
func fit(tme *replication.TableMapEvent, cols []tableColumn) error {
	if int(tme.ColumnCount) != len(cols) {
		return fmt.Errorf("%w (table %s: the event has %d columns, information_schema %d)", ErrLayoutChanged, tme.Table, tme.ColumnCount, len(cols))
	}
	for i, c := range cols {
		ok := true
		switch c.dataType {
		case "enum":
			ok = tme.IsEnumColumn(i)
		case "set":
			ok = tme.IsSetColumn(i)
		default:
			if want, known := binlogTypes[c.dataType]; known {
				ok = strings.IndexByte(string(want), tme.ColumnType[i]) >= 0
			}
		}
		if !ok {
			return fmt.Errorf("%w (table %s: column %d, %s, is %s in information_schema but binlog type %d in the event)", ErrLayoutChanged, tme.Table, i+1, c.name, c.dataType, tme.ColumnType[i])
		}
	}
	return nil
}

// minimalNames are the column names, ENUM and SET labels of a table map
// that carries none, from the table's columns in information_schema
// (read once, and again after each DDL on the table: refresh).
func (s *Streamer) minimalNames(ctx context.Context, tme *replication.TableMapEvent) (names []string, enums, sets map[int][]string, err error) {
	if s.columns == nil {
		if s.columns, err = tableColumns(ctx, s.db, s.mappingCfg.Table); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := fit(tme, s.columns); err != nil {
		return nil, nil, nil, &decodeError{err}
	}
	enums, sets = map[int][]string{}, map[int][]string{}
	for i, c := range s.columns {
		names = append(names, c.name)
		switch c.dataType {
		case "enum":
			enums[i] = c.labels
		case "set":
			sets[i] = c.labels
		}
	}
	return names, enums, sets, nil
}
