package codec

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTextRoundTrip: Text renders every type's canonical value so that
// FromText reads the same value back (dead letters keep rows so). A JSON
// number's canonical value is its canonical text (jsonnumber.go).
func TestTextRoundTrip(t *testing.T) {
	cases := []struct {
		col Column
		v   any
	}{
		{Column{Name: "s", Type: String}, "héllo, 'x'"},
		{Column{Name: "s", Type: String}, ""},
		{Column{Name: "i", Type: Int}, int64(math.MinInt64)},
		{Column{Name: "u", Type: Uint}, uint64(math.MaxUint64)},
		{Column{Name: "d", Type: Decimal, Precision: 12, Scale: 2}, "-12.50"},
		{Column{Name: "f", Type: Float}, float64(float32(3.1415927))},
		{Column{Name: "f", Type: Double}, 1e300},
		{Column{Name: "t", Type: Datetime}, time.Date(2026, 12, 7, 6, 1, 2, 345678000, time.UTC)},
		{Column{Name: "t", Type: Timestamp}, time.Date(2026, 12, 7, 6, 1, 2, 0, time.UTC)},
		{Column{Name: "dt", Type: Date}, "2026-12-07"},
		{Column{Name: "j", Type: JSON}, map[string]any{"a": []any{json.Number("1.23456789012345678901234567890123456789012e+41"), JSONNull{}, true, "x"}}},
		{Column{Name: "j", Type: JSON}, JSONNull{}},
		{Column{Name: "e", Type: Enum, Enum: []string{"a", "b"}}, "b"},
		{Column{Name: "b", Type: Bit}, uint64(0x8001)},
		{Column{Name: "b", Type: Blob}, []byte{0, 0xff, 'a'}},
		{Column{Name: "b", Type: Blob}, []byte{}},
	}
	for _, c := range cases {
		b, err := c.col.Text(c.v)
		if err != nil {
			t.Fatalf("%s %v: %v", c.col.Type, c.v, err)
		}
		got, err := c.col.FromText(b, b == nil)
		if err != nil {
			t.Fatalf("%s %q: %v", c.col.Type, b, err)
		}
		if diff := cmp.Diff(c.v, got); diff != "" {
			t.Errorf("%s: %q read back (-want +got):\n%s", c.col.Type, b, diff)
		}
	}
	if _, err := (Column{Name: "i", Type: Int}).Text("x"); err == nil {
		t.Error("a string as an int's canonical value was rendered")
	}
}

// TestRowFromNamedText: a row image decodes by name under a mapping that
// since dropped a column, and one that maps a column the image lacks is
// refused, naming the column.
func TestRowFromNamedText(t *testing.T) {
	m := &Mapping{Table: "orders", Columns: []Column{{Name: "id", Attribute: AttrPK, Type: Uint}, {Name: "status", Attribute: "status", Type: String}}}
	got, err := m.RowFromNamedText(map[string][]byte{"ID": []byte("7"), "status": nil, "gone": []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Row{uint64(7), nil}, got); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	_, err = m.RowFromNamedText(map[string][]byte{"id": []byte("7")})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Column != "status" {
		t.Errorf("a missing column: got %v, want a ValueError naming status", err)
	}
}
