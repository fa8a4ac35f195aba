package mysqlsource

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/binlog"
)

// Opaque is a JSON scalar MySQL keeps in its own binary form: a DECIMAL,
// DATETIME, DATE, TIME or another MySQL type inside a JSON document (for
// example what CAST(1.50 AS JSON) or JSON_OBJECT('at', NOW(6)) stores).
// Build it with JSONDecimal, JSONDateTime, JSONDate or JSONTime.
type Opaque struct {
	// Type is the MySQL field type of Data.
	Type byte
	Data []byte
}

// JSONDecimal is a DECIMAL(precision, scale) inside a JSON document:
// precision and scale bytes, then the binary DECIMAL.
func JSONDecimal(s string, precision, scale int) (Opaque, error) {
	d, err := appendDecimal([]byte{byte(precision), byte(scale)}, s, precision, scale)
	return Opaque{Type: binlog.TypeNewDecimal, Data: d}, err
}

// JSONDateTime is a DATETIME (or with typ binlog.TypeTimestamp a
// TIMESTAMP) inside a JSON document: MySQL's packed datetime, an int64
// little-endian ((year*13+month)<<5|day)<<17|hour<<12|minute<<6|second,
// shifted left 24 bits, plus the microseconds.
func JSONDateTime(t time.Time, typ byte) Opaque {
	ymd := int64(t.Year()*13+int(t.Month()))<<5 | int64(t.Day())
	hms := int64(t.Hour())<<12 | int64(t.Minute())<<6 | int64(t.Second())
	packed := (ymd<<17|hms)<<24 + int64(t.Nanosecond()/1000)
	return Opaque{Type: typ, Data: binary.LittleEndian.AppendUint64(nil, uint64(packed))}
}

// JSONDate is a DATE inside a JSON document (a packed datetime at
// midnight).
func JSONDate(t time.Time) Opaque {
	o := JSONDateTime(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), binlog.TypeDate)
	return o
}

// JSONTime is a TIME inside a JSON document: the packed time, negated
// when negative.
func JSONTime(d time.Duration) Opaque {
	neg := d < 0
	if neg {
		d = -d
	}
	us := int64(d / time.Microsecond)
	sec := us / 1e6
	packed := ((sec/3600)<<12|(sec/60%60)<<6|sec%60)<<24 + us%1e6
	if neg {
		packed = -packed
	}
	return Opaque{Type: binlog.TypeTime, Data: binary.LittleEndian.AppendUint64(nil, uint64(packed))}
}

// Binary JSON type bytes (MySQL's json_binary.h).
const (
	jsonSmallObject = 0x00
	jsonLargeObject = 0x01
	jsonSmallArray  = 0x02
	jsonLargeArray  = 0x03
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonUint16      = 0x06
	jsonInt32       = 0x07
	jsonUint32      = 0x08
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
	jsonOpaque      = 0x0f

	jsonNull  = 0x00
	jsonTrue  = 0x01
	jsonFalse = 0x02
)

// jsonImage is the binary JSON of v: JSON text (string or []byte) is
// parsed first; anything else is taken as a JSON tree.
func jsonImage(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return JSONText(x)
	case []byte:
		return JSONText(string(x))
	}
	return EncodeJSON(v)
}

// JSONText parses JSON text the way MySQL does (integers that fit int64
// are signed, larger ones unsigned, other numbers doubles) and returns its
// binary form.
func JSONText(text string) ([]byte, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("JSON value %.40q: %w", text, err)
	}
	return EncodeJSON(v)
}

// EncodeJSON returns MySQL's binary JSON of a tree of map[string]any,
// []any, string, bool, nil, json.Number, the Go integer and float types,
// and Opaque. An object's keys are sorted as MySQL sorts them (shorter
// first, then bytewise); a container uses the small format (16-bit counts
// and offsets) unless it is larger than 64 KiB.
func EncodeJSON(v any) ([]byte, error) {
	typ, body, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{typ}, body...), nil
}

// jsonValue returns v's type byte and its encoding.
func jsonValue(v any) (byte, []byte, error) {
	switch x := v.(type) {
	case nil:
		return jsonLiteral, []byte{jsonNull}, nil
	case bool:
		if x {
			return jsonLiteral, []byte{jsonTrue}, nil
		}
		return jsonLiteral, []byte{jsonFalse}, nil
	case string:
		return jsonString, appendVarLen(nil, len(x), x), nil
	case json.Number:
		return jsonNumber(x)
	case float64:
		return jsonDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(x)), nil
	case float32:
		return jsonDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(x))), nil
	case uint64:
		return jsonUnsigned(x)
	case uint, uint32, uint16, uint8:
		n, _ := asUint64(x)
		return jsonUnsigned(n)
	case int, int64, int32, int16, int8:
		n, _ := asUint64(x)
		return jsonSigned(int64(n))
	case Opaque:
		b := append([]byte{x.Type}, appendVarLen(nil, len(x.Data), "")...)
		return jsonOpaque, append(b, x.Data...), nil
	case map[string]any:
		return jsonContainer(x, nil)
	case []any:
		return jsonContainer(nil, x)
	}
	return 0, nil, fmt.Errorf("%T is not a JSON value", v)
}

