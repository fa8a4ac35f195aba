package cdc

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	_ "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/stacktest"
)

// minimalMap is a table map as MySQL writes it with
// binlog_row_metadata=MINIMAL (or 5.7): types and metadata, no names.
func minimalMap(id uint64, types []byte, meta []uint16) *replication.TableMapEvent {
	return &replication.TableMapEvent{TableID: id, Schema: []byte("db"), Table: []byte("orders"),
		ColumnCount: uint64(len(types)), ColumnType: types, ColumnMeta: meta}
}

// minimalStreamer is a Streamer of the orders table in a fresh database
// of the local MariaDB, created by ddl.
func minimalStreamer(t *testing.T, ddl string) (*Streamer, *sql.DB) {
	t.Helper()
	db, err := sql.Open("mysql", stacktest.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	cfg := codec.Config{Table: "orders", Key: "id"}
	m, err := codec.Resolve(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewStreamer(StreamerDeps{DB: db, MappingConfig: cfg, Mapping: m, Logger: slog.New(slog.DiscardHandler)}), db
}

var (
	enumMeta = uint16(gomysql.MYSQL_TYPE_ENUM)<<8 | 1
	setMeta  = uint16(gomysql.MYSQL_TYPE_SET)<<8 | 1
)

// TestStackMinimalMetadataNamesFromSchema: a table map without column
// names (binlog_row_metadata=MINIMAL, MySQL 5.7) is decoded by the table's
// columns in information_schema, ENUM and SET labels too; after an ALTER
// TABLE the cdc has not yet read past, an event of the old layout is
// refused (ErrLayoutChanged, a decodeError: retrying cannot help) rather
// than decoded with the wrong columns; once the cdc reads the DDL
// (refresh) the new layout decodes.
func TestStackMinimalMetadataNamesFromSchema(t *testing.T) {
	ctx := context.Background()
	s, db := minimalStreamer(t, `CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, note VARCHAR(20),
		status ENUM('new','paid','shipped'), tags SET('gift','rush','fragile'), total DECIMAL(10,2))`)
	types := []byte{gomysql.MYSQL_TYPE_LONGLONG, gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_NEWDECIMAL}
	meta := []uint16{0, 80, enumMeta, setMeta, 10<<8 | 2}
	old := minimalMap(1, types, meta)
	txn := &Txn{}
	rows := &replication.RowsEvent{Table: old, Rows: [][]any{{int64(7), "hello", int64(2), int64(5), "12.50"}}}
	if err := s.decode(ctx, replication.WRITE_ROWS_EVENTv2, rows, txn); err != nil {
		t.Fatal(err)
	}
	got := txn.Changes[0].After
	want := codec.Row{uint64(7), "hello", "paid", "gift,fragile", "12.50"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("MINIMAL row (-want +got):\n%s", diff)
	}

	// The server moves on; the cdc is still reading events written before.
	if _, err := db.Exec("ALTER TABLE orders ADD COLUMN gift_note VARCHAR(32) AFTER note"); err != nil {
		t.Fatal(err)
	}
	// The running cdc keeps the columns it read until it reads the DDL.
	later := &replication.RowsEvent{Table: minimalMap(2, types, meta), Rows: rows.Rows} // a new table id
	txn = &Txn{}
	if err := s.decode(ctx, replication.WRITE_ROWS_EVENTv2, later, txn); err != nil {
		t.Fatalf("old layout, read before the ALTER: %v", err)
	}
	if diff := cmp.Diff(want, txn.Changes[0].After); diff != "" {
		t.Fatalf("MINIMAL row, cached columns (-want +got):\n%s", diff)
	}
	// A cdc started now (a restart) finds the new columns: it refuses.
	restarted := NewStreamer(StreamerDeps{DB: db, MappingConfig: s.mappingCfg, Mapping: s.mapping, Logger: slog.New(slog.DiscardHandler)})
	err := restarted.decode(ctx, replication.WRITE_ROWS_EVENTv2, later, &Txn{})
	var de *decodeError
	if !errors.Is(err, ErrLayoutChanged) || !errors.As(err, &de) {
		t.Fatalf("old layout read after the ALTER: %v, want ErrLayoutChanged as a decodeError", err)
	}
	t.Logf("refused: %v", err)

	// The cdc reads the ALTER: the new layout is named from the schema.
	if _, err := s.refresh(ctx, "ALTER TABLE orders ADD COLUMN gift_note VARCHAR(32) AFTER note"); err != nil {
		t.Fatal(err)
	}
	types2 := append(types[:2:2], append([]byte{gomysql.MYSQL_TYPE_VARCHAR}, types[2:]...)...)
	meta2 := append(meta[:2:2], append([]uint16{128}, meta[2:]...)...)
	txn = &Txn{}
	rows = &replication.RowsEvent{Table: minimalMap(3, types2, meta2), Rows: [][]any{{int64(8), "hi", "wrap it", int64(3), int64(0), "0.50"}}}
	if err := s.decode(ctx, replication.WRITE_ROWS_EVENTv2, rows, txn); err != nil {
		t.Fatal(err)
	}
	m := txn.Changes[0].Mapping
	byName := map[string]any{}
	for i, c := range m.Columns {
		byName[c.Name] = txn.Changes[0].After[i]
	}
	wantByName := map[string]any{"id": uint64(8), "note": "hi", "gift_note": "wrap it", "status": "shipped", "tags": "", "total": "0.50"}
	if diff := cmp.Diff(wantByName, byName); diff != "" {
		t.Fatalf("MINIMAL row after the ALTER (-want +got):\n%s", diff)
	}
}

// TestStackMinimalMetadataTypeChange: a column whose type changed (same
// count) is refused too, naming the column.
func TestStackMinimalMetadataTypeChange(t *testing.T) {
	ctx := context.Background()
	s, db := minimalStreamer(t, `CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, qty INT)`)
	if _, err := db.Exec("ALTER TABLE orders MODIFY qty VARCHAR(10)"); err != nil {
		t.Fatal(err)
	}
	tme := minimalMap(1, []byte{gomysql.MYSQL_TYPE_LONGLONG, gomysql.MYSQL_TYPE_LONG}, []uint16{0, 0})
	err := s.decode(ctx, replication.WRITE_ROWS_EVENTv2, &replication.RowsEvent{Table: tme, Rows: [][]any{{int64(1), int32(5)}}}, &Txn{})
	if !errors.Is(err, ErrLayoutChanged) {
		t.Fatalf("INT event for a VARCHAR column: %v, want ErrLayoutChanged", err)
	}
}

// TestFullMetadataNamesWin: a table map with names (FULL) is decoded by
// them, whatever information_schema says now: an event written before a
// DDL keeps the columns it was written with. No database is read.
func TestFullMetadataNamesWin(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint}, {Name: "status", Attribute: "status", Type: codec.Enum, Enum: []string{"x"}},
	}}
	s := NewStreamer(StreamerDeps{MappingConfig: codec.Config{Table: "orders", Key: "id"}, Mapping: m, Logger: slog.New(slog.DiscardHandler)})
	tme := minimalMap(1, []byte{gomysql.MYSQL_TYPE_STRING, gomysql.MYSQL_TYPE_LONGLONG}, []uint16{enumMeta, 0})
	tme.ColumnName = [][]byte{[]byte("status"), []byte("id")}
	tme.EnumStrValue = [][][]byte{{[]byte("new"), []byte("paid")}}
	txn := &Txn{}
	if err := s.decode(context.Background(), replication.WRITE_ROWS_EVENTv2, &replication.RowsEvent{Table: tme, Rows: [][]any{{int64(2), uint64(9)}}}, txn); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(codec.Row{uint64(9), "paid"}, txn.Changes[0].After); diff != "" {
		t.Fatalf("FULL row (-want +got):\n%s", diff)
	}
}
