package cdc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/events"
)

// referenceDetail is the Detail of a change as encoding/json writes it:
// what appendDetail must reproduce byte for byte.
func referenceDetail(t *testing.T, m *codec.Mapping, id, occurred, pos string, img, before codec.Row, changed []int) string {
	t.Helper()
	order := map[string]any{}
	for i, col := range m.Columns {
		if !m.IsRef(i) {
			order[col.Name] = jsonValue(img[i])
		}
	}
	if _, i, ok := m.Ref(); ok && img[i] != nil {
		order[m.Key().Name] = img[i]
	}
	d := events.Detail{EventID: id, OccurredAt: occurred, SourcePosition: pos, Order: order}
	if changed != nil {
		d.Changed, d.Previous = []string{}, map[string]any{}
		for _, i := range changed {
			d.Changed = append(d.Changed, m.Columns[i].Name)
			d.Previous[m.Columns[i].Name] = jsonValue(before[i])
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDetailEncoding: the reflection-free encoder writes what encoding/json
// writes, for every canonical value type, escapes, nested JSON with keys to
// sort, NULLs, and updates with changed/previous.
func TestDetailEncoding(t *testing.T) {
	m := &codec.Mapping{Table: "orders", Columns: []codec.Column{
		{Name: "id", Type: codec.Uint}, {Name: "zeta", Type: codec.String}, {Name: "amount", Type: codec.Decimal},
		{Name: "at", Type: codec.Datetime}, {Name: "doc", Type: codec.JSON}, {Name: "n", Type: codec.Int},
		{Name: "f", Type: codec.Double}, {Name: "raw", Type: codec.Blob}, {Name: "Upper", Type: codec.String},
		{Name: "flag", Type: codec.Bit},
	}}
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("x", 3600))
	doc := map[string]any{"b": []any{json.Number("1.50"), "x<y>&z", true, codec.JSONNull{}, map[string]any{"z": "1", "a": false}}, "a": json.Number("-3e5"), "": "empty"}
	rows := []codec.Row{
		{uint64(1), "plain", "12.50", at, doc, int64(-7), 1.5e-9, []byte{0, 1, 2, 250}, "ß\u2028\u2029\x00\x1f\"\\\n\r\t\b\f\x7f", uint64(3)},
		{uint64(18446744073709551615), "bad utf8 \xff\xfe end", nil, nil, codec.JSONNull{}, nil, 1e21, nil, "", nil},
		{uint64(2), "日本語 emoji 🎉", "0.00", at, []any{}, int64(0), 0.0, []byte{}, "<script>", uint64(0)},
	}
	id := events.ID("123", "orders", "1")
	for i, img := range rows {
		for _, changed := range [][]int{nil, {1, 4, 6}, {8}} {
			before := rows[(i+1)%len(rows)]
			want := referenceDetail(t, m, id, "2026-01-01T00:00:00.000000Z", "123", img, before, changed)
			got, err := appendDetail(nil, newShape(m), m, id, "2026-01-01T00:00:00.000000Z", "123", img, before, changed)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("row %d changed %v (-encoding/json +appendDetail):\n%s", i, changed, diff)
			}
			if err := events.ValidateDetail(got); err != nil {
				t.Errorf("row %d: schema: %v", i, err)
			}
		}
	}
}
