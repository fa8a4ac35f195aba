package codec

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A row takes one path: RowFromText (or FromBinlog), then Item for its
// attributes and Image for its event. checkRow holds every row to what that
// path must give, whatever the values.

// everyTypeMapping is a mapping with a column of every type, the ref last.
func everyTypeMapping(t testing.TB, key string) *Mapping {
	t.Helper()
	sc := func(name, dataType, columnType string, p, s int64) schemaColumn {
		c := schemaColumn{name: name, dataType: dataType, columnType: columnType}
		if p > 0 || s > 0 {
			c.precision, c.scale = sql.NullInt64{Int64: p, Valid: true}, sql.NullInt64{Int64: s, Valid: true}
		}
		return c
	}
	keyCol := sc("id", "bigint", "bigint(20) unsigned", 0, 0)
	switch key {
	case "int":
		keyCol = sc("id", "bigint", "bigint(20)", 0, 0)
	case "string":
		keyCol = sc("id", "varchar", "varchar(40)", 0, 0)
	}
	keyCol.key = "PRI"
	cols := []schemaColumn{keyCol,
		sc("s", "varchar", "varchar(255)", 0, 0),
		sc("i", "int", "int(11)", 0, 0),
		sc("u", "bigint", "bigint(20) unsigned", 0, 0),
		sc("d12", "decimal", "decimal(12,2)", 12, 2),
		sc("d38", "decimal", "decimal(38,0)", 38, 0),
		sc("d65", "decimal", "decimal(65,30)", 65, 30),
		sc("d22", "decimal", "decimal(2,2)", 2, 2),
		sc("f", "float", "float", 0, 0),
		sc("db", "double", "double", 0, 0),
		sc("dtm", "datetime", "datetime(6)", 0, 0),
		sc("dt0", "datetime", "datetime", 0, 0),
		sc("ts", "timestamp", "timestamp(6)", 0, 0),
		sc("dt", "date", "date", 0, 0),
		sc("j", "longtext", "longtext", 0, 0),
		sc("e", "enum", "enum('retail','wholesale')", 0, 0),
		sc("b", "bit", "bit(64)", 0, 0),
		sc("bl", "blob", "blob", 0, 0),
	}
	ref := ""
	if key == "" {
		cols = append(cols, sc("order_ref", "varchar", "varchar(40)", 0, 0))
		ref = "order_ref"
	}
	m, err := build(Config{Table: "t", Key: "id", Ref: ref}, cols, map[string]bool{"j": true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkRow runs a text-protocol row through the one path. A refused row
// is a *ValueError naming a mapped column. An accepted row's item has its
// pk (KeyString) and an attribute for each non-NULL mapped column but the
// ref, decodes back to the row (RowFromItem), and its event image says
// what the item says (checkImage).
func checkRow(t *testing.T, m *Mapping, raw [][]byte) {
	t.Helper()
	show := func() string {
		parts := make([]string, len(raw))
		for i, r := range raw {
			if r == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = strconv.Quote(string(r))
			}
		}
		return strings.Join(parts, ", ")
	}
	row, err := m.RowFromText(raw)
	if err == nil {
		var item map[string]types.AttributeValue
		if item, err = m.Item(row); err == nil {
			checkItem(t, m, row, item, show)
			checkImage(t, m, row, item, raw, show)
			return
		}
	}
	var ve *ValueError
	if !errors.As(err, &ve) || !slices.ContainsFunc(m.Columns, func(c Column) bool { return c.Name == ve.Column }) {
		t.Fatalf("row %s: refused with %v, want a *ValueError naming a mapped column", show(), err)
	}
}

func checkItem(t *testing.T, m *Mapping, row Row, item map[string]types.AttributeValue, show func() string) {
	t.Helper()
	key := m.KeyString(row)
	if pk, _ := item[AttrPK].(*types.AttributeValueMemberS); key == "" || pk == nil || pk.Value != key {
		t.Fatalf("row %s: pk %s, want %q", show(), Show(item[AttrPK]), key)
	}
	for i, c := range m.Columns[1:] {
		if _, has := item[c.Attribute]; has != (row[i+1] != nil && !m.IsRef(i+1)) {
			t.Fatalf("row %s: attribute %s present %v for value %#v", show(), c.Attribute, has, row[i+1])
		}
	}
	back, err := m.RowFromItem(item)
	if err != nil {
		t.Fatalf("row %s: its item %s does not decode: %v", show(), Show(&types.AttributeValueMemberM{Value: item}), err)
	}
	want := slices.Clone(row)
	for i, v := range want {
		if tm, ok := v.(time.Time); ok {
			want[i] = tm.Truncate(time.Microsecond) // TimeLayout's precision
		}
	}
	if m.ref > 0 && row[m.ref] != nil {
		want[0] = nil // the pk is the ref; the surrogate key is MySQL's own
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("row %s: item decodes to\n%#v, want\n%#v", show(), back, want)
	}
}

// checkImage: the event image encodes (encoding/json) to an object of every
// column but the ref whose fields say what the item's attributes say: the
// same strings, the same number texts (floats by value), times in the same
// layout, BLOBs as base64 of the same bytes, and each JSON column as the
// same JSON as its text, numbers exact.
func checkImage(t *testing.T, m *Mapping, row Row, item map[string]types.AttributeValue, raw [][]byte, show func() string) {
	t.Helper()
	b, err := json.Marshal(m.Image(row))
	if err != nil {
		t.Fatalf("row %s: image: %v", show(), err)
	}
	img := decodeJSONText(t, b)
	fields, _ := img.(map[string]any)
	if _, _, hasRef := m.Ref(); len(fields) != len(m.Columns)-btoi(hasRef) {
		t.Fatalf("row %s: image %s has %d fields", show(), b, len(fields))
	}
	for i, c := range m.Columns {
		if m.IsRef(i) {
			continue
		}
		got, want := fields[c.Name], imageOf(t, c, item[c.Attribute], raw[i])
		if n, ok := got.(json.Number); ok && (c.Type == Float || c.Type == Double) {
			got, _ = strconv.ParseFloat(string(n), 64)
		}
		if i == 0 {
			want = item[AttrPK].(*types.AttributeValueMemberS).Value
			if _, isNum := got.(json.Number); isNum && !m.IsRefKey(want.(string)) {
				want = json.Number(want.(string))
			}
		}
		if c.Type == JSON {
			got, want = byValue(got), byValue(want) // numbers canonical (jsonnumber.go)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("row %s: image field %s = %#v, want %#v (item %s)", show(), c.Name, got, want, Show(item[c.Attribute]))
		}
	}
}

// imageOf is the image field that says what attribute av (nil: absent)
// of column c says.
func imageOf(t *testing.T, c Column, av types.AttributeValue, text []byte) any {
	switch v := av.(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(v.Value)
	case *types.AttributeValueMemberN:
		switch c.Type {
		case Decimal:
			return v.Value
		case Float, Double:
			bits := 64
			if c.Type == Float {
				bits = 32
			}
			f, _ := strconv.ParseFloat(v.Value, bits)
			return f
		case JSON:
			return decodeJSONText(t, text)
		}
		return json.Number(v.Value)
	}
	return decodeJSONText(t, text) // a JSON column's M, L, BOOL or NULL
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// decodeJSONText reads JSON as a consumer does, numbers exact.
func decodeJSONText(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
}

// byValue replaces the numbers of decoded JSON by their exact values
// (big.Rat's text), so two JSON values compare equal when they say the
// same numbers, whatever the number texts.
func byValue(v any) any {
	switch t := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(t))
		if !ok {
			return "not a number: " + string(t)
		}
		return "number " + r.RatString()
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = byValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = byValue(e)
		}
		return out
	}
	return v
}

