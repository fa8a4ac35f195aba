package doctor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/anycompany/strangler/internal/codec"
)

// sampleRows is how many rows the item-size estimate reads.
const sampleRows = 1000

// exactCountBelow is the estimated row count below which the rows are
// counted exactly (information_schema's TABLE_ROWS is an estimate).
const exactCountBelow = 1_000_000

// itemLimit is DynamoDB's largest item.
const itemLimit = 400 * 1024

// tableFacts is what the table checks learned, for the estimates.
type tableFacts struct {
	reached bool  // the source answered
	ok      bool  // the table maps and was measured
	rows    int64 // rows (exact below exactCountBelow, else estimated)
	sampled int
	// units is the mean write units of one item (each rounded up to 1 KB),
	// size its mean bytes; indexed is the share of items that carry both
	// attributes of the listing index (so the GSI writes them too).
	units, size, indexed float64
}

// tableChecks checks the mapped table: it exists, has a one-column
// primary key named mapping.key, its columns map, and how big it is.
func (d *Doctor) tableChecks(ctx context.Context) (tableFacts, []Check, error) {
	var f tableFacts
	if err := d.Source.PingContext(ctx); err != nil {
		return f, nil, fmt.Errorf("connecting to MySQL: %w", err)
	}
	f.reached = true
	cfg := d.Migrator.Mapping
	name := "table " + cfg.Table
	var est, data, index sql.NullInt64
	var db string
	err := d.Source.QueryRowContext(ctx, `SELECT DATABASE(), TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, cfg.Table).Scan(&db, &est, &data, &index)
	if errors.Is(err, sql.ErrNoRows) {
		return f, []Check{{Fail, name, "there is no such table in the source database", "check mapping.table and the database of mysql.dsn in configs/migrator.yaml and configs/cdc.yaml"}}, nil
	}
	if err != nil {
		return f, nil, fmt.Errorf("reading information_schema.TABLES: %w", err)
	}
	pk, err := d.primaryKey(ctx)
	if err != nil {
		return f, nil, err
	}
	if pk.Level == Fail {
		return f, []Check{pk}, nil
	}
	m, err := codec.Resolve(ctx, d.Source, cfg)
	var se *codec.SchemaError
	if errors.As(err, &se) {
		why, fix := splitAdvice(se.Reason)
		return f, []Check{pk, {Fail, "columns", why, fix + " (configs/migrator.yaml and configs/cdc.yaml)"}}, nil
	}
	if err != nil {
		return f, nil, err
	}
	cs := []Check{pk, {OK, "columns", fmt.Sprintf("%d columns, each of a type the codec maps (%s)", len(m.Columns), typeCounts(m)), ""}}
	f.rows = est.Int64
	if f.rows < exactCountBelow {
		if err := d.Source.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+m.QuotedTable()).Scan(&f.rows); err != nil {
			return f, cs, fmt.Errorf("counting the rows of %s: %w", cfg.Table, err)
		}
	}
	cs = append(cs, Check{OK, "rows", fmt.Sprintf("%s rows, %s of data and %s of indexes in %s.%s (information_schema's statistics)",
		count(f.rows), bytesText(data.Int64), bytesText(index.Int64), db, cfg.Table), ""})
	sample, err := d.sampleItems(ctx, m, &f)
	if err != nil {
		return f, cs, err
	}
	f.ok = true
	return f, append(cs, sample), nil
}

// primaryKey checks the table has a one-column primary key, mapping.key.
func (d *Doctor) primaryKey(ctx context.Context) (Check, error) {
	cfg := d.Migrator.Mapping
	rows, err := d.Source.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`, cfg.Table)
	if err != nil {
		return Check{}, fmt.Errorf("reading the primary key of %s: %w", cfg.Table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return Check{}, fmt.Errorf("reading the primary key of %s: %w", cfg.Table, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return Check{}, fmt.Errorf("reading the primary key of %s: %w", cfg.Table, err)
	}
	why := "the backfill splits the table into ranges of its primary key, and the key is every item's pk"
	switch {
	case len(cols) == 0:
		return Check{Fail, "primary key", "table " + cfg.Table + " has none; " + why,
			"ALTER TABLE " + cfg.Table + " ADD PRIMARY KEY (<a unique, not-null column>), or add an id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY"}, nil
	case len(cols) > 1:
		return Check{Fail, "primary key (" + strings.Join(cols, ", ") + ")", "it has " + fmt.Sprint(len(cols)) + " columns, strangler needs one: " + why,
			"give the table a one-column primary key (an AUTO_INCREMENT id) and keep (" + strings.Join(cols, ", ") + ") as a UNIQUE key"}, nil
	case !strings.EqualFold(cols[0], cfg.Key):
		return Check{Fail, "primary key " + cols[0], "mapping.key is " + cfg.Key + ", but the primary key is " + cols[0],
			"set mapping.key: " + cols[0] + " in configs/migrator.yaml and configs/cdc.yaml"}, nil
	}
	return Check{OK, "primary key " + cols[0], "one column: " + why, ""}, nil
}

// sampleItems maps the first sampleRows rows to items and measures them
// as the backfill's writer does (with src_pos).
func (d *Doctor) sampleItems(ctx context.Context, m *codec.Mapping, f *tableFacts) (Check, error) {
	rows, err := d.Source.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY `%s` LIMIT %d", m.QuotedColumns(), m.QuotedTable(), m.Key().Name, sampleRows))
	if err != nil {
		return Check{}, fmt.Errorf("sampling %s: %w", m.Table, err)
	}
	defer rows.Close()
	raw := make([][]byte, len(m.Columns))
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var units, size, indexed, big, failed int
	var bad []string // the first few reasons
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return Check{}, fmt.Errorf("sampling %s: %w", m.Table, err)
		}
		f.sampled++
		n, inIndex, err := d.measure(m, raw)
		if err != nil {
			failed++
			if len(bad) < 3 {
				bad = append(bad, err.Error())
			}
			continue
		}
		size += n
		units += (n + 1023) / 1024
		if n > itemLimit {
			big++
		}
		if inIndex {
			indexed++
		}
	}
	if err := rows.Err(); err != nil {
		return Check{}, fmt.Errorf("sampling %s: %w", m.Table, err)
	}
	good := f.sampled - failed
	f.units, f.indexed = 1, 1 // when no row maps: a 1 KB item, indexed
	if good > 0 {
		f.units, f.size, f.indexed = float64(units)/float64(good), float64(size)/float64(good), float64(indexed)/float64(good)
	}
	what := "item size"
	switch {
	case f.sampled == 0:
		return Check{OK, what, "the table is empty: nothing to backfill", ""}, nil
	case failed > 0 || big > 0:
		return Check{Warn, what, fmt.Sprintf("of the first %d rows, %d cannot be mapped (%s) and %d are over DynamoDB's 400 KB: the backfill records such rows as dead letters",
			f.sampled, failed, strings.Join(bad, "; "), big),
			"strangler migrate backfill --dry-run lists every such row: fix or exclude those values first"}, nil
	}
	return Check{OK, what, fmt.Sprintf("about %.0f bytes, %.2f write units an item (the first %d rows): about %s in DynamoDB",
		f.size, f.units, f.sampled, bytesText(int64(f.size*float64(f.rows)))), ""}, nil
}

