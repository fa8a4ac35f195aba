package cdc

import (
	"encoding/json"
	"errors"
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
			// As attributes, and encoded (EncodeItems).
			for _, a := range []*Applier{{}, {encode: true}} {
				var text, slab []byte
				it, gerr := a.item(Change{Kind: Insert, Key: "k", After: raw, Mapping: m}, "1", &text, &slab)
				var wve, gve *codec.ValueError
				if werr != nil || gerr != nil {
					if !errors.As(werr, &wve) || !errors.As(gerr, &gve) || *wve != *gve {
						t.Errorf("doc %d (encode %v): errors differ: Item %v, cdc %v", i, a.encode, werr, gerr)
					}
					continue
				}
				got, err := it.Attrs()
				if err != nil {
					t.Fatal(err)
				}
				if pos, _ := got[codec.AttrPos].(*types.AttributeValueMemberN); pos == nil || pos.Value != "1" {
					t.Errorf("doc %d (encode %v): src_pos %s, want 1", i, a.encode, codec.Show(got[codec.AttrPos]))
				}
				delete(got, codec.AttrPos)
				if len(want) != len(got) {
					t.Errorf("doc %d (encode %v): %d attributes, want %d", i, a.encode, len(got), len(want))
				}
				for k, w := range want {
					if codec.Show(w) != codec.Show(got[k]) {
						t.Errorf("doc %d (encode %v): %s = %s, want %s", i, a.encode, k, codec.Show(got[k]), codec.Show(w))
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
		var text, slab []byte
		it, err := (&Applier{encode: true}).item(Change{Kind: Insert, Key: "k", After: raw, Mapping: mf}, "1", &text, &slab)
		if err != nil {
			t.Fatal(err)
		}
		if it.Item != nil {
			t.Errorf("doc %d: not encoded", i)
		}
		got, err := it.Attrs()
		if err != nil {
			t.Fatal(err)
		}
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