// jsonCases are JSON column texts of every shape, good and bad.
var jsonCases = []string{
	`{}`, `[]`, `{"a":{}}`, `[[]]`, `[{}]`, `  {"a" : [ 1 , 2 ] }  `, "\t\n\r{}\n",
	`{"sku":"TLS-2001","name":"Microfibre Cloths (12)","quantity":1,"unit_price":"9.99"}`,
	`[{"sku":"A","quantity":3,"unit_price":"29.99"},{"sku":"B","quantity":2,"unit_price":"5.79"}]`,
	`{"name":"Chen Patel","line1":"270 Lakeview Dr","city":"Chicago","region":"IL","postal_code":"60673","country":"US"}`,
	`"just a string"`, `""`, `0`, `-0`, `1`, `-1`, `1.5`, `-0.0`, `0.000`, `true`, `false`, `null`, `[null]`, `{"a":null}`,
	`{"a":true,"b":false,"c":null,"d":[true,null,"x",1.25]}`,
	`"żółw 🐢 漢字 ñ"`, `{"emoji 🐢":"\ud83d\udc22"}`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\ud800"`, `"\udc00\ud800"`, `"a\u0000b"`,
	"\"\xff\xfe\"", "{\"k\xc3\":1}", "\"\xed\xa0\x80\"", "\"ok\x7f\"",
	`12345678901234567890123456789012345678`, `123456789012345678901234567890123456789`, `0.1234567890123456789012345678901234567`,
	`1e125`, `1e126`, `9.9e125`, `1E-130`, `1e-131`, `1e400`, `-1e-400`, `1.0e+2`, `2E3`, `0.` + strings.Repeat("0", 40) + `1`,
	`1` + strings.Repeat("0", 45), `-` + strings.Repeat("9", 38), strings.Repeat("9", 39) + `.0`,
	`{"":1}`, `{"a":1,"a":2}`, `{"a":{"a":1},"a":[1]}`, `{"\u0061":1,"a":2}`,
	strings.Repeat("[", 32) + strings.Repeat("]", 32), strings.Repeat("[", 33) + strings.Repeat("]", 33),
	strings.Repeat("[", 34) + strings.Repeat("]", 34), strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32),
	strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33), strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
	``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `[1 2]`,
	`01`, `1.`, `.5`, `+1`, `-`, `1e`, `1e+`, `--1`, `0x10`, `NaN`, `Infinity`, `tru`, `truex`, `nul`, `nulll`, `falsey`,
	`{} {}`, `[] x`, `1 2`, `"a" "b"`, `{}]`, `[]}`, `"abc`, `"a\"`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\nb\"", "\"tab\there\"",
	"\xef\xbb\xbf{}", `{a:1}`, `{'a':1}`, `['a']`, `{"a":1}}`, `[1]]`, "{\"a\":\"\x01\"}",
}

