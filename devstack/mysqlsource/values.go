package mysqlsource

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"vitess.io/vitess/go/mysql/binlog"
)

// Column is one column of a table as the source declares it in a table
// map event: its binlog type and metadata, and the optional metadata that
// binlog_row_metadata adds. The constructors below (IntColumn, …) fill the
// type and metadata the way MySQL 8 does for the SQL type they are named
// after. A Column is a value; copy it freely.
type Column struct {
	Name string
	// Type is the binlog type (binlog.TypeLong, …); CHAR, ENUM and SET are
	// binlog.TypeString with the real type in Meta, as MySQL writes them.
	Type byte
	// Meta is the table map's metadata of the column, as a number in the
	// byte order vitess's table map builder writes it.
	Meta     uint16
	Unsigned bool
	Nullable bool
	// Collation is the column's collation id (character columns; ENUM and
	// SET labels). Zero means utf8mb4_0900_ai_ci (255).
	Collation uint16
	// Values are the ENUM or SET labels, in declaration order.
	Values []string
}

// Collations the constructors use.
const (
	CollationUTF8MB4 = 255 // utf8mb4_0900_ai_ci, MySQL 8's default
	CollationBinary  = 63
)

// IntColumn is TINYINT (size 1), SMALLINT (2), MEDIUMINT (3), INT (4) or
// BIGINT (8).
func IntColumn(name string, size int, unsigned bool) Column {
	t := map[int]byte{1: binlog.TypeTiny, 2: binlog.TypeShort, 3: binlog.TypeInt24, 4: binlog.TypeLong, 8: binlog.TypeLongLong}[size]
	return Column{Name: name, Type: t, Unsigned: unsigned}
}

// DecimalColumn is DECIMAL(precision, scale).
func DecimalColumn(name string, precision, scale int) Column {
	return Column{Name: name, Type: binlog.TypeNewDecimal, Meta: uint16(precision)<<8 | uint16(scale)}
}

// FloatColumn is FLOAT; DoubleColumn is DOUBLE.
func FloatColumn(name string) Column { return Column{Name: name, Type: binlog.TypeFloat, Meta: 4} }

// DoubleColumn is DOUBLE.
func DoubleColumn(name string) Column { return Column{Name: name, Type: binlog.TypeDouble, Meta: 8} }

// DateTimeColumn is DATETIME(fsp); TimestampColumn TIMESTAMP(fsp);
// TimeColumn TIME(fsp).
func DateTimeColumn(name string, fsp int) Column {
	return Column{Name: name, Type: binlog.TypeDateTime2, Meta: uint16(fsp)}
}

// TimestampColumn is TIMESTAMP(fsp).
func TimestampColumn(name string, fsp int) Column {
	return Column{Name: name, Type: binlog.TypeTimestamp2, Meta: uint16(fsp)}
}

// TimeColumn is TIME(fsp).
func TimeColumn(name string, fsp int) Column {
	return Column{Name: name, Type: binlog.TypeTime2, Meta: uint16(fsp)}
}

// DateColumn is DATE; YearColumn is YEAR.
func DateColumn(name string) Column { return Column{Name: name, Type: binlog.TypeDate} }

// YearColumn is YEAR.
func YearColumn(name string) Column { return Column{Name: name, Type: binlog.TypeYear} }

// VarcharColumn is VARCHAR(chars) in utf8mb4 (4 bytes a character).
func VarcharColumn(name string, chars int) Column {
	return Column{Name: name, Type: binlog.TypeVarchar, Meta: uint16(chars * 4), Collation: CollationUTF8MB4}
}

// VarbinaryColumn is VARBINARY(n).
func VarbinaryColumn(name string, n int) Column {
	return Column{Name: name, Type: binlog.TypeVarchar, Meta: uint16(n), Collation: CollationBinary}
}

// CharColumn is CHAR(chars) in utf8mb4. MySQL packs the byte length's
// two high bits into the real-type byte.
func CharColumn(name string, chars int) Column {
	n := chars * 4
	b0 := uint16(binlog.TypeString) ^ uint16((n&0x300)>>4)
	return Column{Name: name, Type: binlog.TypeString, Meta: b0<<8 | uint16(n&0xff), Collation: CollationUTF8MB4}
}

// BlobColumn is TINYBLOB (lenBytes 1), BLOB (2), MEDIUMBLOB (3) or
// LONGBLOB (4); TextColumn the TEXT of the same size.
func BlobColumn(name string, lenBytes int) Column {
	return Column{Name: name, Type: binlog.TypeBlob, Meta: uint16(lenBytes), Collation: CollationBinary}
}

