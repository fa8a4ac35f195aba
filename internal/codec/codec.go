// Package codec maps rows of a MySQL table to DynamoDB items and back,
// exactly: DECIMAL keeps its digits, DATETIME(6) its microseconds, JSON
// becomes M/L, ENUM a string, NULL an absent attribute. The mapping (table,
// key, column -> attribute and type) comes from configuration and the
// table's own schema, so the backfill, the cdc, verify and repair all write
// the same item for the same row.
//
// Values travel through one canonical Go form (see Value) whatever side they
// come from: the text protocol of a SELECT, the binlog, or an item.
package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Type is how a column's values are typed in DynamoDB.
type Type string

// The column types. The comment says the canonical Go value and the
// DynamoDB attribute.
const (
	String    Type = "string"    // string; S (CHAR, VARCHAR, TEXT, SET, TIME)
	Int       Type = "int"       // int64; N (TINYINT…BIGINT, YEAR)
	Uint      Type = "uint"      // uint64; N (… UNSIGNED)
	Decimal   Type = "decimal"   // string with exactly Scale decimals; N, or S above 38 digits
	Float     Type = "float"     // float64 of a FLOAT; N
	Double    Type = "double"    // float64; N
	Datetime  Type = "datetime"  // time.Time UTC; S "2006-01-02T15:04:05.000000Z"
	Timestamp Type = "timestamp" // time.Time UTC; S, like datetime
	Date      Type = "date"      // string "2006-01-02"; S
	JSON      Type = "json"      // decoded JSON (map, slice, json.Number in canonical text, string, bool, JSONNull); M, L, N, S, BOOL, NULL
	Enum      Type = "enum"      // string label; S
	Bit       Type = "bit"       // uint64; N
	Blob      Type = "blob"      // []byte; B (BLOB, BINARY, VARBINARY)
)

// Types lists every Type.
var Types = []Type{String, Int, Uint, Decimal, Float, Double, Datetime, Timestamp, Date, JSON, Enum, Bit, Blob}

// TimeLayout is how DATETIME and TIMESTAMP values are written: RFC 3339, UTC,
// microseconds, so they sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// maxNumberDigits is the precision of a DynamoDB number.
const maxNumberDigits = 38

// MaxItemBytes is DynamoDB's item size limit.
const MaxItemBytes = 400 * 1024

// JSONNull is the JSON value null inside a JSON column (SQL NULL is nil).
type JSONNull struct{}

// MarshalJSON writes null, so encoding/json writes a decoded JSON value as
// the JSON it was read from.
func (JSONNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// Column is one mapped column.
type Column struct {
	// Name is the MySQL column.
	Name string
	// Attribute is the DynamoDB attribute name.
	Attribute string
	Type      Type
	// Precision and Scale of a DECIMAL.
	Precision, Scale int
	// Enum lists an ENUM's labels in order (the binlog sends 1-based indexes).
	Enum []string
}

// numberAsString reports whether a decimal column is too wide for N.
func (c Column) numberAsString() bool { return c.Type == Decimal && c.Precision > maxNumberDigits }

// ValueError says a value of a column cannot be mapped and why; the row
// goes to the dead-letter store with it.
type ValueError struct {
	Column string
	Reason string
}

func (e *ValueError) Error() string { return fmt.Sprintf("column %s: %s", e.Column, e.Reason) }

func valueErr(c Column, format string, a ...any) error {
	return &ValueError{Column: c.Name, Reason: fmt.Sprintf(format, a...)}
}

// FromText decodes a column value as the MySQL text protocol sends it
// (session time zone UTC); null means SQL NULL.
func (c Column) FromText(raw []byte, null bool) (any, error) {
	if null {
		return nil, nil
	}
	s := string(raw)
	switch c.Type {
	case String, Enum:
		if !utf8.ValidString(s) {
			return nil, valueErr(c, "is not valid UTF-8")
		}
		return s, nil
	case Int:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, valueErr(c, "%q is not an integer", s)
		}
		return v, nil
	case Uint:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, valueErr(c, "%q is not an unsigned integer", s)
		}
		return v, nil
	case Decimal:
		return c.decimal(s)
	case Float, Double:
		bits := 64
		if c.Type == Float {
			bits = 32
		}
		v, err := strconv.ParseFloat(s, bits)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, valueErr(c, "%q is not a finite number", s)
		}
		if v == 0 {
			v = 0 // -0 is 0: MariaDB stores it so and DynamoDB returns it so
		}
		return v, nil
	case Datetime, Timestamp:
		return c.datetime(s)
	case Date:
		if isZeroDate(s) {
			return nil, valueErr(c, "zero date %q has no DynamoDB form: fix the row (NULL or a real date) or exclude the column", s)
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, valueErr(c, "%q is not a date", s)
		}
		return s, nil
	case JSON:
		return decodeJSON(c, raw)
	case Bit:
		if len(raw) > 8 {
			return nil, valueErr(c, "BIT wider than 64")
		}
		var b [8]byte
		copy(b[8-len(raw):], raw)
		return binary.BigEndian.Uint64(b[:]), nil
	case Blob:
		return bytes.Clone(raw), nil
	}
	return nil, valueErr(c, "unknown type %q", c.Type)
}

