package cdc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	"github.com/anycompany/strangler/internal/codec"
)

// rawJSON is a JSON column's value as the binlog carries it (MariaDB's
// JSON is text), kept undecoded in a Change's rows: the item is built from
// the text by codec's scanner (Mapping.ItemFromText) and the event embeds
// it compacted, so the cdc never decodes JSON into maps. Decoding it was
// the largest part of decoding a row. It is never modified.
type rawJSON []byte

// decoded is v's canonical value (codec.Value) as codec decodes a JSON
// column's text.
func (v rawJSON) decoded(c codec.Column) (any, error) { return c.FromText(v, false) }

// textRow renders r (canonical values, JSON as rawJSON) as the text protocol
// would send the row, into buf (one backing array for every value); ok is
// false for a value it does not know (the caller decodes the row instead).
func textRow(m *codec.Mapping, r codec.Row, buf []byte) (raw [][]byte, out []byte, ok bool) {
	raw = make([][]byte, len(r))
	starts := make([]int, len(r))
	for i, v := range r {
		starts[i] = len(buf)
		switch t := v.(type) {
		case nil:
			starts[i] = -1
		case string:
			buf = append(buf, t...)
		case int64:
			buf = strconv.AppendInt(buf, t, 10)
		case uint64:
			if m.Columns[i].Type == codec.Bit {
				buf = binary.BigEndian.AppendUint64(buf, t)
			} else {
				buf = strconv.AppendUint(buf, t, 10)
			}
		case time.Time:
			buf = codec.AppendDatetimeText(buf, t)
		case rawJSON:
			buf = append(buf, t...)
		case []byte:
			buf = append(buf, t...)
		default:
			return nil, buf, false
		}
	}
	for i := range r {
		if starts[i] < 0 {
			continue
		}
		end := len(buf)
		for j := i + 1; j < len(r); j++ {
			if starts[j] >= 0 {
				end = starts[j]
				break
			}
		}
		raw[i] = buf[starts[i]:end:end]
		if raw[i] == nil {
			raw[i] = []byte{} // an empty value is not NULL
		}
	}
	return raw, buf, true
}

// decodedRow is r with every rawJSON decoded: the canonical row codec's
// Item takes.
func decodedRow(m *codec.Mapping, r codec.Row) (codec.Row, error) {
	out := r
	for i, v := range r {
		if raw, ok := v.(rawJSON); ok {
			if &out[0] == &r[0] {
				out = append(codec.Row(nil), r...)
			}
			d, err := raw.decoded(m.Columns[i])
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
	}
	return out, nil
}

// appendRawJSON appends raw compacted (it is valid JSON, else an error).
func appendRawJSON(b []byte, raw rawJSON) ([]byte, error) {
	c := compactor{src: raw, dst: b}
	if c.value(0) && c.space() == len(raw) {
		return c.dst, nil
	}
	// Anything compactor does not take (an error among them) is
	// encoding/json's to judge, in its own words.
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compactor is json.Compact for the common documents, a few times faster:
// it reads the JSON grammar by recursive descent and appends every token
// as it stands, dropping the space between them, which is all Compact
// writes. It takes only what Compact takes (for any other input value is
// false and dst must be dropped), and gives up past maxCompactDepth.
type compactor struct {
	src []byte
	i   int
	dst []byte
}

const maxCompactDepth = 512

// space skips JSON white space and returns the position after it.
func (c *compactor) space() int {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return c.i
		}
	}
	return c.i
}

func (c *compactor) value(depth int) bool {
	if depth > maxCompactDepth || c.space() == len(c.src) {
		return false
	}
	switch ch := c.src[c.i]; {
	case ch == '{' || ch == '[':
		closing := byte('}')
		if ch == '[' {
			closing = ']'
		}
		c.dst = append(c.dst, ch)
		c.i++
		if c.space() < len(c.src) && c.src[c.i] == closing {
			c.dst = append(c.dst, closing)
			c.i++
			return true
		}
		for {
			if ch == '{' {
				if c.space() == len(c.src) || c.src[c.i] != '"' || !c.str() {
					return false
				}
				if c.space() == len(c.src) || c.src[c.i] != ':' {
					return false
				}
				c.dst = append(c.dst, ':')
				c.i++
			}
			if !c.value(depth + 1) {
				return false
			}
			if c.space() == len(c.src) {
				return false
			}
			switch c.src[c.i] {
			case ',':
				c.dst = append(c.dst, ',')
				c.i++
			case closing:
				c.dst = append(c.dst, closing)
				c.i++
				return true
			default:
				return false
			}
		}
	case ch == '"':
		return c.str()
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number()
	}
	return false
}

func (c *compactor) literal(word string) bool {
	if !bytes.HasPrefix(c.src[c.i:], []byte(word)) {
		return false
	}
	c.dst = append(c.dst, word...)
	c.i += len(word)
	return true
}

// str copies the string at c.i (its quote) as it stands: any byte from
// 0x20 but the quote and the backslash, and the escapes JSON has.
func (c *compactor) str() bool {
	start := c.i
	c.i++
	for c.i < len(c.src) {
		switch ch := c.src[c.i]; {
		case ch == '"':
			c.i++
			c.dst = append(c.dst, c.src[start:c.i]...)
			return true
		case ch == '\\':
			if c.i+1 >= len(c.src) {
				return false
			}
			switch c.src[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(c.src) {
					return false
				}
				for _, h := range c.src[c.i+2 : c.i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				c.i += 6
			default:
				return false
			}
		case ch < 0x20:
			return false
		default:
			c.i++
		}
	}
	return false
}

// number copies the number at c.i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *compactor) number() bool {
	start, s := c.i, c.src
	i := c.i
	if s[i] == '-' {
		i++
	}
	digits := func() bool {
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > d
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		digits()
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	c.dst = append(c.dst, s[start:i]...)
	c.i = i
	return true
}