// TextColumn is TINYTEXT … LONGTEXT in utf8mb4.
func TextColumn(name string, lenBytes int) Column {
	return Column{Name: name, Type: binlog.TypeBlob, Meta: uint16(lenBytes), Collation: CollationUTF8MB4}
}

// JSONColumn is JSON: MySQL's binary JSON behind a 4-byte length.
func JSONColumn(name string) Column { return Column{Name: name, Type: binlog.TypeJSON, Meta: 4} }

// EnumColumn is ENUM(labels…); SetColumn SET(labels…).
func EnumColumn(name string, labels ...string) Column {
	size := uint16(1)
	if len(labels) > 255 {
		size = 2
	}
	return Column{Name: name, Type: binlog.TypeString, Meta: uint16(binlog.TypeEnum)<<8 | size, Collation: CollationUTF8MB4, Values: labels}
}

// SetColumn is SET(labels…).
func SetColumn(name string, labels ...string) Column {
	size := uint16((len(labels) + 7) / 8)
	if size == 5 || size == 6 || size == 7 {
		size = 8
	}
	return Column{Name: name, Type: binlog.TypeString, Meta: uint16(binlog.TypeSet)<<8 | size, Collation: CollationUTF8MB4, Values: labels}
}

// BitColumn is BIT(bits).
func BitColumn(name string, bits int) Column {
	return Column{Name: name, Type: binlog.TypeBit, Meta: uint16(bits/8)<<8 | uint16(bits%8)}
}

// realType is the SQL type behind a binlog.TypeString column.
func (c Column) realType() byte {
	if c.Type == binlog.TypeString {
		if rt := byte(c.Meta >> 8); rt == binlog.TypeEnum || rt == binlog.TypeSet {
			return rt
		}
	}
	return c.Type
}

// numeric says whether the column has a bit in the SIGNEDNESS metadata.
// MySQL 8 counts the types of has_signedess_information_type
// (sql/field_common_properties.h): the integer types, YEAR (its bit 0),
// FLOAT, DOUBLE and both DECIMALs. (The older is_numeric_type list,
// without YEAR, is not what the server writes: with it every numeric
// column after a YEAR took its neighbour's bit.)
func (c Column) numeric() bool {
	switch c.Type {
	case binlog.TypeTiny, binlog.TypeShort, binlog.TypeInt24, binlog.TypeLong, binlog.TypeLongLong, binlog.TypeYear,
		binlog.TypeDecimal, binlog.TypeNewDecimal, binlog.TypeFloat, binlog.TypeDouble:
		return true
	}
	return false
}

// character says whether the column has an entry in COLUMN_CHARSET.
func (c Column) character() bool {
	switch c.realType() {
	case binlog.TypeString, binlog.TypeVarString, binlog.TypeVarchar, binlog.TypeBlob:
		return true
	}
	return false
}

// appendValue appends the rows-event image of v in column c. The Go types
// taken: any integer for the integer types, YEAR, BIT, ENUM (1-based
// index) and SET (bit mask); a label string for ENUM and a comma list for
// SET; float32/float64; a decimal string for DECIMAL; time.Time or
// "YYYY-MM-DD[ hh:mm:ss[.ffffff]]" for DATE, DATETIME and TIMESTAMP;
// "[-]hhh:mm:ss[.ffffff]" or time.Duration for TIME; string or []byte for
// the string and blob types; JSON text, []byte or a JSON tree (see
// EncodeJSON) for JSON.
func appendValue(b []byte, c Column, v any) ([]byte, error) {
	switch c.realType() {
	case binlog.TypeTiny, binlog.TypeShort, binlog.TypeInt24, binlog.TypeLong, binlog.TypeLongLong:
		n, err := asUint64(v)
		if err != nil {
			return nil, err
		}
		size := map[byte]int{binlog.TypeTiny: 1, binlog.TypeShort: 2, binlog.TypeInt24: 3, binlog.TypeLong: 4, binlog.TypeLongLong: 8}[c.Type]
		return appendLE(b, n, size), nil
	case binlog.TypeYear:
		n, err := asUint64(v)
		if err != nil {
			return nil, err
		}
		if n != 0 {
			n -= 1900
		}
		return append(b, byte(n)), nil
	case binlog.TypeFloat:
		f, err := asFloat(v)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
	case binlog.TypeDouble:
		f, err := asFloat(v)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case binlog.TypeNewDecimal:
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		return appendDecimal(b, s, int(c.Meta>>8), int(c.Meta&0xff))
	case binlog.TypeDate, binlog.TypeDateTime2, binlog.TypeTimestamp2:
		return appendTemporal(b, c, v)
	case binlog.TypeTime2:
		d, err := asDuration(v)
		if err != nil {
			return nil, err
		}
		return appendTime2(b, d, int(c.Meta)), nil
	case binlog.TypeEnum, binlog.TypeSet:
		return appendEnumSet(b, c, v)
	case binlog.TypeBit:
		n, err := asUint64(v)
		if err != nil {
			return nil, err
		}
		bits := int(c.Meta>>8)*8 + int(c.Meta&0xff)
		return appendBE(b, n, (bits+7)/8), nil
	case binlog.TypeJSON:
		doc, err := jsonImage(v)
		if err != nil {
			return nil, err
		}
		return append(appendLE(b, uint64(len(doc)), int(c.Meta)), doc...), nil
	}
	return appendStringish(b, c, v)
}

