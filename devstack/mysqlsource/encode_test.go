package mysqlsource

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vtmysql "vitess.io/vitess/go/mysql"
	vtbinlog "vitess.io/vitess/go/mysql/binlog"
	"vitess.io/vitess/go/mysql/replication"
)

// everyType is a table of every column type the encoder writes.
var everyType = &Table{Schema: "db", Name: "every", PrimaryKey: []int{0}, Columns: []Column{
	IntColumn("id", 8, true), IntColumn("i8", 1, false), IntColumn("i16", 2, false), IntColumn("i24", 3, false),
	IntColumn("i32", 4, false), IntColumn("u32", 4, true), YearColumn("y"), DecimalColumn("d", 14, 4),
	DecimalColumn("small", 5, 2), FloatColumn("f"), DoubleColumn("g"), DateColumn("dt"), DateTimeColumn("at", 6),
	DateTimeColumn("at0", 0), TimestampColumn("ts", 3), TimeColumn("tm", 6), VarcharColumn("v", 64),
	VarcharColumn("long", 300), CharColumn("c", 3), TextColumn("txt", 2), BlobColumn("bin", 4),
	EnumColumn("e", "retail", "wholesale"), SetColumn("s", "a", "b", "c"), BitColumn("bits", 12), JSONColumn("j"),
}}

var everyRow = []any{
	uint64(18446744073709551615), int64(-128), int64(-32768), int64(-8388608), int64(-2147483648), uint64(4294967295),
	int64(2024), "1234567890.1234", "-999.99", float32(1.5), float64(-2.25), "2024-02-29",
	time.Date(2024, 12, 31, 23, 59, 58, 123456000, time.UTC), "1999-01-02 03:04:05", "2024-01-02 03:04:05.678",
	"-838:59:59.000000", "héllo 🧽", string(bytes.Repeat([]byte("x"), 280)), "abc", "some text", []byte{0, 1, 2, 255},
	"wholesale", "a,c", uint64(0xabc), `{"b":[1,2.5,"x",null,true],"a":{"k":-70000}}`,
}

// vitessValues are the same row as vitess's own row parser prints it.
// Its test printer reads every integer as unsigned (it ignores the
// signedness metadata): -128 prints as 128.
var vitessValues = []string{
	"18446744073709551615", "128", "32768", "8388608", "2147483648", "4294967295", "2024", "1234567890.1234",
	"-999.99", "1.5E+00", "-2.25E+00", "2024-02-29", "2024-12-31 23:59:58.123456", "1999-01-02 03:04:05",
	"2024-01-02 03:04:05.678", "-838:59:59.000000", "héllo 🧽", string(bytes.Repeat([]byte("x"), 280)), "abc",
	"some text", "\x00\x01\x02\xff", "2", "5", "\n\xbc", `{"a": {"k": -70000}, "b": [1, 2.5, "x", null, true]}`,
}

func testLog(t *testing.T) *binlogLog {
	t.Helper()
	return newLog(&encoder{f: format("8.0.36"), serverID: 7, now: func() uint32 { return 1700000000 }}, "binlog")
}

var testSID = replication.SID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

func opts() writeOpts {
	return writeOpts{sid: testSID, gtidMode: true, fullMetadata: true, v8: true, version: 80036, commitMicros: 1700000000000000}
}

// parsed is a binlog file as vitess's parser reads it.
type parsed struct {
	types []byte
	gtids []string
	rows  [][]string
	names []string
	// colTypes are the last table map's column types.
	colTypes []byte
}

// vreader reads events with vitess's binlog parser: checksums, GTIDs,
// table maps, rows, and the events inside transaction payloads.
type vreader struct {
	t  *testing.T
	f  vtmysql.BinlogFormat
	tm *vtmysql.TableMap
	parsed
}

// parseFile reads a whole file with vitess's parser, checking each
// event's log_pos.
func parseFile(t *testing.T, data []byte) parsed {
	t.Helper()
	if !bytes.Equal(data[:4], []byte{0xfe, 'b', 'i', 'n'}) {
		t.Fatalf("no binlog magic: % x", data[:4])
	}
	r := &vreader{t: t}
	for off := 4; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+9:]))
		if end := int(binary.LittleEndian.Uint32(data[off+13:])); end != off+n {
			t.Fatalf("event at %d: log_pos %d, want %d", off, end, off+n)
		}
		r.visit(vtmysql.NewMysql56BinlogEvent(data[off:off+n]), false)
		off += n
	}
	return r.parsed
}