// decimalSyntax is a plain decimal as MySQL and DynamoDB write one: no
// exponent, fraction, base prefix or underscores (all of which big.Rat takes).
var decimalSyntax = regexp.MustCompile(`^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$`)

// decimal checks s against the column's precision and scale and returns it
// with exactly Scale decimals.
func (c Column) decimal(s string) (string, error) {
	if plainDecimal(s, c.Precision, c.Scale) {
		return s, nil // already canonical: exactDecimal would return it unchanged
	}
	return c.exactDecimal(s)
}

// plainDecimal reports a decimal that decimal() returns unchanged: an
// optional minus, the whole part without leading zeros (or a single 0) and
// within precision-scale digits, then exactly scale decimals (no point when
// scale is 0), and not a negative zero.
func plainDecimal(s string, precision, scale int) bool {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	whole := len(s)
	if scale > 0 {
		whole = len(s) - scale - 1
		if whole < 1 || s[whole] != '.' {
			return false
		}
	}
	if whole < 1 || (s[0] == '0' && whole > 1) {
		return false
	}
	if precision > 0 && whole > precision-scale && !(whole == 1 && s[0] == '0') {
		return false
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == whole {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
		zero = zero && c == '0'
	}
	return !(neg && zero)
}

// exactDecimal is decimal without plainDecimal's shortcut: s parsed as a
// rational, formatted with the column's scale and checked against its
// precision.
func (c Column) exactDecimal(s string) (string, error) {
	if !decimalSyntax.MatchString(s) {
		return "", valueErr(c, "%q is not a decimal", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", valueErr(c, "%q is not a decimal", s)
	}
	out := r.FloatString(c.Scale)
	if back, _ := new(big.Rat).SetString(out); back.Cmp(r) != 0 {
		return "", valueErr(c, "%q has more than %d decimals", s, c.Scale)
	}
	if c.Precision > 0 {
		whole, _, _ := strings.Cut(strings.TrimPrefix(out, "-"), ".")
		if whole = strings.TrimLeft(whole, "0"); len(whole) > c.Precision-c.Scale {
			return "", valueErr(c, "%q has more than %d digits before the point for DECIMAL(%d,%d)", s, c.Precision-c.Scale, c.Precision, c.Scale)
		}
	}
	return out, nil
}

func (c Column) datetime(s string) (time.Time, error) {
	if date, _, _ := strings.Cut(s, " "); isZeroDate(date) {
		return time.Time{}, valueErr(c, "zero date %q has no DynamoDB form: fix the row (NULL or a real date) or exclude the column", s)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
	if err != nil {
		return time.Time{}, valueErr(c, "%q is not a datetime", s)
	}
	return t, nil
}

// isZeroDate reports a MySQL zero date (0000-00-00) or a date with a zero
// month or day (2024-00-00, allowed without NO_ZERO_IN_DATE): no calendar
// date, so no DynamoDB form.
func isZeroDate(date string) bool {
	_, md, _ := strings.Cut(date, "-")
	m, d, _ := strings.Cut(md, "-")
	return m == "00" || d == "00"
}

func decodeJSON(c Column, raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, valueErr(c, "invalid JSON: %v", err)
	}
	// More misses a stray ] or }; only the end of the input will do.
	if _, err := dec.Token(); err != io.EOF {
		return nil, valueErr(c, "invalid JSON: trailing data after the value")
	}
	return canonicalJSON(v), nil
}

// Attr encodes a canonical value (not nil) as an attribute. A value
// DynamoDB cannot hold (a DOUBLE beyond its range) is a *ValueError.
func (c Column) Attr(v any) (types.AttributeValue, error) {
	internal := func() (types.AttributeValue, error) {
		return nil, valueErr(c, "internal: %T is not the canonical value of %s", v, c.Type)
	}
	switch c.Type {
	case String, Enum, Date:
		s, ok := v.(string)
		if !ok {
			return internal()
		}
		return &types.AttributeValueMemberS{Value: s}, nil
	case Int:
		i, ok := v.(int64)
		if !ok {
			return internal()
		}
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(i, 10)}, nil
	case Uint, Bit:
		u, ok := v.(uint64)
		if !ok {
			return internal()
		}
		return &types.AttributeValueMemberN{Value: strconv.FormatUint(u, 10)}, nil
	case Decimal:
		s, ok := v.(string)
		if !ok {
			return internal()
		}
		if c.numberAsString() {
			return &types.AttributeValueMemberS{Value: s}, nil
		}
		return &types.AttributeValueMemberN{Value: s}, nil
	case Float, Double:
		f, ok := v.(float64)
		if !ok {
			return internal()
		}
		bits := 64
		if c.Type == Float {
			bits = 32
		}
		n := strconv.FormatFloat(f, 'g', -1, bits)
		if err := checkNumber(n); err != nil {
			return nil, valueErr(c, "%s: %v: map the column to a string or exclude it", n, err)
		}
		return &types.AttributeValueMemberN{Value: n}, nil
	case Datetime, Timestamp:
		t, ok := v.(time.Time)
		if !ok {
			return internal()
		}
		return &types.AttributeValueMemberS{Value: t.UTC().Format(TimeLayout)}, nil
	case JSON:
		return jsonAttr(c, v, 0)
	case Blob:
		b, ok := v.([]byte)
		if !ok {
			return internal()
		}
		return &types.AttributeValueMemberB{Value: b}, nil
	}
	return nil, valueErr(c, "unknown type %q", c.Type)
}

const maxDepth = 32

func jsonAttr(c Column, v any, depth int) (types.AttributeValue, error) {
	if depth > maxDepth {
		return nil, valueErr(c, "JSON nested deeper than DynamoDB's %d levels", maxDepth)
	}
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]types.AttributeValue, len(t))
		for k, e := range t {
			if k == "" {
				return nil, valueErr(c, "JSON object with an empty key has no DynamoDB form")
			}
			av, err := jsonAttr(c, e, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = av
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	case []any:
		l := make([]types.AttributeValue, len(t))
		for i, e := range t {
			av, err := jsonAttr(c, e, depth+1)
			if err != nil {
				return nil, err
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case json.Number:
		// Most numbers are plainly within DynamoDB's range; checkNumber (big.Rat)
		// decides the rest.
		if !plainNumber(string(t)) || !fastNumberOK(string(t)) {
			if err := checkNumber(string(t)); err != nil {
				return nil, valueErr(c, "JSON number %s: %v", t, err)
			}
		}
		return &types.AttributeValueMemberN{Value: string(t)}, nil
	case string:
		return &types.AttributeValueMemberS{Value: t}, nil
	case bool:
		return &types.AttributeValueMemberBOOL{Value: t}, nil
	case JSONNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	}
	return nil, valueErr(c, "internal: JSON value %T", v)
}

// checkNumber refuses numbers DynamoDB cannot hold exactly.
func checkNumber(s string) error {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return errors.New("not a number")
	}
	digits := significantDigits(s)
	if digits > maxNumberDigits {
		return fmt.Errorf("%d significant digits; DynamoDB numbers hold %d", digits, maxNumberDigits)
	}
	if r.Sign() != 0 {
		f, _ := r.Float64()
		if a := math.Abs(f); a >= 1e126 || a < 1e-130 {
			return errors.New("magnitude outside DynamoDB's 1E-130 to 9.9E+125")
		}
	}
	return nil
}

// fastNumberOK reports a JSON number checkNumber surely accepts: no
// exponent, at most 38 significant digits and short enough that a nonzero
// value is far above 1E-130 (and, with 38 digits at most, below 1E126).
// Anything else goes to checkNumber.
func fastNumberOK(n string) bool {
	if len(n) > 40 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] == 'e' || n[i] == 'E' {
			return false
		}
	}
	return significantDigits(n) <= maxNumberDigits
}

