package cdc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/codec"
)

// TestRawJSONItemAndEvent: a row whose JSON columns stay text gives the same
// item as the decoded row through codec's Item (attribute by attribute),
// and its event's order carries the same JSON values; a value DynamoDB
// cannot hold is the same *codec.ValueError either way.
func TestRawJSONItemAndEvent(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint}, {Name: "items", Attribute: "items", Type: codec.JSON},
		{Name: "total", Attribute: "total", Type: codec.Decimal, Precision: 12, Scale: 2},
		{Name: "at", Attribute: "at", Type: codec.Datetime}, {Name: "n", Attribute: "n", Type: codec.Int},
		{Name: "status", Attribute: "status", Type: codec.Enum}, {Name: "flag", Attribute: "flag", Type: codec.Bit},
		{Name: "raw", Attribute: "raw", Type: codec.Blob}, {Name: "note", Attribute: "note", Type: codec.String},
		{Name: "f", Attribute: "f", Type: codec.Double}, {Name: "addr", Attribute: "addr", Type: codec.JSON},
	}}
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	docs := []string{
		`[{"sku":"S-1","name":"Soap 🧼 <b>","quantity":2,"unit_price":"2.75"}]`,
		` { "z" : null, "a" : [1, 2.50, -3e5, true, false, "x\"y", {}], "m": {"k": []} } `,
		`"just a string"`, `null`, `12345678901234567890123456789012345678`,
	}
	var fs []float64
	for i, doc := range docs {
		for _, f := range []any{nil, 1.5} {
			raw := codec.Row{uint64(7 + i), rawJSON(doc), "12.50", at, int64(-3), "accepted", uint64(5), []byte{0, 255}, "", f, rawJSON(`{"city":"Zürich"}`)}
			decoded, err := decodedRow(m, raw)
			if err != nil {
				t.Fatal(err)
			}
			want, werr := m.Item(decoded)
			{
				a := &Applier{}
				var text []byte
				it, gerr := a.item(Change{Kind: Insert, Key: "k", After: raw, Mapping: m}, "1", &text)
				var wve, gve *codec.ValueError
				if werr != nil || gerr != nil {
					if !errors.As(werr, &wve) || !errors.As(gerr, &gve) || *wve != *gve {
						t.Errorf("doc %d: errors differ: Item %v, cdc %v", i, werr, gerr)
					}
					continue
				}
				got := it.Item
				if pos, _ := got[codec.AttrPos].(*types.AttributeValueMemberN); pos == nil || pos.Value != "1" {
					t.Errorf("doc %d: src_pos %s, want 1", i, codec.Show(got[codec.AttrPos]))
				}
				delete(got, codec.AttrPos)
				if len(want) != len(got) {
					t.Errorf("doc %d: %d attributes, want %d", i, len(got), len(want))
				}
				for k, w := range want {
					if codec.Show(w) != codec.Show(got[k]) {
						t.Errorf("doc %d: %s = %s, want %s", i, k, codec.Show(got[k]), codec.Show(w))
					}
				}
			}
			b, err := appendDetail(nil, newShape(m), m, "id", "t", "1", raw, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var d struct{ Order map[string]any }
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("doc %d: %v\n%s", i, err, b)
			}
			var wantItems any
			_ = json.Unmarshal([]byte(doc), &wantItems)
			if w, g := jsonText(t, wantItems), jsonText(t, d.Order["items"]); w != g {
				t.Errorf("doc %d: event items %s, want %s", i, g, w)
			}
			if f != nil {
				fs = append(fs, f.(float64))
			}
		}
	}
	if len(fs) == 0 {
		t.Error("no row with a DOUBLE went through")
	}

	// An order's own column types are encoded (a BIT, BLOB or DOUBLE above
	// takes the attributes), to the same item.
	mf := &codec.Mapping{Table: "orders", Columns: []codec.Column{m.Columns[0], m.Columns[1], m.Columns[2], m.Columns[3], m.Columns[4], m.Columns[5], m.Columns[8], m.Columns[10]}}
	for i, doc := range docs {
		raw := codec.Row{uint64(7 + i), rawJSON(doc), "12.50", at, int64(-3), "accepted", "a note <&>", rawJSON(`{"city":"Zürich"}`)}
		decoded, err := decodedRow(mf, raw)
		if err != nil {
			t.Fatal(err)
		}
		want, err := mf.Item(decoded)
		if err != nil {
			t.Fatal(err)
		}
		var text []byte
		it, err := (&Applier{}).item(Change{Kind: Insert, Key: "k", After: raw, Mapping: mf}, "1", &text)
		if err != nil {
			t.Fatal(err)
		}
		got := it.Item
		want[codec.AttrPos] = &types.AttributeValueMemberN{Value: "1"}
		if codec.Show(&types.AttributeValueMemberM{Value: got}) != codec.Show(&types.AttributeValueMemberM{Value: want}) {
			t.Errorf("doc %d: encoded %s, want %s", i, codec.Show(&types.AttributeValueMemberM{Value: got}), codec.Show(&types.AttributeValueMemberM{Value: want}))
		}
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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

// TestCompactIsEncodingJSON: appendRawJSON writes what json.Compact
// writes, and fails where it fails, for every case and random mutations
// of them; the compactor takes the good cases itself.
func TestCompactIsEncodingJSON(t *testing.T) {
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
	took := 0
	for _, doc := range cases {
		var want bytes.Buffer
		want.WriteString("prefix")
		werr := json.Compact(&want, []byte(doc))
		got, gerr := appendRawJSON([]byte("prefix"), rawJSON(doc))
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("%q: error %v, json.Compact's %v", doc, gerr, werr)
		}
		if werr == nil && string(got) != want.String() {
			t.Fatalf("%q: %q, json.Compact wrote %q", doc, got, want.String())
		}
		if _, ok := codec.AppendCompactJSON(nil, []byte(doc)); ok {
			took++
			if werr != nil {
				t.Fatalf("%q: the compactor took what json.Compact refuses", doc)
			}
		}
	}
	for _, doc := range compactCases[:13] {
		if _, ok := codec.AppendCompactJSON(nil, []byte(doc)); !ok {
			t.Errorf("%q: the compactor left it to json.Compact", doc)
		}
	}
	if took < len(cases)/20 {
		t.Errorf("the compactor took %d of %d cases", took, len(cases))
	}
}
