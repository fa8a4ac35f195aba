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
	if out, ok := codec.AppendCompactJSON(b, raw); ok {
		return out, nil
	}
	// Anything the compactor does not take (an error among them) is
	// encoding/json's to judge, in its own words.
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
