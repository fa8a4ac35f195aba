package codec

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/anycompany/strangler/internal/jsonstr"
)

// AppendItemJSON appends to dst the item of raw (a text-protocol row, as
// ItemFromText takes it) stamped with pos as AttrPos, in DynamoDB's JSON
// wire form: the attribute map a TransactWriteItems Put carries as its
// Item ({"pk":{"S":"…"},…,"src_pos":{"N":"…"}}). It is what encoding
// ItemFromText's item, stamped, would write (but for the order of the
// attributes, which a JSON object does not have), without building it:
// the cdc's hot path. key and size are ItemFromText's (size without the
// stamp).
//
// ok is false (and out is dst as it was) for any row
// ItemFromText's fast path would not take or that needs a look this
// writer leaves to it: a ref column, a value other than a string, ENUM,
// integer, plain DECIMAL, DATETIME/TIMESTAMP or JSON text, a JSON object
// with a repeated or empty key or more than maxObjectKeys keys. The caller
// then takes ItemFromText, which also gives the row's error.
func (m *Mapping) AppendItemJSON(dst []byte, raw [][]byte, pos string) (out []byte, key string, size int, ok bool) {
	if len(raw) != len(m.Columns) || m.ref > 0 && raw[m.ref] != nil || len(raw[0]) == 0 {
		return dst, "", 0, false
	}
	// The row's text as one string that every value slices (jsonstr
	// writes strings): one allocation.
	total := 0
	for i := range raw {
		if i == 0 || raw[i] != nil && i != m.ref {
			total += len(raw[i])
		}
	}
	var offsets [64]int
	if len(m.Columns) > len(offsets) {
		return dst, "", 0, false
	}
	var sb strings.Builder
	sb.Grow(total)
	for i := range raw {
		offsets[i] = sb.Len()
		if i == 0 || raw[i] != nil && i != m.ref {
			sb.Write(raw[i])
		}
	}
	all := sb.String()
	key, ok = m.fastKey(raw[0], all[:len(raw[0])])
	if !ok {
		return dst, "", 0, false
	}
	start := len(dst)
	b := append(dst, `{"`+AttrPK+`":{"S":`...)
	b = jsonstr.Append(b, key)
	b = append(b, '}')
	size = len(AttrPK) + len(key)
	for i := 1; i < len(m.Columns); i++ {
		v := raw[i]
		if v == nil || i == m.ref {
			continue
		}
		c := &m.Columns[i]
		b = append(b, ',')
		b = jsonstr.Append(b, c.Attribute)
		b = append(b, ':')
		var n int
		if b, n, ok = c.appendAttrJSON(b, v, all[offsets[i]:offsets[i]+len(v)]); !ok {
			return dst[:start], "", 0, false
		}
		size += len(c.Attribute) + n
	}
	b = append(b, `,"`+AttrPos+`":{"N":`...)
	b = jsonstr.Append(b, pos)
	return append(b, '}', '}'), key, size, true
}

// appendAttrJSON appends the attribute of one non-NULL value (v, and src:
// v as a string) as fastAttrIn encodes it, and its attrSize.
func (c *Column) appendAttrJSON(b, v []byte, src string) ([]byte, int, bool) {
	switch c.Type {
	case String, Enum:
		if !utf8.Valid(v) {
			return b, 0, false
		}
		return appendS(b, src), len(src), true
	case Int, Uint:
		if !canonicalInteger(v, c.Type == Int) || !fitsInteger(src, c.Type == Int) {
			return b, 0, false
		}
		return appendN(b, src), numberSize(src), true
	case Decimal:
		if !plainDecimal(v, c.Precision, c.Scale) {
			return b, 0, false
		}
		if c.numberAsString() {
			return appendS(b, src), len(src), true
		}
		return appendN(b, src), numberSize(src), true
	case Datetime, Timestamp:
		var out [len(TimeLayout)]byte
		if !fastDatetime(v, &out) {
			return b, 0, false
		}
		b = append(b, `{"S":"`...)
		b = append(b, out[:]...) // digits, '-', ':', '.', 'T' and 'Z': nothing to escape
		return append(b, '"', '}'), len(TimeLayout), true
	case JSON:
		w := jsonWriter{jsonScanner: jsonScanner{b: v, src: src}}
		b, n, ok := w.value(b, 0)
		if !ok {
			return b, 0, false
		}
		if w.space(); w.i != len(v) {
			return b, 0, false
		}
		return b, n, true
	}
	return b, 0, false
}

func appendS(b []byte, s string) []byte {
	b = append(b, `{"S":`...)
	return append(jsonstr.Append(b, s), '}')
}

func appendN(b []byte, s string) []byte {
	b = append(b, `{"N":`...)
	return append(jsonstr.Append(b, s), '}')
}

// fitsInteger reports that a canonical integer (canonicalInteger) is in
// the range of int64 (signed) or uint64, as strconv's parsers check it.
func fitsInteger(s string, signed bool) bool {
	limit := "18446744073709551615"
	if signed {
		limit = "9223372036854775807"
		if s[0] == '-' {
			s, limit = s[1:], "9223372036854775808"
		}
	}
	return len(s) < len(limit) || len(s) == len(limit) && s <= limit
}

// maxObjectKeys bounds the keys of one JSON object the writer checks for
// repeats (pairwise); a larger object goes to ItemFromText.
const maxObjectKeys = 32

// jsonWriter is jsonScanner writing DynamoDB's JSON of the attributes as
// it reads, instead of building them: the same values accepted, the same
// attributes and sizes.
type jsonWriter struct {
	jsonScanner
}

