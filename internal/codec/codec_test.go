package codec_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/anycompany/strangler/internal/codec"
)

// Columns of every type, as Resolve would give them.
var (
	colString   = codec.Column{Name: "s", Attribute: "s", Type: codec.String}
	colInt      = codec.Column{Name: "i", Attribute: "i", Type: codec.Int}
	colUint     = codec.Column{Name: "u", Attribute: "u", Type: codec.Uint}
	colDec12    = codec.Column{Name: "d12", Attribute: "d12", Type: codec.Decimal, Precision: 12, Scale: 2}
	colDec65    = codec.Column{Name: "d65", Attribute: "d65", Type: codec.Decimal, Precision: 65, Scale: 30}
	colDec38    = codec.Column{Name: "d38", Attribute: "d38", Type: codec.Decimal, Precision: 38, Scale: 0}
	colFloat    = codec.Column{Name: "f", Attribute: "f", Type: codec.Float}
	colDouble   = codec.Column{Name: "db", Attribute: "db", Type: codec.Double}
	colDatetime = codec.Column{Name: "dtm", Attribute: "dtm", Type: codec.Datetime}
	colTS       = codec.Column{Name: "ts", Attribute: "ts", Type: codec.Timestamp}
	colDate     = codec.Column{Name: "dt", Attribute: "dt", Type: codec.Date}
	colJSON     = codec.Column{Name: "j", Attribute: "j", Type: codec.JSON}
	colEnum     = codec.Column{Name: "e", Attribute: "e", Type: codec.Enum, Enum: []string{"retail", "wholesale"}}
	colBit      = codec.Column{Name: "b", Attribute: "b", Type: codec.Bit}
	colBlob     = codec.Column{Name: "bl", Attribute: "bl", Type: codec.Blob}
)

// attrOpts compares attribute values by their exported fields.
var attrOpts = cmpopts.IgnoreUnexported(
	types.AttributeValueMemberS{}, types.AttributeValueMemberN{}, types.AttributeValueMemberB{},
	types.AttributeValueMemberBOOL{}, types.AttributeValueMemberNULL{}, types.AttributeValueMemberM{},
	types.AttributeValueMemberL{},
)

// valueOpts compares canonical values: JSON numbers by value (DynamoDB
// normalises 1.50 to 1.5), times by instant (cmp uses time.Time.Equal).
var valueOpts = cmp.Options{
	cmp.Comparer(func(a, b json.Number) bool {
		x, okx := new(big.Rat).SetString(string(a))
		y, oky := new(big.Rat).SetString(string(b))
		return okx && oky && x.Cmp(y) == 0
	}),
}

func s(v string) types.AttributeValue      { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue      { return &types.AttributeValueMemberN{Value: v} }
func b(v []byte) types.AttributeValue      { return &types.AttributeValueMemberB{Value: v} }
func boolAttr(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }
func null() types.AttributeValue           { return &types.AttributeValueMemberNULL{Value: true} }
func l(v ...types.AttributeValue) types.AttributeValue {
	if v == nil {
		v = []types.AttributeValue{}
	}
	return &types.AttributeValueMemberL{Value: v}
}
func m(v map[string]types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: v}
}

func utc(layout, v string) time.Time {
	t, err := time.ParseInLocation(layout, v, time.UTC)
	if err != nil {
		panic(err)
	}
	return t
}