// TestRowJSONShapes: a JSON column's text is read as encoding/json reads
// it: the row is refused exactly when the text is not one valid JSON value.
func TestRowJSONShapes(t *testing.T) {
	m := everyTypeMapping(t, "uint")
	for _, j := range jsonCases {
		checkJSONColumn(t, m, j)
	}
}

func checkJSONColumn(t *testing.T, m *Mapping, j string) {
	t.Helper()
	raw := make([][]byte, len(m.Columns))
	raw[0] = []byte("7")
	raw[m.byAttr["j"]] = []byte(j)
	checkRow(t, m, raw)
	if _, err := m.RowFromText(raw); (err == nil) != json.Valid([]byte(j)) {
		t.Fatalf("JSON %q: RowFromText error %v, json.Valid %v", j, err, json.Valid([]byte(j)))
	}
}

// scalarCases are text values per column, good and bad.
var scalarCases = map[string][]string{
	"s":   {"", "a", "żółw 🐢", "\xff", strings.Repeat("x", 1000)},
	"i":   {"0", "-0", "1", "-1", "007", "+5", "2147483647", "-9223372036854775808", "9223372036854775808", "1.5", "", "x"},
	"u":   {"0", "18446744073709551615", "18446744073709551616", "-1", "01", "42"},
	"d12": {"0.00", "-0.00", "9.99", "-9.99", "1234567890.12", "12345678901.12", "0.5", "1.5", "1.500", "007.50", "1e2", ".50", "-.50", "5", "abc", "0.0"},
	"d38": {"0", "-0", "12345678901234567890123456789012345678", "123456789012345678901234567890123456789", "1.0", "00"},
	"d65": {"0.000000000000000000000000000000", "12345678901234567890123456789012345.123456789012345678901234567890", "-1.000000000000000000000000000000"},
	"d22": {"0.50", "-0.50", "0.00", "1.00", "00.50", "0.5"},
	"f":   {"0", "-0", "1.5", "16777216", "3.4028234663852886e38", "1e39", "NaN", "x"},
	"db":  {"0", "1e308", "1e126", "-2.5", "inf"},
	"dtm": {"2025-11-22 12:38:26.055892", "2025-11-22 12:38:26", "2024-02-29 00:00:00.000000", "2023-02-29 00:00:00.000000",
		"2025-13-01 00:00:00", "2025-00-01 00:00:00", "0000-00-00 00:00:00", "2025-04-31 10:00:00", "2025-04-30 24:00:00",
		"2025-04-30 23:60:00", "2025-04-30 23:59:60", "2025-11-22 12:38:26.055", "2025-11-22T12:38:26", "0001-01-01 00:00:00",
		"0000-01-01 00:00:00.000001", "9999-12-31 23:59:59.999999", "2025-11-22 12:38:26.0558921", "1900-02-29 00:00:00", "2000-02-29 00:00:00"},
	"dt0": {"2025-11-22 12:38:26", "2025-11-22 1:38:26", "2025-11-22 12:38:26.", "2025-1x-22 12:38:26"},
	"ts":  {"1970-01-01 00:00:01.000000", "2038-01-19 03:14:07.999999"},
	"dt":  {"2025-11-22", "0000-00-00", "2025-02-30", "x"},
	"e":   {"retail", "wholesale", "", "\xff"},
	"b":   {"\x00", "\x01\x02", "\xff\xff\xff\xff\xff\xff\xff\xff", "\x01\x00\x00\x00\x00\x00\x00\x00\x00"},
	"bl":  {"", "\x00\xff", "blob"},
}