func (w *jsonWriter) value(b []byte, depth int) ([]byte, int, bool) {
	if depth > maxDepth {
		return b, 0, false
	}
	w.space()
	if w.i >= len(w.b) {
		return b, 0, false
	}
	switch c := w.b[w.i]; {
	case c == '{':
		w.i++
		b = append(b, `{"M":{`...)
		size := 3
		w.space()
		if w.i < len(w.b) && w.b[w.i] == '}' {
			w.i++
			return append(b, '}', '}'), size, true
		}
		var (
			keys0 [8]string
			keys  = keys0[:0]
		)
		for {
			w.space()
			if w.i >= len(w.b) || w.b[w.i] != '"' {
				return b, 0, false
			}
			k, ok := w.str()
			if !ok || k == "" || len(keys) == maxObjectKeys {
				return b, 0, false
			}
			for _, seen := range keys {
				if seen == k {
					return b, 0, false // a repeat: the last one wins; ItemFromText knows
				}
			}
			keys = append(keys, k)
			w.space()
			if w.i >= len(w.b) || w.b[w.i] != ':' {
				return b, 0, false
			}
			w.i++
			if len(keys) > 1 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			var n int
			if b, n, ok = w.value(b, depth+1); !ok {
				return b, 0, false
			}
			size += len(k) + n + 1
			if end, ok := w.after('}'); !ok {
				return b, 0, false
			} else if end {
				return append(b, '}', '}'), size, true
			}
		}
	case c == '[':
		w.i++
		b = append(b, `{"L":[`...)
		size := 3
		w.space()
		if w.i < len(w.b) && w.b[w.i] == ']' {
			w.i++
			return append(b, ']', '}'), size, true
		}
		for first := true; ; first = false {
			if !first {
				b = append(b, ',')
			}
			var (
				n  int
				ok bool
			)
			if b, n, ok = w.value(b, depth+1); !ok {
				return b, 0, false
			}
			size += n + 1
			if end, ok := w.after(']'); !ok {
				return b, 0, false
			} else if end {
				return append(b, ']', '}'), size, true
			}
		}
	case c == '"':
		v, ok := w.str()
		if !ok {
			return b, 0, false
		}
		return appendS(b, v), len(v), true
	case c == 't':
		if w.literal("true") {
			return append(b, `{"BOOL":true}`...), 1, true
		}
	case c == 'f':
		if w.literal("false") {
			return append(b, `{"BOOL":false}`...), 1, true
		}
	case c == 'n':
		if w.literal("null") {
			return append(b, `{"NULL":true}`...), 1, true
		}
	case c == '-' || (c >= '0' && c <= '9'):
		n, ok := w.number()
		if !ok || !fastNumberOK(n) && checkNumber(n) != nil {
			return b, 0, false
		}
		return appendN(b, n), numberSize(n), true
	}
	return b, 0, false
}

// ItemFromJSON decodes an item in DynamoDB's JSON wire form (an attribute
// map, as AppendItemJSON writes it) into its attributes: for the calls
// that take an item as attributes (PutItem, BatchWriteItem) when it was
// encoded for a TransactWriteItems.
func ItemFromJSON(b []byte) (map[string]types.AttributeValue, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding an item: %w", err)
	}
	return attrMapFromJSON(m)
}

func attrMapFromJSON(m map[string]json.RawMessage) (map[string]types.AttributeValue, error) {
	item := make(map[string]types.AttributeValue, len(m))
	for k, raw := range m {
		av, err := attrFromJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		item[k] = av
	}
	return item, nil
}

func attrFromJSON(raw json.RawMessage) (types.AttributeValue, error) {
	var u map[string]json.RawMessage
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, err
	}
	if len(u) != 1 {
		return nil, fmt.Errorf("an attribute value has one member, not %d", len(u))
	}
	for kind, v := range u {
		switch kind {
		case "S":
			return member(v, func(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} })
		case "N":
			return member(v, func(s string) types.AttributeValue { return &types.AttributeValueMemberN{Value: s} })
		case "BOOL":
			return member(v, func(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} })
		case "NULL":
			return member(v, func(b bool) types.AttributeValue { return &types.AttributeValueMemberNULL{Value: b} })
		case "B":
			return member(v, func(b []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: b} })
		case "SS":
			return member(v, func(ss []string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: ss} })
		case "NS":
			return member(v, func(ss []string) types.AttributeValue { return &types.AttributeValueMemberNS{Value: ss} })
		case "BS":
			return member(v, func(bs [][]byte) types.AttributeValue { return &types.AttributeValueMemberBS{Value: bs} })
		case "M":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return nil, err
			}
			mm, err := attrMapFromJSON(m)
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberM{Value: mm}, nil
		case "L":
			var l []json.RawMessage
			if err := json.Unmarshal(v, &l); err != nil {
				return nil, err
			}
			out := make([]types.AttributeValue, len(l))
			for i, e := range l {
				var err error
				if out[i], err = attrFromJSON(e); err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
			}
			return &types.AttributeValueMemberL{Value: out}, nil
		default:
			return nil, fmt.Errorf("unknown attribute type %q", kind)
		}
	}
	return nil, nil // not reached: u has one member
}

// member decodes raw as a V and wraps it as an attribute.
func member[V any](raw json.RawMessage, wrap func(V) types.AttributeValue) (types.AttributeValue, error) {
	var v V
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return wrap(v), nil
}