func (r *vreader) visit(ev vtmysql.BinlogEvent, inner bool) {
	t := r.t
	t.Helper()
	if !ev.IsValid() {
		t.Fatalf("invalid event % x", ev.Bytes())
	}
	if ev.IsFormatDescription() {
		var err error
		if r.f, err = ev.Format(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !inner && !r.f.IsZero() {
		var err error
		if ev, _, err = ev.StripChecksum(r.f); err != nil {
			t.Fatalf("checksum: %v", err)
		}
	}
	r.types = append(r.types, ev.Bytes()[4])
	switch {
	case ev.IsGTID():
		g, _, _, _, err := ev.GTID(r.f)
		if err != nil {
			t.Fatal(err)
		}
		r.gtids = append(r.gtids, g.String())
	case ev.IsTableMap():
		var err error
		if r.tm, err = ev.TableMap(r.f); err != nil {
			t.Fatal(err)
		}
		r.names = append(r.names, r.tm.Name)
		r.colTypes = r.tm.Types
	case ev.IsWriteRows() || ev.IsUpdateRows() || ev.IsDeleteRows():
		rows, err := ev.Rows(r.f, r.tm)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows.Rows {
			if ev.IsUpdateRows() || ev.IsDeleteRows() {
				v, err := rows.StringIdentifiesForTests(r.tm, i)
				if err != nil {
					t.Fatal(err)
				}
				r.rows = append(r.rows, v)
			}
			if ev.IsWriteRows() || ev.IsUpdateRows() {
				v, err := rows.StringValuesForTests(r.tm, i)
				if err != nil {
					t.Fatal(err)
				}
				r.rows = append(r.rows, v)
			}
		}
	case ev.IsTransactionPayload():
		tp, err := ev.TransactionPayload(r.f)
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		for {
			in, err := tp.GetNextEvent()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			r.visit(in, true)
		}
	}
}

// TestEveryTypeReadsBackWithVitess writes a row of every type, plain and
// compressed, and reads it back with vitess's parser (an implementation
// independent of this encoder and of go-mysql).
func TestEveryTypeReadsBackWithVitess(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		l := testLog(t)
		upd := append([]any(nil), everyRow...)
		upd[7] = "-0.0001"
		if _, err := l.appendTxn(Txn{Schema: "db", Compressed: compressed, Changes: []Change{{Table: everyType, Rows: []Row{{After: everyRow}, {Before: everyRow, After: upd}}}}}, opts()); err != nil {
			t.Fatal(err)
		}
		p := parseFile(t, l.files[0].data)
		wantUpd := append([]string(nil), vitessValues...)
		wantUpd[7] = "-0.0001"
		// vitess's printer of before images leaves JSON out.
		before := append([]string(nil), vitessValues...)
		before[len(before)-1] = ""
		if diff := cmp.Diff([][]string{vitessValues, before, wantUpd}, p.rows); diff != "" {
			t.Errorf("compressed=%v: rows (-want +got):\n%s", compressed, diff)
		}
		if diff := cmp.Diff([]string{"01020304-0506-0708-090a-0b0c0d0e0f10:1"}, p.gtids); diff != "" {
			t.Errorf("gtids: %s", diff)
		}
		want := []byte{evPreviousGTIDs, evGTID, evQuery, evTableMap, binlogWriteRows, evTableMap, binlogUpdateRows, evXID}
		if compressed {
			want = []byte{evPreviousGTIDs, evGTID, evTransactionPayload, evQuery, evTableMap, binlogWriteRows, evTableMap, binlogUpdateRows, evXID}
		}
		if diff := cmp.Diff(want, p.types); diff != "" {
			t.Errorf("compressed=%v: event types (-want +got):\n%s", compressed, diff)
		}
	}
}

// TestDecimalMatchesMySQLsExample checks the bytes of the example in
// MySQL's strings/decimal.cc: 1234567890.1234 as DECIMAL(14,4) is
// 81 0D FB 38 D2 04 D2, its negative 7E F2 04 C7 2D FB 2D.
func TestDecimalMatchesMySQLsExample(t *testing.T) {
	for in, want := range map[string]string{"1234567890.1234": "810dfb38d204d2", "-1234567890.1234": "7ef204c72dfb2d"} {
		got, err := appendDecimal(nil, in, 14, 4)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != want {
			t.Errorf("%s: % x, want %s", in, got, want)
		}
	}
	if _, err := appendDecimal(nil, "123456.1", 5, 2); err == nil {
		t.Error("a value wider than its DECIMAL was taken")
	}
}

// TestJSONSmallObjectBytes checks {"a":1} against the layout in MySQL's
// json_binary.h worked by hand: type 00, count 1, size 12, key entry
// (offset 11, length 1), value entry (int16 inlined: 05 0100), key "a".
func TestJSONSmallObjectBytes(t *testing.T) {
	got, err := JSONText(`{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0001000c000b0001000501006" + "1"; hex.EncodeToString(got) != want {
		t.Errorf("% x, want %s", got, want)
	}
}

// TestJSONKeyOrder checks that keys are stored shorter first, then
// bytewise, as MySQL compares them: {"bb":1,"a":2} stores "a" then "bb".
func TestJSONKeyOrder(t *testing.T) {
	got, err := EncodeJSON(map[string]any{"bb": int64(1), "a": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	// count 2, size 21; key entries (18,1) (19,2); values int16 2 and 1; "abb".
	if want := "00020015001200010013000200050200050100616262"; hex.EncodeToString(got) != want {
		t.Errorf("% x, want %s", got, want)
	}
}

// TestJSONReadsBackWithVitess encodes documents of every JSON type,
// nested and large (the 32-bit layout), and opaque values, and parses them
// with vitess's binary JSON parser.
func TestJSONReadsBackWithVitess(t *testing.T) {
	big := map[string]any{}
	for i := 0; i < 3000; i++ {
		big["key"+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i >> 8), byte(i)})] = []any{int64(i), "v" + bytes.NewBufferString("yy").String()}
	}
	dec, err := JSONDecimal("12.50", 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{true, "true"},
		{"text", `"text"`},
		{int64(-5), "-5"},
		{int64(70000), "70000"},
		{int64(-9000000000), "-9000000000"},
		{uint64(18446744073709551615), "18446744073709551615"},
		{2.5, "2.5"},
		{[]any{int64(1), []any{map[string]any{"x": nil}}}, `[1, [{"x": null}]]`},
		{map[string]any{"bb": int64(1), "a": int64(2), "c": false}, `{"a": 2, "bb": 1, "c": false}`},
		{map[string]any{"price": dec}, `{"price": 12.50}`},
		{JSONDateTime(time.Date(2024, 1, 2, 3, 4, 5, 678000000, time.UTC), vtbinlog.TypeDateTime), `"2024-01-02 03:04:05.678000"`},
		{JSONDate(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)), `"2024-01-02"`},
		// vitess reads no negative TIME: a positive one here.
		{JSONTime(time.Hour + 2*time.Second + 500*time.Millisecond), `"01:00:02.500000"`},
	}
	for _, c := range cases {
		b, err := EncodeJSON(c.in)
		if err != nil {
			t.Fatal(err)
		}
		v, err := vtbinlog.ParseBinaryJSON(b)
		if err != nil {
			t.Fatalf("%v: %v", c.in, err)
		}
		if got := string(v.MarshalTo(nil)); got != c.want {
			t.Errorf("%v: vitess reads %s, want %s", c.in, got, c.want)
		}
	}
	b, err := EncodeJSON(big)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != jsonLargeObject {
		t.Fatalf("a %d-byte object in type %#x, want the large layout", len(b), b[0])
	}
	v, err := vtbinlog.ParseBinaryJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := v.Object()
	if obj.Len() != 3000 {
		t.Errorf("vitess reads %d keys, want 3000", obj.Len())
	}
}
