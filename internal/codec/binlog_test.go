package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gosql "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/stacktest"
)

// fixed is a stand-in for decimal.Decimal: anything with StringFixed.
type fixed string

func (f fixed) StringFixed(places int32) string {
	whole, frac, _ := strings.Cut(string(f), ".")
	for len(frac) < int(places) {
		frac += "0"
	}
	if places == 0 {
		return whole
	}
	return whole + "." + frac[:places]
}

func TestFromBinlog(t *testing.T) {
	enum := codec.Column{Name: "e", Type: codec.Enum, Enum: []string{"retail", "wholesale"}}
	set := codec.Column{Name: "s", Type: codec.String, Enum: []string{"a", "b", "c"}}
	when := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		col  codec.Column
		in   any
		want any
	}{
		{"null", codec.Column{Type: codec.Int}, nil, nil},
		{"int8", codec.Column{Type: codec.Int}, int8(-5), int64(-5)},
		{"int32", codec.Column{Type: codec.Int}, int32(math.MinInt32), int64(math.MinInt32)},
		{"year", codec.Column{Type: codec.Int}, 2024, int64(2024)},
		{"uint64", codec.Column{Type: codec.Uint}, uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"unsigned decoded signed", codec.Column{Type: codec.Uint}, int8(-1), uint64(255)},
		{"uint32", codec.Column{Type: codec.Uint}, uint32(7), uint64(7)},
		{"decimal keeps its scale", codec.Column{Type: codec.Decimal, Precision: 12, Scale: 2}, fixed("5.5"), "5.50"},
		{"decimal as string", codec.Column{Type: codec.Decimal, Precision: 12, Scale: 2}, "5.5", "5.50"},
		{"float", codec.Column{Type: codec.Float}, float32(0.1), float64(float32(0.1))},
		{"double -0", codec.Column{Type: codec.Double}, math.Copysign(0, -1), float64(0)},
		{"datetime to UTC", codec.Column{Type: codec.Datetime}, when, when.UTC()},
		{"date", codec.Column{Type: codec.Date}, "2024-02-29", "2024-02-29"},
		{"enum", enum, int64(2), "wholesale"},
		{"enum invalid", enum, int64(0), ""},
		{"set", set, int64(5), "a,c"},
		{"set empty", set, int64(0), ""},
		{"text bytes", codec.Column{Type: codec.String}, []byte("héllo"), "héllo"},
		{"json", codec.Column{Type: codec.JSON}, []byte(`{"a":[1,null]}`), map[string]any{"a": []any{json.Number("1"), codec.JSONNull{}}}},
		{"bit", codec.Column{Type: codec.Bit}, int64(-1), uint64(math.MaxUint64)},
		{"blob", codec.Column{Type: codec.Blob}, []byte{0, 1}, []byte{0, 1}},
		{"blob from string", codec.Column{Type: codec.Blob}, "ab", []byte("ab")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.col.FromBinlog(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, valueOpts); diff != "" {
				t.Errorf("FromBinlog(%#v) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestFromBinlogRefuses(t *testing.T) {
	tests := []struct {
		name string
		col  codec.Column
		in   any
	}{
		{"enum index beyond labels", codec.Column{Type: codec.Enum, Enum: []string{"a"}}, int64(2)},
		{"decimal too precise", codec.Column{Type: codec.Decimal, Precision: 3, Scale: 1}, "12345.5"},
		{"zero datetime", codec.Column{Type: codec.Datetime}, "0000-00-00 00:00:00"},
		{"wrong Go type", codec.Column{Type: codec.Int}, 1.5},
		{"set without labels", codec.Column{Type: codec.String}, int64(1)},
		{"bad utf-8", codec.Column{Type: codec.String}, []byte{0xff}},
		{"infinite double", codec.Column{Type: codec.Double}, math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.col.FromBinlog(tt.in)
			var ve *codec.ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("FromBinlog(%#v) = %v, want a *ValueError", tt.in, err)
			}
		})
	}
}

// TestStackBinlogMatchesText inserts the every_type rows and decodes them
// twice: from the text protocol (as the backfill reads) and from the binlog
// (as the cdc reads). Both must give the same canonical rows.
func TestStackBinlogMatchesText(t *testing.T) {
	ctx := context.Background()
	db := openSource(t)
	exec(t, db, everyTypeDDL)
	var start string
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&start); err != nil {
		t.Fatal(err)
	}
	var dbName string
	if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	for _, r := range everyTypeRows {
		names, marks, args := "", "", []any{}
		for _, c := range everyTypeColumns {
			if v, ok := r[c.Name]; ok {
				if names != "" {
					names, marks = names+", ", marks+", "
				}
				names, marks, args = names+"`"+c.Name+"`", marks+"?", append(args, v.in)
			}
		}
		exec(t, db, "INSERT INTO every_type ("+names+") VALUES ("+marks+")", args...)
	}
	// Updates exercise before-images too: the after-image must still match.
	exec(t, db, "UPDATE every_type SET d12 = 5.5, e = 'wholesale', st = 'b,c' WHERE id = 3")

	m, err := codec.Resolve(ctx, db, codec.Config{Table: "every_type", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	var want []codec.Row
	for i, raw := range readText(t, db, m) {
		row, err := m.RowFromText(raw)
		if err != nil {
			t.Fatalf("text row %d: %v", i, err)
		}
		want = append(want, row)
	}

	got := map[string]codec.Row{}
	readBinlog(t, start, dbName, "every_type", len(everyTypeRows)+1, func(tme *replication.TableMapEvent, image []any) {
		row := binlogRow(t, m, tme, image)
		got[m.KeyString(row)] = row
	})
	for _, w := range want {
		k := m.KeyString(w)
		if diff := cmp.Diff(w, got[k], valueOpts); diff != "" {
			t.Errorf("row %s from the binlog (-text +binlog):\n%s", k, diff)
		}
	}
}

// binlogRow decodes one row image by the table map's column names, with
// the ENUM and SET labels it carries (binlog_row_metadata=FULL).
func binlogRow(t *testing.T, m *codec.Mapping, tme *replication.TableMapEvent, image []any) codec.Row {
	t.Helper()
	names := tme.ColumnNameString()
	if len(names) == 0 {
		t.Fatal("the table map carries no column names: the server needs binlog_row_metadata=FULL")
	}
	enums, sets := tme.EnumStrValueMap(), tme.SetStrValueMap()
	row := make(codec.Row, len(m.Columns))
	for i, name := range names {
		j := -1
		for k, c := range m.Columns {
			if strings.EqualFold(c.Name, name) {
				j = k
			}
		}
		if j < 0 {
			continue
		}
		c := m.Columns[j]
		if l, ok := enums[i]; ok {
			c.Enum = l
		}
		if l, ok := sets[i]; ok {
			c.Enum = l
		}
		in := image[i]
		if s, ok := in.(string); ok && tme.ColumnType[i] == mysql.MYSQL_TYPE_TIME2 {
			in = codec.TimeFraction(s, int(tme.ColumnMeta[i]))
		}
		v, err := c.FromBinlog(in)
		if err != nil {
			t.Fatalf("column %s: %v", name, err)
		}
		row[j] = v
	}
	return row
}

// readBinlog streams the binlog after the MariaDB GTID position start and
// calls fn with each after-image of table's row events until n row events
// were seen.
func readBinlog(t *testing.T, start, schema, table string, n int, fn func(*replication.TableMapEvent, []any)) {
	t.Helper()
	dsn, err := gosql.ParseDSN(stacktest.MySQLDSN())
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(dsn.Addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: uint32(1000 + time.Now().UnixNano()%100000), Flavor: mysql.MariaDBFlavor,
		Host: host, Port: uint16(p), User: dsn.User, Password: dsn.Passwd,
		ParseTime: true, UseDecimal: true, TimestampStringLocation: time.UTC,
		Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	gset, err := mysql.ParseMariadbGTIDSet(start)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := syncer.StartSyncGTID(gset)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for seen := 0; seen < n; {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			t.Fatalf("reading the binlog after %d of %d row events: %v", seen, n, err)
		}
		re, ok := ev.Event.(*replication.RowsEvent)
		if !ok || string(re.Table.Schema) != schema || string(re.Table.Table) != table {
			continue
		}
		step := 1
		switch ev.Header.EventType {
		case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
			step = 2
		}
		for i := step - 1; i < len(re.Rows); i += step {
			fn(re.Table, re.Rows[i])
			seen++
		}
	}
}