// TestRowScalars runs every scalar case of every column through the one
// path, under each kind of key, and the keys and refs themselves.
func TestRowScalars(t *testing.T) {
	for _, key := range []string{"uint", "int", "string", ""} {
		m := everyTypeMapping(t, key)
		for attr, vals := range scalarCases {
			for _, v := range vals {
				raw := make([][]byte, len(m.Columns))
				raw[0] = []byte("42")
				raw[m.byAttr[attr]] = []byte(v)
				checkRow(t, m, raw)
			}
		}
		for _, k := range []string{"", "0", "-0", "-1", "01", "+1", "18446744073709551615", "x", "\xff", "ord_1"} {
			raw := make([][]byte, len(m.Columns))
			raw[0] = []byte(k)
			checkRow(t, m, raw)
		}
		if key == "" {
			for _, ref := range []string{"ord_abc", "", "12"} {
				raw := make([][]byte, len(m.Columns))
				raw[0], raw[m.ref] = []byte("5"), []byte(ref)
				checkRow(t, m, raw)
			}
		}
	}
	m := everyTypeMapping(t, "uint")
	if _, err := m.RowFromText(make([][]byte, 3)); err == nil {
		t.Fatal("a row of the wrong width was accepted")
	}
}

// randJSON writes a random JSON value; depth grows past the limit now and
// then.
func randJSON(r *rand.Rand, sb *strings.Builder, depth int) {
	ws := func() {
		if r.IntN(8) == 0 {
			sb.WriteString([]string{" ", "\n", "\t", "\r\n  "}[r.IntN(4)])
		}
	}
	ws()
	k := r.IntN(10)
	if depth > 36 {
		k = 4 + r.IntN(6)
	}
	switch k {
	case 0, 1:
		sb.WriteByte('{')
		for i, n := 0, r.IntN(5); i < n; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			ws()
			sb.WriteString(randJSONString(r))
			ws()
			sb.WriteByte(':')
			randJSON(r, sb, depth+1)
		}
		ws()
		sb.WriteByte('}')
	case 2, 3:
		sb.WriteByte('[')
		for i, n := 0, r.IntN(5); i < n; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			randJSON(r, sb, depth+1)
		}
		sb.WriteByte(']')
	case 4, 5:
		sb.WriteString(randJSONString(r))
	case 6, 7:
		sb.WriteString(randJSONNumber(r))
	case 8:
		sb.WriteString([]string{"true", "false"}[r.IntN(2)])
	case 9:
		sb.WriteString("null")
	}
	ws()
}

