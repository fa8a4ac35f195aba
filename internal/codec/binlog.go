package codec

import (
	"bytes"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// FromBinlog decodes a column value as go-mysql's replication package
// delivers it from a row event (BinlogSyncerConfig with ParseTime and
// TimestampStringLocation UTC; UseDecimal either way) into the canonical value, the
// same one FromText gives for the same row, so the backfill and the cdc
// write the same item.
//
// What go-mysql delivers, by column type:
//   - integers: int8…int64 or uint8…uint64 by width and signedness (an
//     unsigned column whose signedness the table map did not carry arrives
//     signed and is reinterpreted at its width); YEAR as int;
//   - DECIMAL: a string with the column's scale (UseDecimal false, as the
//     cdc reads), or a decimal.Decimal (anything with StringFixed),
//     formatted with the column's Scale (5.50 prints "5.5" otherwise);
//   - FLOAT float32, DOUBLE float64;
//   - DATETIME and TIMESTAMP: time.Time, or a string for zero dates;
//   - DATE and TIME: strings; CHAR/VARCHAR strings; TEXT and BLOB []byte;
//   - JSON: []byte (MariaDB's JSON is LONGTEXT; MySQL 8's binary JSON is
//     rendered to text by go-mysql);
//   - ENUM: the 1-based index as int64 (0 is MySQL's invalid-value ""),
//     mapped through Enum; SET: a bitmask as int64, mapped through Enum,
//     which the caller fills with the set's labels (from the table map);
//   - BIT: int64;
//   - NULL: nil.
func (c Column) FromBinlog(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t := v.(type) {
	case string:
		if c.Type == Blob {
			return []byte(t), nil
		}
		return c.FromText([]byte(t), false)
	case []byte:
		return c.FromText(t, false)
	}
	switch c.Type {
	case Int:
		i, ok := asInt64(v)
		if !ok {
			return nil, c.binlogType(v)
		}
		return i, nil
	case Uint, Bit:
		u, ok := asUint64(v)
		if !ok {
			return nil, c.binlogType(v)
		}
		return u, nil
	case Decimal:
		d, ok := v.(interface{ StringFixed(int32) string })
		if !ok {
			return nil, c.binlogType(v)
		}
		return c.decimal(d.StringFixed(int32(c.Scale)))
	case Float:
		switch f := v.(type) {
		case float32:
			return finite(c, float64(f))
		case float64:
			return finite(c, float64(float32(f)))
		}
	case Double:
		switch f := v.(type) {
		case float64:
			return finite(c, f)
		case float32:
			return finite(c, float64(f))
		}
	case Datetime, Timestamp:
		if tm, ok := v.(time.Time); ok {
			return tm.UTC(), nil
		}
	case Enum:
		i, ok := asInt64(v)
		if !ok {
			return nil, c.binlogType(v)
		}
		switch {
		case i == 0:
			return "", nil
		case i < 0 || int(i) > len(c.Enum):
			return nil, valueErr(c, "ENUM index %d outside its %d labels", i, len(c.Enum))
		}
		return c.Enum[i-1], nil
	case String:
		// A SET arrives as a bitmask of its labels.
		mask, ok := asUint64(v)
		if !ok || len(c.Enum) == 0 {
			return nil, c.binlogType(v)
		}
		var b bytes.Buffer
		for i, label := range c.Enum {
			if i < 64 && mask&(1<<uint(i)) != 0 {
				if b.Len() > 0 {
					b.WriteByte(',')
				}
				b.WriteString(label)
			}
		}
		if !utf8.Valid(b.Bytes()) {
			return nil, valueErr(c, "is not valid UTF-8")
		}
		return b.String(), nil
	}
	return nil, c.binlogType(v)
}

func (c Column) binlogType(v any) error {
	return valueErr(c, "binlog value of Go type %T does not fit %s", v, c.Type)
}

func finite(c Column, f float64) (any, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, valueErr(c, "%v is not a finite number", f)
	}
	if f == 0 {
		f = 0 // -0 is 0, as FromText has it
	}
	return f, nil
}

func asInt64(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int8:
		return int64(t), true
	case int16:
		return int64(t), true
	case int32:
		return int64(t), true
	case int64:
		return t, true
	case uint8:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint64:
		if t > math.MaxInt64 {
			return 0, false
		}
		return int64(t), true
	}
	return 0, false
}

// asUint64 widens an unsigned value; a signed one is reinterpreted at its
// own width (an unsigned column decoded without its signedness).
func asUint64(v any) (uint64, bool) {
	switch t := v.(type) {
	case uint:
		return uint64(t), true
	case uint8:
		return uint64(t), true
	case uint16:
		return uint64(t), true
	case uint32:
		return uint64(t), true
	case uint64:
		return t, true
	case int8:
		return uint64(uint8(t)), true
	case int16:
		return uint64(uint16(t)), true
	case int32:
		return uint64(uint32(t)), true
	case int64:
		return uint64(t), true
	case int:
		return uint64(t), true
	}
	return 0, false
}

// TimeFraction pads a TIME value as go-mysql renders it from the binlog
// ("12:00:00" when the fraction is zero) to the fsp fractional digits the
// text protocol always prints ("12:00:00.000000" for TIME(6)), so both
// decode to the same string. fsp comes from the table map's column meta.
func TimeFraction(s string, fsp int) string {
	if fsp <= 0 || strings.Contains(s, ".") {
		return s
	}
	return s + "." + strings.Repeat("0", fsp)
}
