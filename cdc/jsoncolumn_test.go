package cdc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/guard"
	"github.com/anycompany/strangler/internal/position"
)

// identity is the layout of a binlog table map whose columns are m's, in
// m's order.
func identity(m *codec.Mapping) *layout {
	l := &layout{mapping: m, cols: m.Columns, fsp: make([]int, len(m.Columns)), hasKey: true}
	for i := range m.Columns {
		l.target = append(l.target, i)
	}
	return l
}

// TestJSONColumnItemAndEvent: a row as the cdc decodes it from the binlog
// gives the item the backfill writes for the same row read as text (one
// path: the canonical row, then codec's Item), its event's order carries
// the JSON column's value, compact, and a value either side refuses is the
// same *codec.ValueError both ways.
func TestJSONColumnItemAndEvent(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint}, {Name: "items", Attribute: "items", Type: codec.JSON},
		{Name: "total", Attribute: "total", Type: codec.Decimal, Precision: 12, Scale: 2},
		{Name: "at", Attribute: "at", Type: codec.Datetime}, {Name: "n", Attribute: "n", Type: codec.Int},
		{Name: "status", Attribute: "status", Type: codec.Enum, Enum: []string{"pending", "accepted"}},
		{Name: "flag", Attribute: "flag", Type: codec.Bit}, {Name: "raw", Attribute: "raw", Type: codec.Blob},
		{Name: "note", Attribute: "note", Type: codec.String}, {Name: "f", Attribute: "f", Type: codec.Double},
		{Name: "addr", Attribute: "addr", Type: codec.JSON},
	}}
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	docs := []string{
		`[{"sku":"S-1","name":"Soap 🧼 <b>","quantity":2,"unit_price":"2.75"}]`,
		` { "z" : null, "a" : [1, 2.50, -3e5, true, false, "x\"y", {}], "m": {"k": []} } `,
		`"just a string"`, `null`, `12345678901234567890123456789012345678`,
		`{"":1}`, `1e126`, `[1,]`, `{"a":1}}`,
	}
	a := NewApplier(nil, nil, nil, DefaultRules(), time.Hour, nil, nil)
	pos := position.Position{Kind: position.GTID, Domain: "0", Server: "1", Seq: 9}
	checked := 0
	for i, doc := range docs {
		for _, f := range []float64{0, 1.5} {
			id := strconv.Itoa(7 + i)
			binlog := []any{uint64(7 + i), []byte(doc), "12.50", at, int64(-3), int64(2), int64(5), []byte{0, 255}, "", f, []byte(`{"city":"Zürich"}`)}
			text := [][]byte{[]byte(id), []byte(doc), []byte("12.50"), []byte("2026-03-04 05:06:07.123456"), []byte("-3"), []byte("accepted"),
				{5}, {0, 255}, []byte(""), []byte(strconv.FormatFloat(f, 'g', -1, 64)), []byte(`{"city":"Zürich"}`)}
			want, werr := textItem(m, text)
			row, err := identity(m).row(binlog)
			var got guard.Item
			if err == nil {
				got, err = a.item(Change{Kind: Insert, Key: id, After: row, Mapping: m}, "1")
			}
			var wve, gve *codec.ValueError
			if werr != nil || err != nil {
				if !errors.As(werr, &wve) || !errors.As(err, &gve) || *wve != *gve {
					t.Errorf("doc %d: errors differ: text %v, binlog %v", i, werr, err)
				}
				continue
			}
			want[codec.AttrPos] = &types.AttributeValueMemberN{Value: "1"}
			if g, w := codec.Show(&types.AttributeValueMemberM{Value: got.Item}), codec.Show(&types.AttributeValueMemberM{Value: want}); g != w {
				t.Errorf("doc %d: binlog item %s, text item %s", i, g, w)
			}
			e, ok, err := a.event(Change{Kind: Insert, Key: id, Pos: pos, After: row, Mapping: m}, "2026-01-01T00:00:00.000000Z")
			if err != nil || !ok {
				t.Fatalf("doc %d: event %v, %v", i, ok, err)
			}
			var d struct{ Order map[string]json.RawMessage }
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				t.Fatalf("doc %d: %v\n%s", i, err, e.Detail)
			}
			var compact bytes.Buffer
			_ = json.Compact(&compact, d.Order["items"])
			if compact.String() != string(d.Order["items"]) || !reflect.DeepEqual(decoded(t, []byte(doc)), decoded(t, d.Order["items"])) {
				t.Errorf("doc %d: event items %s, want %s", i, d.Order["items"], doc)
			}
			if err := events.ValidateDetail(e.Detail); err != nil {
				t.Errorf("doc %d: schema: %v", i, err)
			}
			checked++
		}
	}
	if checked < 8 {
		t.Errorf("only %d rows were written by both paths", checked)
	}
}

// textItem is the backfill's item of a text-protocol row.
func textItem(m *codec.Mapping, text [][]byte) (map[string]types.AttributeValue, error) {
	row, err := m.RowFromText(text)
	if err != nil {
		return nil, err
	}
	return m.Item(row)
}

