package cdc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/anycompany/strangler/internal/codec"
)

// refresh re-resolves the mapping after DDL on the table; it returns the
// attributes of mapped columns the DDL dropped.
func (s *Streamer) refresh(ctx context.Context, query string) ([]string, error) {
	m, err := codec.Resolve(ctx, s.db, s.mappingCfg)
	if err != nil {
		var se *codec.SchemaError
		if errors.As(err, &se) || errors.Is(err, codec.ErrNoTable) {
			s.log.Error("DDL left the table unusable for the mapping; keeping the previous mapping", "query", query, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("re-reading the schema after %q: %w", query, err)
	}
	dropped := droppedAttributes(s.mapping, m)
	s.mapping, s.columns = m, nil
	clear(s.layouts)
	s.log.Info("table changed: mapping re-resolved", "query", query, "columns", len(m.Columns), "dropped", dropped)
	return dropped, nil
}

// layout maps one table map's columns onto the mapping.
type layout struct {
	mapping *codec.Mapping
	// target[i] is the mapping column of binlog column i, or -1.
	target []int
	cols   []codec.Column
	fsp    []int // TIME fractional digits by binlog column
	// int24u marks MEDIUMINT columns mapped unsigned in a table map
	// without signedness (MySQL 5.7, MariaDB's NO_LOG): go-mysql then
	// reads them as a signed int32, 16777215 as -1.
	int24u []bool
	hasKey bool
}

// layoutOf is the layout of a table map: its columns named by the table
// map itself (binlog_row_metadata=FULL), so an event written before a DDL
// is decoded with the columns it was written with; or, when it carries no
// names (MINIMAL, MySQL 5.7), by the table's columns in information_schema
// if they fit the table map (minimalNames).
func (s *Streamer) layoutOf(ctx context.Context, tme *replication.TableMapEvent) (*layout, error) {
	if l, ok := s.layouts[tme]; ok {
		return l, nil
	}
	names := tme.ColumnNameString()
	enums, sets := tme.EnumStrValueMap(), tme.SetStrValueMap()
	if len(names) == 0 {
		var err error
		if names, enums, sets, err = s.minimalNames(ctx, tme); err != nil {
			return nil, err
		}
	}
	m := s.mapping
	l := &layout{mapping: m, target: make([]int, len(names)), cols: make([]codec.Column, len(names)), fsp: make([]int, len(names)),
		int24u: make([]bool, len(names))}
	for i, name := range names {
		l.target[i] = -1
		for j, c := range m.Columns {
			if strings.EqualFold(c.Name, name) {
				l.target[i] = j
				if j == 0 {
					l.hasKey = true
				}
				if lab, ok := enums[i]; ok {
					c.Enum = lab
				}
				if lab, ok := sets[i]; ok {
					c.Enum = lab
				}
				l.cols[i] = c
				break
			}
		}
		if tme.ColumnType[i] == gomysql.MYSQL_TYPE_TIME2 {
			l.fsp[i] = int(tme.ColumnMeta[i])
		}
		l.int24u[i] = tme.ColumnType[i] == gomysql.MYSQL_TYPE_INT24 && len(tme.SignednessBitmap) == 0 && l.cols[i].Type == codec.Uint
	}
	if !l.hasKey {
		return nil, &decodeError{fmt.Errorf("row event of %s lacks the key column %s", m.Table, m.Key().Name)}
	}
	if len(s.layouts) > 256 {
		clear(s.layouts)
	}
	s.layouts[tme] = l
	return l, nil
}

func (l *layout) row(image []any) (codec.Row, error) {
	r := make(codec.Row, len(l.mapping.Columns))
	for i, v := range image {
		if i >= len(l.target) || l.target[i] < 0 {
			continue
		}
		d, err := l.value(i, v)
		if err != nil {
			return nil, err
		}
		r[l.target[i]] = d
	}
	if r[0] == nil {
		return nil, fmt.Errorf("row of %s with a NULL key", l.mapping.Table)
	}
	return r, nil
}

// value decodes binlog column i's value; the canonical value keeps no
// reference to go-mysql's buffers.
func (l *layout) value(i int, v any) (any, error) {
	if str, ok := v.(string); ok && l.fsp[i] > 0 {
		v = codec.TimeFraction(str, l.fsp[i])
	}
	if n, ok := v.(int32); ok && l.int24u[i] {
		v = uint32(n) & 0xFFFFFF
	}
	return l.cols[i].FromBinlog(v)
}

// rowPair decodes an update's images. A column whose binlog value is the
// same in both is decoded once and shared (an update usually touches a few
// columns; decoding JSON columns twice was most of the cost), and changed
// says which mapped columns differ.
func (l *layout) rowPair(bimg, aimg []any) (before, after codec.Row, changed []bool, err error) {
	n := len(l.mapping.Columns)
	before, after, changed = make(codec.Row, n), make(codec.Row, n), make([]bool, n)
	for i, bv := range bimg {
		if i >= len(l.target) || l.target[i] < 0 {
			continue
		}
		j := l.target[i]
		var av any
		if i < len(aimg) {
			av = aimg[i]
		}
		bd, err := l.value(i, bv)
		if err != nil {
			return nil, nil, nil, err
		}
		before[j] = bd
		if sameBinlogValue(bv, av) {
			after[j] = bd
			continue
		}
		ad, err := l.value(i, av)
		if err != nil {
			return nil, nil, nil, err
		}
		after[j] = ad
		changed[j] = !sameValue(bd, ad)
	}
	if before[0] == nil || after[0] == nil {
		return nil, nil, nil, fmt.Errorf("row of %s with a NULL key", l.mapping.Table)
	}
	return before, after, changed, nil
}

// sameBinlogValue reports values go-mysql decoded from equal bytes; false
// when unsure (the decoded values are then compared).
func sameBinlogValue(x, y any) bool {
	switch a := x.(type) {
	case nil:
		return y == nil
	case []byte:
		b, ok := y.([]byte)
		return ok && bytes.Equal(a, b)
	case string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint, float32, float64, bool:
		return x == y // a comparable dynamic type: never panics
	case time.Time:
		b, ok := y.(time.Time)
		return ok && a.Equal(b) && a.Location() == b.Location()
	}
	return false
}

// sameValue compares canonical values (codec.Value).
func sameValue(x, y any) bool {
	switch a := x.(type) {
	case nil:
		return y == nil
	case string, int64, uint64, float64, bool:
		return x == y
	case time.Time:
		b, ok := y.(time.Time)
		return ok && a.Equal(b)
	case []byte:
		b, ok := y.([]byte)
		return ok && bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// decode appends the changes of a rows event to txn. A row it cannot decode
// is a *decodeError; other errors (reading information_schema) may pass
// when retried.
func (s *Streamer) decode(ctx context.Context, t replication.EventType, e *replication.RowsEvent, txn *Txn) error {
	l, err := s.layoutOf(ctx, e.Table)
	if err != nil {
		return err
	}
	if err := s.decodeRows(t, l, e, txn); err != nil {
		return &decodeError{err}
	}
	return nil
}

func (s *Streamer) decodeRows(t replication.EventType, l *layout, e *replication.RowsEvent, txn *Txn) error {
	add := func(kind Kind, before, after codec.Row, changed []bool) {
		img := after
		if kind == Delete {
			img = before
		}
		txn.Changes = append(txn.Changes, Change{
			Kind: kind, Key: l.mapping.KeyString(img), Pos: txn.Pos.At(uint32(len(txn.Changes))),
			Before: before, After: after, Mapping: l.mapping, changed: changed,
		})
	}
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		for _, img := range e.Rows {
			r, err := l.row(img)
			if err != nil {
				return err
			}
			add(Insert, nil, r, nil)
		}
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		for _, img := range e.Rows {
			r, err := l.row(img)
			if err != nil {
				return err
			}
			add(Delete, r, nil, nil)
		}
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			before, after, changed, err := l.rowPair(e.Rows[i], e.Rows[i+1])
			if err != nil {
				return err
			}
			if l.mapping.KeyString(before) != l.mapping.KeyString(after) {
				// A key change is the old key deleted and the new one created.
				add(Delete, before, nil, nil)
				add(Insert, nil, after, nil)
				continue
			}
			add(Update, before, after, changed)
		}
	}
	return nil
}
