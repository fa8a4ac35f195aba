package codec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/codec"
)

type item = map[string]types.AttributeValue

func TestDiff(t *testing.T) {
	tests := []struct {
		name      string
		want, got item
		diff      []codec.FieldDiff
	}{
		{"equal", item{"pk": s("1"), "a": s("x")}, item{"pk": s("1"), "a": s("x")}, nil},
		{"empty items", item{}, item{}, nil},
		{"numbers by value", item{"a": n("1.50"), "b": n("1e3"), "c": n("-0"), "d": n("0.00")},
			item{"a": n("1.5"), "b": n("1000"), "c": n("0"), "d": n("0")}, nil},
		{"numbers differ", item{"a": n("1.50")}, item{"a": n("1.51")},
			[]codec.FieldDiff{{Attribute: "a", Want: "1.50", Got: "1.51"}}},
		{"string is not a number", item{"a": n("1")}, item{"a": s("1")},
			[]codec.FieldDiff{{Attribute: "a", Want: "1", Got: `"1"`}}},
		{"strings exactly", item{"a": s("1.50")}, item{"a": s("1.5")},
			[]codec.FieldDiff{{Attribute: "a", Want: `"1.50"`, Got: `"1.5"`}}},
		{"absent in got", item{"a": s("x")}, item{},
			[]codec.FieldDiff{{Attribute: "a", Want: `"x"`, Got: "<absent>"}}},
		{"absent in want", item{}, item{"a": s("x")},
			[]codec.FieldDiff{{Attribute: "a", Want: "<absent>", Got: `"x"`}}},
		{"NULL is not absent", item{"a": null()}, item{},
			[]codec.FieldDiff{{Attribute: "a", Want: "null", Got: "<absent>"}}},
		{"toolkit attributes ignored", item{"pk": s("1")},
			item{"pk": s("1"), codec.AttrPos: n("5"), codec.AttrDeleted: boolAttr(true), codec.AttrExpires: n("9")}, nil},
		{"pk compared", item{"pk": s("1")}, item{"pk": s("2")},
			[]codec.FieldDiff{{Attribute: "pk", Want: `"1"`, Got: `"2"`}}},
		{"binary", item{"a": b([]byte{0, 1}), "c": b([]byte{})}, item{"a": b([]byte{0, 1}), "c": b(nil)}, nil},
		{"binary differs", item{"a": b([]byte{0, 1})}, item{"a": b([]byte{0, 2})},
			[]codec.FieldDiff{{Attribute: "a", Want: "0x0001", Got: "0x0002"}}},
		{"bool and null", item{"a": boolAttr(true), "b": null()}, item{"a": boolAttr(true), "b": null()}, nil},
		{"bool differs", item{"a": boolAttr(true)}, item{"a": boolAttr(false)},
			[]codec.FieldDiff{{Attribute: "a", Want: "true", Got: "false"}}},
		{"nested numbers by value",
			item{"j": m(item{"a": l(n("1.50"), m(item{"b": n("1e2")}))})},
			item{"j": m(item{"a": l(n("1.5"), m(item{"b": n("100")}))})}, nil},
		{"nested value differs",
			item{"j": m(item{"a": l(n("1"), m(item{"b": s("x")}))})},
			item{"j": m(item{"a": l(n("1"), m(item{"b": s("y")}))})},
			[]codec.FieldDiff{{Attribute: "j", Want: `{"a":[1,{"b":"x"}]}`, Got: `{"a":[1,{"b":"y"}]}`}}},
		{"nested key missing",
			item{"j": m(item{"a": s("x"), "b": null()})},
			item{"j": m(item{"a": s("x"), "c": null()})},
			[]codec.FieldDiff{{Attribute: "j", Want: `{"a":"x","b":null}`, Got: `{"a":"x","c":null}`}}},
		{"list order matters", item{"j": l(n("1"), n("2"))}, item{"j": l(n("2"), n("1"))},
			[]codec.FieldDiff{{Attribute: "j", Want: "[1,2]", Got: "[2,1]"}}},
		{"list length", item{"j": l(n("1"))}, item{"j": l(n("1"), null())},
			[]codec.FieldDiff{{Attribute: "j", Want: "[1]", Got: "[1,null]"}}},
		{"map is not list", item{"j": m(item{})}, item{"j": l()},
			[]codec.FieldDiff{{Attribute: "j", Want: "{}", Got: "[]"}}},
		{"sorted by attribute", item{"b": s("1"), "a": s("1"), "c": s("1")}, item{"b": s("2"), "a": s("2"), "c": s("1")},
			[]codec.FieldDiff{{Attribute: "a", Want: `"1"`, Got: `"2"`}, {Attribute: "b", Want: `"1"`, Got: `"2"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.diff, codec.Diff(tt.want, tt.got)); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestItemSize(t *testing.T) {
	tests := []struct {
		name string
		item item
		want int
	}{
		{"empty", item{}, 0},
		{"string counts UTF-8 bytes", item{"pk": s("🦀é")}, 2 + 4 + 2},
		{"empty string", item{"a": s("")}, 1},
		{"number", item{"n": n("12345")}, 1 + 4},
		{"long number", item{"n": n("-99999999999999999999999999999999999999")}, 1 + 21},
		{"binary", item{"b": b([]byte{0, 0xff, 1})}, 1 + 3},
		{"bool and null", item{"t": boolAttr(true), "z": null()}, 1 + 1 + 1 + 1},
		{"map", item{"m": m(item{"ab": s("xy")})}, 1 + 3 + (2 + 2 + 1)},
		{"list", item{"l": l(n("1"), boolAttr(false))}, 1 + 3 + (2 + 1) + (1 + 1)},
		{"nested empty", item{"m": m(item{"l": l()})}, 1 + 3 + (1 + 3 + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codec.ItemSize(tt.item); got != tt.want {
				t.Errorf("ItemSize = %d, want %d", got, tt.want)
			}
		})
	}
	big := item{"pk": s("1"), "notes": s(strings.Repeat("x", codec.MaxItemBytes))}
	if got := codec.ItemSize(big); got <= codec.MaxItemBytes {
		t.Errorf("ItemSize of a 400 KB string = %d, want over MaxItemBytes", got)
	}
}

// testMapping is a mapping as Resolve returns it for a table of every type.
func testMapping() *codec.Mapping {
	return &codec.Mapping{Table: "t", Columns: []codec.Column{
		{Name: "id", Attribute: codec.AttrPK, Type: codec.Uint},
		{Name: "name", Attribute: "customer", Type: codec.String},
		{Name: "total", Attribute: "total", Type: codec.Decimal, Precision: 12, Scale: 2},
		{Name: "f", Attribute: "f", Type: codec.Float},
		{Name: "j", Attribute: "j", Type: codec.JSON},
		{Name: "bl", Attribute: "bl", Type: codec.Blob},
	}}
}

func TestMappingItem(t *testing.T) {
	mp := testMapping()
	raw := [][]byte{[]byte("18446744073709551615"), []byte("🦀"), []byte("1.50"), nil, []byte(`{"a":[]}`), {}}
	row, err := mp.RowFromText(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantRow := codec.Row{uint64(18446744073709551615), "🦀", "1.50", nil, map[string]any{"a": []any{}}, []byte{}}
	if diff := cmp.Diff(wantRow, row); diff != "" {
		t.Fatalf("RowFromText (-want +got):\n%s", diff)
	}
	for _, r := range raw {
		for i := range r {
			r[i] = 0
		}
	}
	if diff := cmp.Diff(wantRow, row); diff != "" {
		t.Fatalf("row changed with its buffers (-want +got):\n%s", diff)
	}
	if got := mp.KeyString(row); got != "18446744073709551615" {
		t.Errorf("KeyString = %q", got)
	}
	it, err := mp.Item(row)
	if err != nil {
		t.Fatal(err)
	}
	want := item{"pk": s("18446744073709551615"), "customer": s("🦀"), "total": n("1.50"), "j": m(item{"a": l()}), "bl": b([]byte{})}
	if diff := cmp.Diff(want, it, attrOpts); diff != "" {
		t.Errorf("Item: NULL must be absent, names renamed (-want +got):\n%s", diff)
	}
	// As DynamoDB gives it back: normalised, with toolkit and unknown attributes.
	it["total"] = n("1.5")
	it[codec.AttrPos] = n("42")
	it["unknown"] = s("x")
	back, err := mp.RowFromItem(it)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantRow, back); diff != "" {
		t.Errorf("RowFromItem (-want +got):\n%s", diff)
	}
}

func TestMappingRefuses(t *testing.T) {
	mp := testMapping()
	tests := []struct {
		name   string
		raw    [][]byte
		column string
	}{
		{"NULL key", [][]byte{nil, nil, nil, nil, nil, nil}, "id"},
		{"bad value names its column", [][]byte{[]byte("1"), []byte("x"), []byte("1.001"), nil, nil, nil}, "total"},
		{"bad JSON names its column", [][]byte{[]byte("1"), nil, nil, nil, []byte("{"), nil}, "j"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mp.RowFromText(tt.raw)
			wantValueError(t, err, tt.column)
		})
	}
	if _, err := mp.RowFromText([][]byte{[]byte("1")}); err == nil {
		t.Error("RowFromText of too few values: no error")
	}
	strKey := &codec.Mapping{Table: "t", Columns: []codec.Column{{Name: "code", Attribute: codec.AttrPK, Type: codec.String}}}
	_, err := strKey.RowFromText([][]byte{{}})
	wantValueError(t, err, "code", "empty")

	row := codec.Row{uint64(1), nil, nil, nil, map[string]any{"": "x"}, nil}
	_, err = mp.Item(row)
	wantValueError(t, err, "j")

	for name, it := range map[string]item{
		"no pk":        {},
		"numeric pk":   {"pk": n("1")},
		"bad pk":       {"pk": s("x")},
		"wrong type":   {"pk": s("1"), "customer": n("1")},
		"bad decimal":  {"pk": s("1"), "total": n("1.001")},
		"bad JSON":     {"pk": s("1"), "j": &types.AttributeValueMemberSS{Value: []string{"a"}}},
		"blob as text": {"pk": s("1"), "bl": s("x")},
	} {
		if r, err := mp.RowFromItem(it); err == nil {
			t.Errorf("%s: RowFromItem = %v, want an error", name, r)
		} else if ve := (*codec.ValueError)(nil); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a *codec.ValueError", name, err)
		}
	}
}

func TestQuotedColumns(t *testing.T) {
	mp := testMapping()
	want := "`id`, `name`, `total`, CAST(`f` AS DOUBLE) AS `f`, `j`, `bl`"
	if got := mp.QuotedColumns(); got != want {
		t.Errorf("QuotedColumns = %s, want %s", got, want)
	}
	if got := mp.QuotedTable(); got != "`t`" {
		t.Errorf("QuotedTable = %s", got)
	}
}