// plainNumber reports a number written -?digits[.digits], as JSON writes
// one without an exponent.
func plainNumber(n string) bool {
	i := 0
	if i < len(n) && n[i] == '-' {
		i++
	}
	d := i
	for i < len(n) && n[i] >= '0' && n[i] <= '9' {
		i++
	}
	if i == d {
		return false
	}
	if i < len(n) && n[i] == '.' {
		i++
		d = i
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(n)
}

func significantDigits(s string) int {
	mant, _, _ := strings.Cut(strings.ToLower(s), "e")
	mant = strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(mant, "-"), "+"), "0.")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	} else {
		mant = strings.TrimRight(mant, "0")
	}
	return len(mant)
}

// FromAttr decodes an attribute back to the canonical value.
func (c Column) FromAttr(av types.AttributeValue) (any, error) {
	bad := func() (any, error) { return nil, valueErr(c, "attribute of type %T does not fit %s", av, c.Type) }
	switch c.Type {
	case String, Enum, Date:
		s, ok := av.(*types.AttributeValueMemberS)
		if !ok {
			return bad()
		}
		return s.Value, nil
	case Int, Uint, Float, Double:
		n, ok := av.(*types.AttributeValueMemberN)
		if !ok {
			return bad()
		}
		return c.FromText([]byte(n.Value), false)
	case Bit:
		// The text protocol sends BIT as big-endian bytes, the item holds
		// the number in decimal.
		n, ok := av.(*types.AttributeValueMemberN)
		if !ok {
			return bad()
		}
		v, err := strconv.ParseUint(n.Value, 10, 64)
		if err != nil {
			return nil, valueErr(c, "%q is not a BIT value", n.Value)
		}
		return v, nil
	case Decimal:
		switch t := av.(type) {
		case *types.AttributeValueMemberN:
			return c.decimal(t.Value)
		case *types.AttributeValueMemberS:
			return c.decimal(t.Value)
		}
		return bad()
	case Datetime, Timestamp:
		s, ok := av.(*types.AttributeValueMemberS)
		if !ok {
			return bad()
		}
		t, err := time.Parse(time.RFC3339Nano, s.Value)
		if err != nil {
			return nil, valueErr(c, "%q is not an RFC 3339 time", s.Value)
		}
		return t.UTC(), nil
	case JSON:
		return jsonFromAttr(c, av)
	case Blob:
		b, ok := av.(*types.AttributeValueMemberB)
		if !ok {
			return bad()
		}
		// A copy, never nil: an empty BLOB is not NULL.
		return append([]byte{}, b.Value...), nil
	}
	return nil, valueErr(c, "unknown type %q", c.Type)
}

func jsonFromAttr(c Column, av types.AttributeValue) (any, error) {
	switch t := av.(type) {
	case *types.AttributeValueMemberM:
		m := make(map[string]any, len(t.Value))
		for k, e := range t.Value {
			v, err := jsonFromAttr(c, e)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(t.Value))
		for i, e := range t.Value {
			v, err := jsonFromAttr(c, e)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	case *types.AttributeValueMemberN:
		return json.Number(canonicalNumber(t.Value)), nil
	case *types.AttributeValueMemberS:
		return t.Value, nil
	case *types.AttributeValueMemberBOOL:
		return t.Value, nil
	case *types.AttributeValueMemberNULL:
		return JSONNull{}, nil
	}
	return nil, valueErr(c, "attribute of type %T in a JSON value", av)
}