// TestRoundTrip decodes each value as the text protocol sends it, encodes
// it as an attribute, and decodes the attribute back to the same value.
func TestRoundTrip(t *testing.T) {
	const dt = "2006-01-02 15:04:05.999999"
	tests := []struct {
		name string
		col  codec.Column
		text string
		want any
		attr types.AttributeValue
	}{
		{"int min", colInt, "-9223372036854775808", int64(math.MinInt64), n("-9223372036854775808")},
		{"int max", colInt, "9223372036854775807", int64(math.MaxInt64), n("9223372036854775807")},
		{"int zero", colInt, "0", int64(0), n("0")},
		{"year", colInt, "2155", int64(2155), n("2155")},
		{"year zero", colInt, "0000", int64(0), n("0")},
		{"uint max", colUint, "18446744073709551615", uint64(math.MaxUint64), n("18446744073709551615")},
		{"uint zero", colUint, "0", uint64(0), n("0")},
		{"decimal zero", colDec12, "0.00", "0.00", n("0.00")},
		{"decimal max", colDec12, "9999999999.99", "9999999999.99", n("9999999999.99")},
		{"decimal negative cent", colDec12, "-0.01", "-0.01", n("-0.01")},
		{"decimal 65 digits as S", colDec65,
			"99999999999999999999999999999999999.999999999999999999999999999999",
			"99999999999999999999999999999999999.999999999999999999999999999999",
			s("99999999999999999999999999999999999.999999999999999999999999999999")},
		{"decimal 65 digits negative", colDec65,
			"-12345678901234567890123456789012345.123456789012345678901234567890",
			"-12345678901234567890123456789012345.123456789012345678901234567890",
			s("-12345678901234567890123456789012345.123456789012345678901234567890")},
		{"decimal 65 small", colDec65, "0.000000000000000000000000000001",
			"0.000000000000000000000000000001", s("0.000000000000000000000000000001")},
		{"decimal 38 digits as N", colDec38,
			"99999999999999999999999999999999999999", "99999999999999999999999999999999999999",
			n("99999999999999999999999999999999999999")},
		{"decimal 38 digits negative", colDec38,
			"-12345678901234567890123456789012345678", "-12345678901234567890123456789012345678",
			n("-12345678901234567890123456789012345678")},
		{"float tiny", colFloat, "1e-7", float64(float32(1e-7)), n("1e-07")},
		{"float max (as CAST AS DOUBLE prints it)", colFloat, "3.4028234663852886e38", float64(math.MaxFloat32), n("3.4028235e+38")},
		{"float 0.1 exact", colFloat, "0.10000000149011612", float64(float32(0.1)), n("0.1")},
		{"float 2^24", colFloat, "16777216", float64(16777216), n("1.6777216e+07")},
		{"float negative zero is zero", colFloat, "-0", float64(0), n("0")},
		{"double tiny", colDouble, "1e-7", 1e-7, n("1e-07")},
		{"double", colDouble, "0.1", 0.1, n("0.1")},
		{"double negative zero is zero", colDouble, "-0", float64(0), n("0")},
		{"double big", colDouble, "9.5e125", 9.5e125, n("9.5e+125")},
		{"double small", colDouble, "1.5e-130", 1.5e-130, n("1.5e-130")},
		{"datetime(6)", colDatetime, "2024-02-29 23:59:59.123456", utc(dt, "2024-02-29 23:59:59.123456"), s("2024-02-29T23:59:59.123456Z")},
		{"datetime(6) min", colDatetime, "1000-01-01 00:00:00.000000", utc(dt, "1000-01-01 00:00:00"), s("1000-01-01T00:00:00.000000Z")},
		{"datetime(6) max", colDatetime, "9999-12-31 23:59:59.999999", utc(dt, "9999-12-31 23:59:59.999999"), s("9999-12-31T23:59:59.999999Z")},
		{"datetime(0)", colDatetime, "2024-01-02 03:04:05", utc(dt, "2024-01-02 03:04:05"), s("2024-01-02T03:04:05.000000Z")},
		{"timestamp min", colTS, "1970-01-01 00:00:01.000000", time.Unix(1, 0).UTC(), s("1970-01-01T00:00:01.000000Z")},
		{"timestamp max", colTS, "2038-01-19 03:14:07.999999", time.Unix(math.MaxInt32, 999999000).UTC(), s("2038-01-19T03:14:07.999999Z")},
		{"date", colDate, "2024-02-29", "2024-02-29", s("2024-02-29")},
		{"date min", colDate, "1000-01-01", "1000-01-01", s("1000-01-01")},
		{"enum", colEnum, "wholesale", "wholesale", s("wholesale")},
		{"enum empty (invalid value)", colEnum, "", "", s("")},
		{"bit(1) one", colBit, "\x01", uint64(1), n("1")},
		{"bit(1) zero", colBit, "\x00", uint64(0), n("0")},
		{"bit(10)", colBit, "\x02\x01", uint64(513), n("513")},
		{"bit(64) max", colBit, "\xff\xff\xff\xff\xff\xff\xff\xff", uint64(math.MaxUint64), n("18446744073709551615")},
		{"blob", colBlob, "\x00\xff\x10", []byte{0, 0xff, 0x10}, b([]byte{0, 0xff, 0x10})},
		{"blob empty", colBlob, "", []byte{}, b([]byte{})},
		{"varchar emoji", colString, "🦀🚀 ünïcödé", "🦀🚀 ünïcödé", s("🦀🚀 ünïcödé")},
		{"varchar 4-byte", colString, "𝄞𠜎", "𝄞𠜎", s("𝄞𠜎")},
		{"varchar empty", colString, "", "", s("")},
		{"varchar NUL", colString, "a\x00b", "a\x00b", s("a\x00b")},
		{"set", colString, "a,c", "a,c", s("a,c")},
		{"time", colString, "-838:59:59.000000", "-838:59:59.000000", s("-838:59:59.000000")},
		{"json empty object", colJSON, `{}`, map[string]any{}, m(map[string]types.AttributeValue{})},
		{"json empty array", colJSON, `[]`, []any{}, l()},
		{"json null", colJSON, `null`, codec.JSONNull{}, null()},
		{"json string", colJSON, `"x"`, "x", s("x")},
		{"json empty string", colJSON, `""`, "", s("")},
		{"json bool", colJSON, `false`, false, boolAttr(false)},
		{"json numbers", colJSON, `[1.50, 1e3, -0, 0.0001, 12345678901234567890123456789012345678]`,
			[]any{json.Number("1.5"), json.Number("1000"), json.Number("0"), json.Number("0.0001"), json.Number("1.2345678901234567890123456789012345678e+37")},
			l(n("1.5"), n("1000"), n("0"), n("0.0001"), n("1.2345678901234567890123456789012345678e+37"))},
		{"json nested", colJSON, `{"a": [1, {"b": null, "c": []}], "d": {"e": true}, "f": "🦀\u0000é"}`,
			map[string]any{
				"a": []any{json.Number("1"), map[string]any{"b": codec.JSONNull{}, "c": []any{}}},
				"d": map[string]any{"e": true},
				"f": "🦀\x00é",
			},
			m(map[string]types.AttributeValue{
				"a": l(n("1"), m(map[string]types.AttributeValue{"b": null(), "c": l()})),
				"d": m(map[string]types.AttributeValue{"e": boolAttr(true)}),
				"f": s("🦀\x00é"),
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.col.FromText([]byte(tt.text), false)
			if err != nil {
				t.Fatalf("FromText(%q): %v", tt.text, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("FromText(%q) (-want +got):\n%s", tt.text, diff)
			}
			if f, ok := tt.want.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
				t.Errorf("FromText(%q) = %v, sign lost", tt.text, got)
			}
			av, err := tt.col.Attr(got)
			if err != nil {
				t.Fatalf("Attr(%#v): %v", got, err)
			}
			if diff := cmp.Diff(tt.attr, av, attrOpts); diff != "" {
				t.Errorf("Attr(%#v) (-want +got):\n%s", got, diff)
			}
			back, err := tt.col.FromAttr(av)
			if err != nil {
				t.Fatalf("FromAttr(%s): %v", codec.Show(av), err)
			}
			if diff := cmp.Diff(tt.want, back); diff != "" {
				t.Errorf("FromAttr(%s) (-want +got):\n%s", codec.Show(av), diff)
			}
		})
	}
}

// TestFromTextNull maps SQL NULL to nil for every type, and an empty value
// to a value.
func TestFromTextNull(t *testing.T) {
	for _, typ := range codec.Types {
		c := codec.Column{Name: "c", Type: typ}
		got, err := c.FromText(nil, true)
		if err != nil || got != nil {
			t.Errorf("%s: FromText(NULL) = %#v, %v; want nil, nil", typ, got, err)
		}
	}
	for _, c := range []codec.Column{colString, colEnum, colBlob} {
		got, err := c.FromText([]byte{}, false)
		if err != nil || got == nil {
			t.Errorf("%s: FromText(empty) = %#v, %v; want an empty value", c.Type, got, err)
		}
	}
}

// TestFromTextCopies keeps no reference to the buffer (sql.RawBytes is
// reused by the next Scan).
func TestFromTextCopies(t *testing.T) {
	for _, tt := range []struct {
		col  codec.Column
		text string
	}{
		{colString, "abc"}, {colBlob, "abc"}, {colJSON, `{"abc":"def"}`}, {colDec12, "1.00"}, {colBit, "\x01\x02"},
	} {
		raw := []byte(tt.text)
		v, err := tt.col.FromText(raw, false)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tt.col.FromText([]byte(tt.text), false)
		for i := range raw {
			raw[i] = 'x'
		}
		if diff := cmp.Diff(want, v); diff != "" {
			t.Errorf("%s: value changed with its buffer (-want +got):\n%s", tt.col.Type, diff)
		}
	}
}

func wantValueError(t *testing.T, err error, column string, advice ...string) {
	t.Helper()
	var ve *codec.ValueError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *codec.ValueError", err, err)
	}
	if ve.Column != column {
		t.Errorf("ValueError.Column = %q, want %q", ve.Column, column)
	}
	for _, a := range advice {
		if !strings.Contains(ve.Reason, a) {
			t.Errorf("ValueError.Reason = %q, want it to say %q", ve.Reason, a)
		}
	}
}