func randJSONString(r *rand.Rand) string {
	pieces := []string{"", "a", "sku", "🐢", "ż", `\n`, `\"`, `\\`, `\u00e9`, `\ud83d\udc22`, `\ud800`, "\xff", " ", "unit_price", "9.99", "\x7f"}
	var sb strings.Builder
	sb.WriteByte('"')
	for i, n := 0, r.IntN(4); i < n; i++ {
		sb.WriteString(pieces[r.IntN(len(pieces))])
	}
	sb.WriteByte('"')
	return sb.String()
}

func randJSONNumber(r *rand.Rand) string {
	var sb strings.Builder
	if r.IntN(3) == 0 {
		sb.WriteByte('-')
	}
	digits := func(n int) {
		for range n {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
	}
	if r.IntN(4) == 0 {
		sb.WriteByte('0')
	} else {
		sb.WriteByte(byte('1' + r.IntN(9)))
		digits(r.IntN([]int{3, 12, 45}[r.IntN(3)]))
	}
	if r.IntN(2) == 0 {
		sb.WriteByte('.')
		digits(1 + r.IntN([]int{3, 20, 45}[r.IntN(3)]))
	}
	if r.IntN(4) == 0 {
		sb.WriteString([]string{"e", "E", "e+", "e-", "E-"}[r.IntN(5)])
		sb.WriteString(strconv.Itoa(r.IntN(300)))
	}
	return sb.String()
}

// mutate breaks a JSON text now and then: a byte dropped, doubled or
// replaced by one JSON cares about.
func mutate(r *rand.Rand, s string) string {
	if s == "" || r.IntN(3) != 0 {
		return s
	}
	i := r.IntN(len(s))
	switch r.IntN(3) {
	case 0:
		return s[:i] + s[i+1:]
	case 1:
		return s[:i] + s[i:i+1] + s[i:]
	}
	const breakers = "{}[],:\"\\ -.e0\x00\xff"
	return s[:i] + string(breakers[r.IntN(len(breakers))]) + s[i+1:]
}

// TestRowProperty runs random rows through the one path: random JSON
// (valid and broken), and each column now and then NULL or a value from the
// scalar cases.
func TestRowProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	maps := []*Mapping{everyTypeMapping(t, "uint"), everyTypeMapping(t, "int"), everyTypeMapping(t, "string"), everyTypeMapping(t, "")}
	for it := range n {
		m := maps[it%len(maps)]
		raw := make([][]byte, len(m.Columns))
		raw[0] = []byte(strconv.Itoa(r.IntN(1000)))
		for i, c := range m.Columns[1:] {
			if r.IntN(5) == 0 {
				continue // NULL
			}
			if c.Type == JSON {
				var sb strings.Builder
				randJSON(r, &sb, 0)
				raw[i+1] = []byte(mutate(r, sb.String()))
				continue
			}
			if vals := scalarCases[c.Attribute]; len(vals) > 0 {
				raw[i+1] = []byte(vals[r.IntN(len(vals))])
			}
		}
		if m.ref > 0 && r.IntN(10) == 0 {
			raw[m.ref] = []byte(fmt.Sprintf("ord_%d", r.IntN(100)))
		}
		checkRow(t, m, raw)
	}
}