// decoded reads JSON as a consumer does, numbers exact, and gives each
// number as its value (big.Rat's text): the event writes numbers in the
// canonical text (1.50 as 1.5), the same value.
func decoded(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return numberValues(v)
}

// scientific is n's value as sign, significant digits and the exponent of
// the last digit, for numbers big.Rat cannot hold.
func scientific(n string) string {
	neg := strings.HasPrefix(n, "-")
	mant, exp, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(n, "-")), "e")
	e, _ := new(big.Int).SetString(strings.TrimPrefix(exp, "+"), 10)
	if e == nil {
		e = new(big.Int)
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	e.Sub(e, big.NewInt(int64(len(frac))))
	trimmed := strings.TrimRight(digits, "0")
	e.Add(e, big.NewInt(int64(len(digits)-len(trimmed))))
	if trimmed == "" {
		return "0"
	}
	if neg {
		trimmed = "-" + trimmed
	}
	return trimmed + "e" + e.String()
}

func numberValues(v any) any {
	switch x := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(string(x)); ok {
			return "number " + r.RatString()
		}
		return "number " + scientific(string(x)) // beyond big.Rat's exponents
	case map[string]any:
		for k, e := range x {
			x[k] = numberValues(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numberValues(e)
		}
	}
	return v
}

// compactCases are JSON texts good and bad, spaced and not.
var compactCases = []string{
	`{}`, `[]`, ` { } `, "\t[\n]\r", `{"a":1}`, ` { "a" : [ 1 , 2.50 , -3e5 , true , false , null , "x\"y" , { } ] , "m" : { "k" : [ ] } } `,
	`[{"sku": "TLS-2001", "name": "Microfibre Cloths (12)", "quantity": 1, "unit_price": "9.99"}, {"sku": "CLN-1017", "quantity": 2}]`,
	`"just a string"`, `""`, `0`, `-0`, `-0.5e-3`, `1E+2`, `12345678901234567890123456789012345678901234567890`, `null`, `true`, `false`,
	`"\u00e9\n\t\"\\\/\b\f\r \ud83d\udc22 <&> ` + "\u2028 żółw \xff\xfe \x7f" + `"`, `{"":1}`, `{"a":1,"a":2}`,
	strings.Repeat("[", 600) + strings.Repeat("]", 600), strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100),
	``, ` `, `{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `[1 2]`, `{1:2}`,
	`01`, `1.`, `.5`, `+1`, `-`, `1e`, `1e+`, `--1`, `0x10`, `NaN`, `tru`, `truex`, `nul`, `nulll`, `falsey`, `[truex]`,
	`{} {}`, `[] x`, `1 2`, `"a" "b"`, `{}]`, `[]}`, `"abc`, `"a\"`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"a\nb\"", "\"a\x01b\"", `"a\`,
	"\xef\xbb\xbf{}", `{a:1}`, `{'a':1}`, `['a']`, `{"a":1}}`, `[1]]`, "[1,\v2]", "\x00", `[-]`, `[1e5.5]`, `{"a":[1,{"b":}]}`,
}

// TestJSONColumnIsEncodingJSON: the cdc reads a JSON column's binlog text
// as encoding/json reads it, for every case and random mutations of them:
// it refuses the text (a *codec.ValueError, so the change is
// dead-lettered) exactly when json.Valid does, and an accepted value is the
// event's JSON, the same value as the text's.
func TestJSONColumnIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	cases := slices.Clone(compactCases)
	const breakers = "{}[],:\"\\ \t-.e0+\x00\xff"
	for range 20000 {
		s := []byte(compactCases[r.IntN(len(compactCases))])
		for range 1 + r.IntN(3) {
			if len(s) == 0 {
				break
			}
			switch i := r.IntN(len(s)); r.IntN(3) {
			case 0:
				s[i] = breakers[r.IntN(len(breakers))]
			case 1:
				s = slices.Delete(s, i, i+1)
			default:
				s = slices.Insert(s, i, breakers[r.IntN(len(breakers))])
			}
		}
		cases = append(cases, string(s))
	}
	m := &codec.Mapping{Table: "t", Columns: []codec.Column{{Name: "id", Type: codec.Uint}, {Name: "j", Type: codec.JSON}}}
	l := identity(m)
	took := 0
	for _, doc := range cases {
		v, err := l.value(1, []byte(doc))
		var ve *codec.ValueError
		if valid := json.Valid([]byte(doc)); valid != (err == nil) || err != nil && !errors.As(err, &ve) {
			t.Fatalf("%q: error %v, json.Valid %v", doc, err, valid)
		}
		if err != nil {
			continue
		}
		took++
		b, err := json.Marshal(m.Image(codec.Row{uint64(1), v})["j"])
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if !reflect.DeepEqual(decoded(t, b), decoded(t, []byte(doc))) {
			t.Fatalf("%q: the event carries %s", doc, b)
		}
	}
	if took < len(cases)/20 {
		t.Errorf("only %d of %d cases were valid JSON", took, len(cases))
	}
}