// measure maps one row to its item and returns its size as the backfill's
// writer counts it (with src_pos) and whether it carries both attributes
// of the listing index.
func (d *Doctor) measure(m *codec.Mapping, raw [][]byte) (size int, inIndex bool, err error) {
	r, err := m.RowFromText(raw)
	if err != nil {
		return 0, false, err
	}
	it, err := m.Item(r)
	if err != nil {
		return 0, false, err
	}
	idx := d.Migrator.Index
	return codec.ItemSize(it) + len(codec.AttrPos) + 11, it[idx.Partition] != nil && it[idx.Sort] != nil, nil // 11: a 20-digit src_pos
}

// splitAdvice splits the codec's "problem: advice" into why and fix.
func splitAdvice(reason string) (why, fix string) {
	if i := strings.LastIndex(reason, ": "); i > 0 {
		return reason[:i], reason[i+2:]
	}
	return reason, "change the mapping or the table"
}

// typeCounts lists how many columns map to each type, as "3 int, 1 json".
func typeCounts(m *codec.Mapping) string {
	n := map[codec.Type]int{}
	var order []codec.Type
	for _, c := range m.Columns {
		if n[c.Type] == 0 {
			order = append(order, c.Type)
		}
		n[c.Type]++
	}
	parts := make([]string, len(order))
	for i, t := range order {
		parts[i] = fmt.Sprintf("%d %s", n[t], t)
	}
	return strings.Join(parts, ", ")
}