// appendStringish appends CHAR, VARCHAR and the BLOB/TEXT types.
func appendStringish(b []byte, c Column, v any) ([]byte, error) {
	s, err := asString(v)
	if err != nil {
		return nil, err
	}
	var prefix int
	switch c.Type {
	case binlog.TypeVarchar, binlog.TypeVarString:
		prefix = 1
		if c.Meta > 255 {
			prefix = 2
		}
	case binlog.TypeString:
		// The byte length's high bits hide in the real-type byte.
		max := int(((c.Meta>>4)&0x300)^0x300) + int(c.Meta&0xff)
		prefix = 1
		if max > 255 {
			prefix = 2
		}
	case binlog.TypeBlob:
		prefix = int(c.Meta)
	default:
		return nil, fmt.Errorf("column %s: binlog type %d is not supported by the encoder", c.Name, c.Type)
	}
	if prefix < 4 && len(s) >= 1<<(8*prefix) {
		return nil, fmt.Errorf("column %s: %d bytes do not fit a %d-byte length", c.Name, len(s), prefix)
	}
	return append(appendLE(b, uint64(len(s)), prefix), s...), nil
}

func appendEnumSet(b []byte, c Column, v any) ([]byte, error) {
	size := int(c.Meta & 0xff)
	if s, ok := v.(string); ok {
		var n uint64
		for _, part := range strings.Split(s, ",") {
			if part == "" && c.realType() == binlog.TypeSet {
				continue
			}
			i := indexOf(c.Values, part)
			if i < 0 {
				return nil, fmt.Errorf("column %s: %q is not one of its labels %q", c.Name, part, c.Values)
			}
			if c.realType() == binlog.TypeEnum {
				n = uint64(i + 1)
			} else {
				n |= 1 << i
			}
		}
		return appendLE(b, n, size), nil
	}
	n, err := asUint64(v)
	if err != nil {
		return nil, err
	}
	return appendLE(b, n, size), nil
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}