// TestFromTextRefuses refuses values with no exact item form, with a
// *ValueError naming the column.
func TestFromTextRefuses(t *testing.T) {
	const zeroAdvice = "NULL or a real date"
	tests := []struct {
		name   string
		col    codec.Column
		text   string
		advice []string
	}{
		{"int overflow", colInt, "9223372036854775808", nil},
		{"int garbage", colInt, "1.5", nil},
		{"uint negative", colUint, "-1", nil},
		{"uint overflow", colUint, "18446744073709551616", nil},
		{"decimal too many decimals", colDec12, "1.001", []string{"more than 2 decimals"}},
		{"decimal too many digits", colDec12, "12345678901.00", []string{"DECIMAL(12,2)"}},
		{"decimal exponent", colDec12, "1e3", nil},
		{"decimal hex", colDec12, "0x10", nil},
		{"decimal fraction", colDec12, "1/2", nil},
		{"decimal underscore", colDec12, "1_000", nil},
		{"decimal empty", colDec12, "", nil},
		{"float inf", colFloat, "inf", nil},
		{"float nan", colFloat, "NaN", nil},
		{"float beyond float32", colFloat, "3.5e38", nil},
		{"double beyond float64", colDouble, "1e309", nil},
		{"zero datetime", colDatetime, "0000-00-00 00:00:00", []string{zeroAdvice, "exclude the column"}},
		{"zero datetime(6)", colDatetime, "0000-00-00 00:00:00.000000", []string{zeroAdvice}},
		{"zero timestamp", colTS, "0000-00-00 00:00:00.000000", []string{zeroAdvice}},
		{"zero month datetime", colDatetime, "2024-00-10 00:00:00", []string{zeroAdvice}},
		{"zero day datetime", colDatetime, "2024-01-00 00:00:00", []string{zeroAdvice}},
		{"datetime garbage", colDatetime, "yesterday", nil},
		{"zero date", colDate, "0000-00-00", []string{zeroAdvice, "exclude the column"}},
		{"zero day date", colDate, "2024-02-00", []string{zeroAdvice}},
		{"date feb 30", colDate, "2024-02-30", nil},
		{"json truncated", colJSON, `{"a":1`, nil},
		{"json trailing brace", colJSON, `{}}`, nil},
		{"json trailing bracket", colJSON, `[]]`, nil},
		{"json trailing value", colJSON, `{} 1`, nil},
		{"json empty", colJSON, ``, nil},
		{"string not utf-8", colString, "\xff", nil},
		{"enum not utf-8", colEnum, "\xc3", nil},
		{"bit too wide", colBit, "\x01\x00\x00\x00\x00\x00\x00\x00\x00", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.col.FromText([]byte(tt.text), false)
			if err == nil {
				t.Fatalf("FromText(%q) = %#v, want an error", tt.text, v)
			}
			wantValueError(t, err, tt.col.Name, tt.advice...)
		})
	}
}