// FuzzJSONColumn: whatever the JSON column holds, the one path gives what
// checkJSONColumn wants.
func FuzzJSONColumn(f *testing.F) {
	for _, j := range jsonCases {
		f.Add(j)
	}
	m := everyTypeMapping(f, "uint")
	f.Fuzz(func(t *testing.T, j string) {
		checkJSONColumn(t, m, j)
	})
}

// BenchmarkRow is one order-like row's text to its item, and to its item
// and its event image encoded.
func BenchmarkRow(b *testing.B) {
	m := everyTypeMapping(b, "uint")
	raw := orderLikeRow(m)
	item := func() Row {
		row, err := m.RowFromText(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Item(row); err != nil {
			b.Fatal(err)
		}
		return row
	}
	b.Run("item", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			item()
		}
	})
	b.Run("item+event", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m.Image(item())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func orderLikeRow(m *Mapping) [][]byte {
	raw := make([][]byte, len(m.Columns))
	set := func(attr, v string) { raw[m.byAttr[attr]] = []byte(v) }
	raw[0] = []byte("123456")
	set("s", "cust-r-0001")
	set("e", "retail")
	set("i", "3")
	set("d12", "111.54")
	set("dtm", "2025-11-22 12:38:26.055892")
	set("ts", "2025-11-26 01:34:07.034078")
	set("j", `[{"sku": "TLS-2001", "name": "Microfibre Cloths (12)", "quantity": 1, "unit_price": "9.99"}, {"sku": "TLS-2003", "name": "Spray Mop with Refill Pad", "quantity": 3, "unit_price": "29.99"}, {"sku": "CLN-1017", "name": "Drain Unblocker 1 L", "quantity": 2, "unit_price": "5.79"}]`)
	return raw
}

// TestCommonValuesAccepted: the properties above would hold if every row
// were refused; the values of real orders must not be.
func TestCommonValuesAccepted(t *testing.T) {
	m := everyTypeMapping(t, "uint")
	row, err := m.RowFromText(orderLikeRow(m))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Item(row); err != nil {
		t.Fatal(err)
	}
	for _, j := range []string{`{}`, `[]`, `{"a":[1,-2.5,"x",true,false,null,{}]}`, `"🐢"`, `"\n"`, `0`, `12345678901234567890123456789012345678`,
		strings.Repeat("[", 32) + strings.Repeat("]", 32)} {
		if _, err := m.Columns[m.byAttr["j"]].attrOfText(j); err != nil {
			t.Errorf("JSON %s: %v", j, err)
		}
	}
	for attr, v := range map[string]string{"d12": "-9.99", "d38": "0", "d22": "0.50", "dtm": "2024-02-29 23:59:59.999999", "dt0": "2025-01-01 00:00:00", "i": "-7", "u": "0"} {
		if _, err := m.Columns[m.byAttr[attr]].attrOfText(v); err != nil {
			t.Errorf("%s %q: %v", attr, v, err)
		}
	}
}

// attrOfText is Attr(FromText(text)).
func (c Column) attrOfText(text string) (types.AttributeValue, error) {
	v, err := c.FromText([]byte(text), false)
	if err != nil {
		return nil, err
	}
	return c.Attr(v)
}

// TestFastNumberCheck: a number the fast check passes is one checkNumber
// accepts (jsonAttr skips checkNumber for those).
func TestFastNumberCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []string{"0", "-0", "1.5", "00", "01.50", "-", "", ".5", "5.", "1e5", "0x10", "1_000", "+1", "9.9e125",
		strings.Repeat("9", 38), strings.Repeat("9", 39), "0." + strings.Repeat("0", 37) + "1", "0." + strings.Repeat("0", 38) + "1"}
	for range 20000 {
		cases = append(cases, randJSONNumber(r))
	}
	for _, n := range cases {
		if plainNumber(n) && fastNumberOK(n) {
			if err := checkNumber(n); err != nil {
				t.Errorf("%q passes the fast check but checkNumber says %v", n, err)
			}
		}
	}
}