func appendLE(b []byte, n uint64, size int) []byte {
	for i := 0; i < size; i++ {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

func appendBE(b []byte, n uint64, size int) []byte {
	for i := size - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

// digBytes is how many bytes a group of 0-9 decimal digits takes
// (MySQL's dig2bytes).
var digBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// appendDecimal appends MySQL's binary DECIMAL(precision, scale): the
// integer and fraction digits in groups of nine, each group a big-endian
// 4-byte word (a leading or trailing partial group in fewer bytes), every
// byte inverted for a negative number, and the first byte's top bit
// flipped so the bytes sort as the numbers do.
func appendDecimal(b []byte, s string, precision, scale int) ([]byte, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	intg := precision - scale
	if len(ip) > intg || len(fp) > scale || strings.Trim(ip+fp, "0123456789") != "" {
		return nil, fmt.Errorf("%q does not fit DECIMAL(%d,%d)", s, precision, scale)
	}
	ip = strings.Repeat("0", intg-len(ip)) + ip
	fp += strings.Repeat("0", scale-len(fp))
	start := len(b)
	word := func(digits string) {
		n, _ := strconv.ParseUint("0"+digits, 10, 64)
		b = appendBE(b, n, digBytes[len(digits)])
	}
	lead := intg % 9
	word(ip[:lead])
	for i := lead; i < intg; i += 9 {
		word(ip[i : i+9])
	}
	for i := 0; i+9 <= scale; i += 9 {
		word(fp[i : i+9])
	}
	word(fp[scale-scale%9:])
	if neg {
		for i := start; i < len(b); i++ {
			b[i] ^= 0xff
		}
	}
	if len(b) > start {
		b[start] ^= 0x80
	}
	return b, nil
}

// appendTemporal appends DATE (3 bytes little-endian, day | month<<5 |
// year<<9), DATETIME2 (5 bytes big-endian: year*13+month, day, hour,
// minute, second packed from bit 39 down, bit 39 set) and TIMESTAMP2 (4
// bytes big-endian seconds since the epoch), each of the last two followed
// by the fraction in (fsp+1)/2 big-endian bytes.
func appendTemporal(b []byte, c Column, v any) ([]byte, error) {
	var tm time.Time
	switch x := v.(type) {
	case time.Time:
		tm = x
	default:
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(s, "0000-00-00") {
			return appendZeroTemporal(b, c), nil
		}
		tm, err = time.Parse("2006-01-02 15:04:05.999999", s)
		if err != nil {
			if tm, err = time.Parse("2006-01-02", s); err != nil {
				return nil, fmt.Errorf("column %s: %q is not a date or date and time", c.Name, s)
			}
		}
	}
	fsp := int(c.Meta)
	switch c.Type {
	case binlog.TypeDate:
		return appendLE(b, uint64(tm.Day())|uint64(tm.Month())<<5|uint64(tm.Year())<<9, 3), nil
	case binlog.TypeTimestamp2:
		b = appendBE(b, uint64(tm.Unix()), 4)
		return appendFraction(b, tm.Nanosecond()/1000, fsp), nil
	}
	ym := uint64(tm.Year()*13 + int(tm.Month()))
	ymd := ym<<5 | uint64(tm.Day())
	hms := uint64(tm.Hour())<<12 | uint64(tm.Minute())<<6 | uint64(tm.Second())
	b = appendBE(b, (ymd<<17|hms)+0x8000000000, 5)
	return appendFraction(b, tm.Nanosecond()/1000, fsp), nil
}

func appendZeroTemporal(b []byte, c Column) []byte {
	switch c.Type {
	case binlog.TypeDate:
		return appendLE(b, 0, 3)
	case binlog.TypeTimestamp2:
		return appendFraction(appendBE(b, 0, 4), 0, int(c.Meta))
	}
	return appendFraction(appendBE(b, 0x8000000000, 5), 0, int(c.Meta))
}

func appendFraction(b []byte, micros, fsp int) []byte {
	switch {
	case fsp >= 5:
		return appendBE(b, uint64(micros), 3)
	case fsp >= 3:
		return appendBE(b, uint64(micros/100), 2)
	case fsp >= 1:
		return append(b, byte(micros/10000))
	}
	return b
}

// appendTime2 appends TIME2: MySQL's packed time (hour<<12 | minute<<6 |
// second) << 24 plus the microseconds, negated when negative, offset by
// 0x800000 in the 3-byte integer part (my_time_packed_to_binary).
func appendTime2(b []byte, d time.Duration, fsp int) []byte {
	neg := d < 0
	if neg {
		d = -d
	}
	us := int64(d / time.Microsecond)
	sec := us / 1e6
	hms := (sec/3600)<<12 | (sec/60%60)<<6 | sec%60
	nr := hms<<24 + us%1e6
	if neg {
		nr = -nr
	}
	intPart := nr >> 24
	frac := nr % (1 << 24)
	switch {
	case fsp >= 5:
		return appendBE(b, uint64(nr+0x800000000000), 6)
	case fsp >= 3:
		b = appendBE(b, uint64(intPart+0x800000), 3)
		return appendBE(b, uint64(int16(frac/100)), 2)
	case fsp >= 1:
		b = appendBE(b, uint64(intPart+0x800000), 3)
		return append(b, byte(int8(frac/10000)))
	}
	return appendBE(b, uint64(intPart+0x800000), 3)
}

func asUint64(v any) (uint64, error) {
	switch x := v.(type) {
	case int:
		return uint64(x), nil
	case int8:
		return uint64(x), nil
	case int16:
		return uint64(x), nil
	case int32:
		return uint64(x), nil
	case int64:
		return uint64(x), nil
	case uint:
		return uint64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case uint64:
		return x, nil
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return uint64(n), nil
		}
		return strconv.ParseUint(x, 10, 64)
	}
	return 0, fmt.Errorf("%T %v is not an integer", v, v)
}

func asFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		return strconv.ParseFloat(x, 64)
	}
	n, err := asUint64(v)
	return float64(int64(n)), err
}

func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return "", fmt.Errorf("%T %v is not a string", v, v)
}

func asDuration(v any) (time.Duration, error) {
	if d, ok := v.(time.Duration); ok {
		return d, nil
	}
	s, err := asString(v)
	if err != nil {
		return 0, err
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var h, m int
	var sec float64
	if _, err := fmt.Sscanf(strings.ReplaceAll(s, ":", " "), "%d %d %f", &h, &m, &sec); err != nil {
		return 0, fmt.Errorf("%q is not a TIME ([-]hhh:mm:ss[.ffffff]): %w", s, err)
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(math.Round(sec*1e6))*time.Microsecond
	if neg {
		d = -d
	}
	return d, nil
}