// TestAttrRefuses refuses values the text decodes but DynamoDB cannot hold.
func TestAttrRefuses(t *testing.T) {
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	tests := []struct {
		name string
		col  codec.Column
		text string
	}{
		{"json 39 digits", colJSON, `123456789012345678901234567890123456789`},
		{"json 39 digits with a point", colJSON, `{"a": 1.23456789012345678901234567890123456789}`},
		{"json empty key", colJSON, `{"": 1}`},
		{"json nested empty key", colJSON, `{"a": [{"": 1}]}`},
		{"json too big", colJSON, `1e126`},
		{"json too small", colJSON, `1e-131`},
		{"json too deep", colJSON, deep},
		{"double max", colDouble, "1.7976931348623157e308"},
		{"double denormal", colDouble, "5e-324"},
		{"double min normal", colDouble, "-2.2250738585072014e-308"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.col.FromText([]byte(tt.text), false)
			if err != nil {
				t.Fatalf("FromText(%q): %v", tt.text, err)
			}
			av, err := tt.col.Attr(v)
			if err == nil {
				t.Fatalf("Attr(%#v) = %s, want an error", v, codec.Show(av))
			}
			wantValueError(t, err, tt.col.Name)
		})
	}
	// A value of the wrong Go type is an error, not a panic.
	for _, c := range []codec.Column{colString, colInt, colUint, colDec12, colFloat, colDouble, colDatetime, colDate, colJSON, colEnum, colBit, colBlob} {
		if av, err := c.Attr(struct{}{}); err == nil {
			t.Errorf("%s: Attr(struct{}{}) = %s, want an error", c.Type, codec.Show(av))
		}
	}
}

