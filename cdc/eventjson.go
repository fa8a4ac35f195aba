package cdc

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/anycompany/strangler/internal/codec"
	"github.com/anycompany/strangler/internal/jsonstr"
)

// This file encodes an event's Detail without reflection: encoding/json of
// a map[string]any per change (sorting its keys, reflecting on every value)
// was a fifth of the engine's CPU. The output is byte for byte what
// json.Marshal of events.Detail gives for the same change (the test
// TestDetailEncoding holds it to that), so consumers see no difference.

// shape is a mapping's order fields sorted by name, as encoding/json sorts
// a map's keys, with each name's encoded form.
type shape struct {
	// cols are the mapping's column indexes (the ref excluded) by name.
	cols []int
	// names[i] is the encoded `"name":` of cols[i].
	names [][]byte
	// ref is the ref's column index, 0 when the mapping has none.
	ref int
}

func newShape(m *codec.Mapping) *shape {
	sh := &shape{}
	if _, i, ok := m.Ref(); ok {
		sh.ref = i
	}
	for i := range m.Columns {
		if !m.IsRef(i) {
			sh.cols = append(sh.cols, i)
		}
	}
	slices.SortFunc(sh.cols, func(a, b int) int {
		switch {
		case m.Columns[a].Name < m.Columns[b].Name:
			return -1
		case m.Columns[a].Name > m.Columns[b].Name:
			return 1
		}
		return 0
	})
	for _, i := range sh.cols {
		sh.names = append(sh.names, append(jsonstr.Append(nil, m.Columns[i].Name), ':'))
	}
	return sh
}

// orderValue is column i's value as the event's order carries it: the key
// column holds the ref when the row has one (one id per order).
func (sh *shape) orderValue(img codec.Row, i int) any {
	if i == 0 && sh.ref > 0 && img[sh.ref] != nil {
		return img[sh.ref]
	}
	return img[i]
}

// appendDetail appends the Detail JSON of one change. changed lists the
// changed columns' indexes in mapping order (nil: not an update).
func appendDetail(b []byte, sh *shape, m *codec.Mapping, eventID, occurredAt, pos string, img, before codec.Row, changed []int) ([]byte, error) {
	var err error
	b = append(b, `{"event_id":`...)
	b = jsonstr.Append(b, eventID)
	b = append(b, `,"occurred_at":`...)
	b = jsonstr.Append(b, occurredAt)
	b = append(b, `,"source_position":`...)
	b = jsonstr.Append(b, pos)
	b = append(b, `,"order":{`...)
	for n, i := range sh.cols {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, sh.names[n]...)
		if b, err = appendValue(b, sh.orderValue(img, i)); err != nil {
			return nil, err
		}
	}
	b = append(b, '}')
	if len(changed) > 0 {
		b = append(b, `,"changed":[`...)
		for n, i := range changed {
			if n > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, m.Columns[i].Name)
		}
		b = append(b, `],"previous":{`...)
		first := true
		for n, i := range sh.cols {
			if !slices.Contains(changed, i) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, sh.names[n]...)
			if b, err = appendValue(b, before[i]); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendValue appends a canonical value (codec.Value) as the event carries
// it (see jsonValue): times as RFC 3339 UTC with microseconds, JSON null and
// SQL NULL as null, decoded JSON as JSON with its object keys sorted,
// decimals as strings, BLOBs as base64.
func appendValue(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil, codec.JSONNull:
		return append(b, "null"...), nil
	case string:
		return jsonstr.Append(b, t), nil
	case int64:
		return strconv.AppendInt(b, t, 10), nil
	case uint64:
		return strconv.AppendUint(b, t, 10), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case time.Time:
		b = append(b, '"')
		b = codec.AppendTime(b, t)
		return append(b, '"'), nil
	case json.Number:
		if t == "" || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) || !json.Valid([]byte(t)) {
			break // encoding/json's own verdict below
		}
		return append(b, t...), nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, t)
		return append(b, '"'), nil
	case rawJSON:
		return appendRawJSON(b, t)
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for n, k := range keys {
			if n > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, t[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for n, e := range t {
			if n > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	// Floats and anything unforeseen: encoding/json itself.
	enc, err := json.Marshal(jsonValue(v))
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}
