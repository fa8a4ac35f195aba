package codec

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// textTimeLayout is how MySQL's text protocol sends a DATETIME(6) or a
// TIMESTAMP(6) (FromText reads it, with fewer or no decimals too).
const textTimeLayout = "2006-01-02 15:04:05.999999"

// Text renders a canonical value (not nil) as MySQL's text protocol sends
// it, so FromText of the result is the value again: it is how a row image
// is kept where only bytes can be (a dead letter), then decoded by the
// mapping of the day (which may have changed, say to clear a fault).
func (c Column) Text(v any) ([]byte, error) {
	internal := func() ([]byte, error) {
		return nil, valueErr(c, "internal: %T is not the canonical value of %s", v, c.Type)
	}
	switch c.Type {
	case String, Enum, Date, Decimal:
		if s, ok := v.(string); ok {
			return append([]byte{}, s...), nil
		}
	case Int:
		if i, ok := v.(int64); ok {
			return strconv.AppendInt(nil, i, 10), nil
		}
	case Uint:
		if u, ok := v.(uint64); ok {
			return strconv.AppendUint(nil, u, 10), nil
		}
	case Bit:
		if u, ok := v.(uint64); ok {
			return binary.BigEndian.AppendUint64(nil, u), nil
		}
	case Float, Double:
		bits := 64
		if c.Type == Float {
			bits = 32
		}
		if f, ok := v.(float64); ok {
			return strconv.AppendFloat(nil, f, 'g', -1, bits), nil
		}
	case Datetime, Timestamp:
		if t, ok := v.(time.Time); ok {
			return []byte(t.UTC().Format(textTimeLayout)), nil
		}
	case Blob:
		if b, ok := v.([]byte); ok {
			return append([]byte{}, b...), nil
		}
	case JSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, valueErr(c, "encoding JSON: %v", err)
		}
		return b, nil
	}
	return internal()
}

// RowText is r as MySQL's text protocol sends it, by column name (nil for
// SQL NULL): the inverse of RowFromText.
func (m *Mapping) RowText(r Row) (map[string][]byte, error) {
	out := make(map[string][]byte, len(m.Columns))
	for i, c := range m.Columns {
		if i >= len(r) || r[i] == nil {
			out[c.Name] = nil
			continue
		}
		b, err := c.Text(r[i])
		if err != nil {
			return nil, err
		}
		out[c.Name] = b
	}
	return out, nil
}

// RowFromNamedText decodes a row RowText gave, by the mapping's column
// names (case-insensitively): columns the row has that the mapping no
// longer maps are ignored; a mapped column the row lacks is an error
// naming it.
func (m *Mapping) RowFromNamedText(named map[string][]byte) (Row, error) {
	raw := make([][]byte, len(m.Columns))
	for i, c := range m.Columns {
		v, ok := named[c.Name]
		if !ok {
			for name, b := range named {
				if strings.EqualFold(name, c.Name) {
					v, ok = b, true
					break
				}
			}
		}
		if !ok {
			return nil, valueErr(c, "the row image lacks this column, which the mapping now copies")
		}
		raw[i] = v
	}
	return m.RowFromText(raw)
}