// TestFromAttr decodes attributes as DynamoDB returns them: numbers
// normalised, decimals without their trailing zeros.
func TestFromAttr(t *testing.T) {
	tests := []struct {
		name string
		col  codec.Column
		attr types.AttributeValue
		want any
	}{
		{"decimal trailing zero dropped", colDec12, n("1.5"), "1.50"},
		{"decimal zero", colDec12, n("0"), "0.00"},
		{"decimal negative", colDec12, n("-0.01"), "-0.01"},
		{"decimal 65 from S", colDec65, s("1.5"), "1.500000000000000000000000000000"},
		{"decimal 38", colDec38, n("1E+37"), nil},
		{"bit is decimal", colBit, n("5"), uint64(5)},
		{"bit max", colBit, n("18446744073709551615"), uint64(math.MaxUint64)},
		{"float normalised", colFloat, n("340282350000000000000000000000000000000"), float64(math.MaxFloat32)},
		{"float small", colFloat, n("0.0000001"), float64(float32(1e-7))},
		{"double normalised", colDouble, n("0.0000001"), 1e-7},
		{"uint", colUint, n("18446744073709551615"), uint64(math.MaxUint64)},
		{"datetime", colDatetime, s("2024-01-02T03:04:05.123456Z"), utc("2006-01-02 15:04:05.999999", "2024-01-02 03:04:05.123456")},
		{"json number normalised", colJSON, l(n("1.5"), n("1000")), []any{json.Number("1.5"), json.Number("1000")}},
		{"blob empty", colBlob, b(nil), []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.col.FromAttr(tt.attr)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("FromAttr(%s) = %#v, want an error", codec.Show(tt.attr), got)
				}
				wantValueError(t, err, tt.col.Name)
				return
			}
			if err != nil {
				t.Fatalf("FromAttr(%s): %v", codec.Show(tt.attr), err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromAttr(%s) (-want +got):\n%s", codec.Show(tt.attr), diff)
			}
		})
	}
}

// TestFromAttrWrongType refuses an attribute of another kind than the
// column's.
func TestFromAttrWrongType(t *testing.T) {
	tests := []struct {
		col  codec.Column
		attr types.AttributeValue
	}{
		{colString, n("1")},
		{colEnum, n("1")},
		{colDate, n("1")},
		{colInt, s("1")},
		{colUint, s("1")},
		{colBit, s("1")},
		{colFloat, s("1")},
		{colDouble, boolAttr(true)},
		{colDec12, boolAttr(true)},
		{colDatetime, n("1")},
		{colDatetime, s("2024-01-02 03:04:05")},
		{colTS, n("1")},
		{colBlob, s("x")},
		{colJSON, &types.AttributeValueMemberSS{Value: []string{"x"}}},
		{colJSON, l(&types.AttributeValueMemberNS{Value: []string{"1"}})},
		{colInt, n("1.5")},
		{colDec12, n("1.234")},
	}
	for _, tt := range tests {
		got, err := tt.col.FromAttr(tt.attr)
		if err == nil {
			t.Errorf("%s: FromAttr(%s) = %#v, want an error", tt.col.Type, codec.Show(tt.attr), got)
			continue
		}
		wantValueError(t, err, tt.col.Name)
	}
}
