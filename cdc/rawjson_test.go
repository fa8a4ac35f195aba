package cdc

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

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
			var text []byte
			got, gerr := (&Applier{}).item(Change{Kind: Insert, Key: "k", After: raw, Mapping: m}, "1", &text)
			var wve, gve *codec.ValueError
			if werr != nil || gerr != nil {
				if !errors.As(werr, &wve) || !errors.As(gerr, &gve) || *wve != *gve {
					t.Errorf("doc %d: errors differ: Item %v, cdc %v", i, werr, gerr)
				}
				continue
			}
			delete(got.Item, codec.AttrPos)
			if len(want) != len(got.Item) {
				t.Errorf("doc %d: %d attributes, want %d", i, len(got.Item), len(want))
			}
			for k, w := range want {
				if codec.Show(w) != codec.Show(got.Item[k]) {
					t.Errorf("doc %d: %s = %s, want %s", i, k, codec.Show(got.Item[k]), codec.Show(w))
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
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