func jsonNumber(n json.Number) (byte, []byte, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return jsonSigned(i)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return jsonUnsigned(u)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("JSON number %s: %w", s, err)
	}
	return jsonValue(f)
}

// jsonSigned and jsonUnsigned pick the smallest integer type, as MySQL's
// serializer does.
func jsonSigned(i int64) (byte, []byte, error) {
	switch {
	case i >= math.MinInt16 && i <= math.MaxInt16:
		return jsonInt16, appendLE(nil, uint64(i), 2), nil
	case i >= math.MinInt32 && i <= math.MaxInt32:
		return jsonInt32, appendLE(nil, uint64(i), 4), nil
	}
	return jsonInt64, appendLE(nil, uint64(i), 8), nil
}

func jsonUnsigned(u uint64) (byte, []byte, error) {
	switch {
	case u <= math.MaxUint16:
		return jsonUint16, appendLE(nil, u, 2), nil
	case u <= math.MaxUint32:
		return jsonUint32, appendLE(nil, u, 4), nil
	}
	return jsonUint64, appendLE(nil, u, 8), nil
}

// appendVarLen appends n in MySQL's variable-length form (7 bits a byte,
// low bits first, the top bit set on every byte but the last), then s.
func appendVarLen(b []byte, n int, s string) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			b = append(b, c)
			break
		}
		b = append(b, c|0x80)
	}
	return append(b, s...)
}

// jsonContainer encodes an object (obj non-nil) or an array: element
// count, total size, key entries (objects), value entries, keys, then the
// values that are not inlined in their entry.
func jsonContainer(obj map[string]any, arr []any) (byte, []byte, error) {
	var keys []string
	vals := arr
	if obj != nil {
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if len(keys[i]) != len(keys[j]) {
				return len(keys[i]) < len(keys[j])
			}
			return keys[i] < keys[j]
		})
		vals = make([]any, len(keys))
		for i, k := range keys {
			vals[i] = obj[k]
		}
	}
	types := make([]byte, len(vals))
	bodies := make([][]byte, len(vals))
	for i, v := range vals {
		var err error
		if types[i], bodies[i], err = jsonValue(v); err != nil {
			return 0, nil, err
		}
	}
	if b, ok := layContainer(keys, types, bodies, false, obj != nil); ok {
		if obj != nil {
			return jsonSmallObject, b, nil
		}
		return jsonSmallArray, b, nil
	}
	b, _ := layContainer(keys, types, bodies, true, obj != nil)
	if obj != nil {
		return jsonLargeObject, b, nil
	}
	return jsonLargeArray, b, nil
}

// layContainer lays a container out in the small or large format; ok is
// false when the small format cannot hold it.
func layContainer(keys []string, types []byte, bodies [][]byte, large, isObject bool) ([]byte, bool) {
	w := 2
	if large {
		w = 4
	}
	limit := uint64(1)<<(8*w) - 1
	n := len(types)
	header := 2 * w
	if isObject {
		header += n * (w + 2)
	}
	header += n * (1 + w)
	var tail bytes.Buffer
	keyOffsets := make([]int, len(keys))
	for i, k := range keys {
		keyOffsets[i] = header + tail.Len()
		tail.WriteString(k)
	}
	entries := make([]byte, 0, n*(1+w))
	for i, t := range types {
		entries = append(entries, t)
		if inlined(t, large) {
			entries = append(entries, bodies[i]...)
			entries = append(entries, make([]byte, w-len(bodies[i]))...)
			continue
		}
		entries = appendLE(entries, uint64(header+tail.Len()), w)
		tail.Write(bodies[i])
	}
	size := header + tail.Len()
	if uint64(size) > limit || uint64(n) > limit {
		return nil, false
	}
	out := appendLE(nil, uint64(n), w)
	out = appendLE(out, uint64(size), w)
	for i, k := range keys {
		if len(k) > math.MaxUint16 {
			return nil, false
		}
		out = appendLE(out, uint64(keyOffsets[i]), w)
		out = appendLE(out, uint64(len(k)), 2)
	}
	out = append(out, entries...)
	return append(out, tail.Bytes()...), true
}

// inlined says whether a value of type t sits in its value entry.
func inlined(t byte, large bool) bool {
	switch t {
	case jsonLiteral, jsonInt16, jsonUint16:
		return true
	case jsonInt32, jsonUint32:
		return large
	}
	return false
}
