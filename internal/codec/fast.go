package codec

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ItemFromText maps a text-protocol row (as RowFromText takes it) straight
// to its item, without the canonical row between them: the bulk path of the
// backfill. The result is always what Item(RowFromText(raw)) gives, with key
// = KeyString of that row and size = ItemSize of the item: the common values
// (strings, integers, plain decimals, DATETIME(0/6), JSON text) are encoded
// directly, JSON by a scanner that builds the attributes as it reads; any
// other value goes through FromText and Attr; and a row anything refuses is
// decoded again by RowFromText and Item, so its error is theirs, word for
// word. rowErr reports that RowFromText refused the row (the row is bad),
// rather than Item (the row cannot be an item); key is then raw[0].
func (m *Mapping) ItemFromText(raw [][]byte) (item map[string]types.AttributeValue, key string, size int, rowErr bool, err error) {
	return m.itemFromText(raw, &slabs{})
}

// ItemBuilder is Mapping.ItemFromText for a run of rows read by one
// goroutine (a backfill chunk): the items it returns share their string
// text and attribute structs in larger blocks, a few allocations per dozen
// rows rather than per row. A block lives as long as any item that uses
// it, so an item held long keeps a few kilobytes of its neighbours alive.
// An ItemBuilder is not safe for concurrent use and must not be copied;
// make one with Mapping.NewItemBuilder.
type ItemBuilder struct {
	m  *Mapping
	sl slabs
}

// NewItemBuilder returns an ItemBuilder of m's items.
func (m *Mapping) NewItemBuilder() *ItemBuilder {
	return &ItemBuilder{m: m, sl: slabs{shared: true}}
}

// ItemFromText is Mapping.ItemFromText; the item may share memory with
// the builder's other items (never one value with another item).
func (b *ItemBuilder) ItemFromText(raw [][]byte) (item map[string]types.AttributeValue, key string, size int, rowErr bool, err error) {
	return b.m.itemFromText(raw, &b.sl)
}

func (m *Mapping) itemFromText(raw [][]byte, sl *slabs) (map[string]types.AttributeValue, string, int, bool, error) {
	if len(raw) == len(m.Columns) && (m.ref <= 0 || raw[m.ref] == nil) {
		if item, key, size, ok := m.fastItem(raw, sl); ok {
			return item, key, size, false, nil
		}
	}
	return m.slowItem(raw)
}

// slowItem is ItemFromText by way of RowFromText and Item.
func (m *Mapping) slowItem(raw [][]byte) (map[string]types.AttributeValue, string, int, bool, error) {
	row, err := m.RowFromText(raw)
	if err != nil {
		k := ""
		if len(raw) > 0 {
			k = string(raw[0])
		}
		return nil, k, 0, true, err
	}
	key := m.KeyString(row)
	item, err := m.Item(row)
	if err != nil {
		return nil, key, 0, false, err
	}
	return item, key, ItemSize(item), false, nil
}

// fastItem encodes raw (no ref) directly; ok is false when anything is
// unusual, and the caller takes the slow path. It copies the row's text
// into one string, which every string and number attribute then slices,
// and takes the attributes from slabs: a handful of allocations a row
// instead of one per value.
func (m *Mapping) fastItem(raw [][]byte, sl *slabs) (map[string]types.AttributeValue, string, int, bool) {
	var offsets [64]int
	if len(m.Columns) > len(offsets)-1 {
		return nil, "", 0, false
	}
	// attrs counts the item's attributes: the key, the values and the
	// position stamp guard adds; a map made for exactly them is half the
	// size of one made for every column when a few are NULL.
	total, attrs := len(raw[0]), 2
	for i := 1; i < len(m.Columns); i++ {
		if raw[i] == nil || i == m.ref {
			continue
		}
		attrs++
		if t := m.Columns[i].Type; t == Datetime || t == Timestamp {
			total += len(TimeLayout)
			continue
		}
		total += len(raw[i])
	}
	sb := sl.text(total)
	base := sb.Len()
	sb.Write(raw[0])
	for i := 1; i < len(m.Columns); i++ {
		offsets[i] = sb.Len() - base
		if raw[i] == nil || i == m.ref {
			continue
		}
		if t := m.Columns[i].Type; t == Datetime || t == Timestamp {
			var out [len(TimeLayout)]byte
			if !fastDatetime(raw[i], &out) {
				return nil, "", 0, false
			}
			sb.Write(out[:])
			continue
		}
		sb.Write(raw[i])
	}
	all := sb.String()[base:]
	// A row an earlier scan gave up on may have left list elements.
	clear(sl.stack)
	sl.stack = sl.stack[:0]
	key, ok := m.fastKey(raw[0], all[:len(raw[0])])
	if !ok {
		return nil, "", 0, false
	}
	item := make(map[string]types.AttributeValue, attrs)
	item[AttrPK] = sl.s(key)
	size := len(AttrPK) + len(key)
	for i := 1; i < len(m.Columns); i++ {
		b := raw[i]
		if b == nil || i == m.ref {
			continue
		}
		c := &m.Columns[i]
		src := all[offsets[i]:]
		if t := c.Type; t == Datetime || t == Timestamp {
			src = src[:len(TimeLayout)]
		} else {
			src = src[:len(b)]
		}
		av, n, ok := c.fastAttrIn(b, src, sl)
		if !ok {
			return nil, "", 0, false
		}
		item[c.Attribute] = av
		size += len(c.Attribute) + n
	}
	return item, key, size, true
}

// slabs hands out attributes from small arrays, one allocation for many,
// and, when shared, the rows' text from one buffer. A slab lives as long as
// any of its attributes: all of one item, or, shared (ItemBuilder), of the
// few neighbouring items that took from it.
type slabs struct {
	shared bool
	ss     []types.AttributeValueMemberS
	ns     []types.AttributeValueMemberN
	ms     []types.AttributeValueMemberM
	ls     []types.AttributeValueMemberL
	// elems holds the elements of lists: l takes them from stack, where
	// the scanner pushed them, in one exact-length slice of elems.
	elems  []types.AttributeValue
	stack  []types.AttributeValue
	stack0 [16]types.AttributeValue
	buf    *strings.Builder
}

// grow is the capacity of a new slab of n per item.
func (a *slabs) grow(n int) int {
	if a.shared {
		return 16 * n
	}
	return n
}

// text returns a builder with room for n more bytes after its Len: a fresh
// one per item, or the shared buffer, renewed when full (the strings cut
// from the old one keep it alive).
func (a *slabs) text(n int) *strings.Builder {
	if !a.shared {
		var sb strings.Builder
		sb.Grow(n)
		return &sb
	}
	if a.buf == nil || a.buf.Cap()-a.buf.Len() < n {
		a.buf = new(strings.Builder)
		a.buf.Grow(max(n, 16<<10))
	}
	return a.buf
}

func (a *slabs) s(v string) *types.AttributeValueMemberS {
	if len(a.ss) == cap(a.ss) {
		a.ss = make([]types.AttributeValueMemberS, 0, a.grow(16))
	}
	a.ss = append(a.ss, types.AttributeValueMemberS{Value: v})
	return &a.ss[len(a.ss)-1]
}

func (a *slabs) n(v string) *types.AttributeValueMemberN {
	if len(a.ns) == cap(a.ns) {
		a.ns = make([]types.AttributeValueMemberN, 0, a.grow(8))
	}
	a.ns = append(a.ns, types.AttributeValueMemberN{Value: v})
	return &a.ns[len(a.ns)-1]
}

func (a *slabs) m(v map[string]types.AttributeValue) *types.AttributeValueMemberM {
	if len(a.ms) == cap(a.ms) {
		a.ms = make([]types.AttributeValueMemberM, 0, a.grow(4))
	}
	a.ms = append(a.ms, types.AttributeValueMemberM{Value: v})
	return &a.ms[len(a.ms)-1]
}

// l returns the list of the elements pushed on the stack since start, and
// pops them.
func (a *slabs) l(start int) *types.AttributeValueMemberL {
	n := len(a.stack) - start
	if a.elems == nil || cap(a.elems)-len(a.elems) < n {
		c := n
		if a.shared {
			c = max(n, 128)
		}
		a.elems = make([]types.AttributeValue, 0, c)
	}
	i := len(a.elems)
	a.elems = append(a.elems, a.stack[start:]...)
	clear(a.stack[start:])
	a.stack = a.stack[:start]
	if len(a.ls) == cap(a.ls) {
		a.ls = make([]types.AttributeValueMemberL, 0, a.grow(2))
	}
	a.ls = append(a.ls, types.AttributeValueMemberL{Value: a.elems[i : i+n : i+n]})
	return &a.ls[len(a.ls)-1]
}

// fastKey is KeyString of a row without a ref, with CheckKey's refusals
// left to the slow path.
func (m *Mapping) fastKey(b []byte, s string) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	switch m.Columns[0].Type {
	case String:
		if !utf8.Valid(b) {
			return "", false
		}
		return s, true
	case Int, Uint:
		if !canonicalInteger(b, m.Columns[0].Type == Int) {
			return "", false
		}
		var err error
		if m.Columns[0].Type == Int {
			_, err = strconv.ParseInt(s, 10, 64)
		} else {
			_, err = strconv.ParseUint(s, 10, 64)
		}
		return s, err == nil
	}
	return "", false
}

// canonicalInteger reports an integer as strconv formats one: an optional
// minus (signed only), then 0 or digits without a leading zero, never -0.
func canonicalInteger(b []byte, signed bool) bool {
	if signed && len(b) > 1 && b[0] == '-' {
		b = b[1:]
		if b[0] == '0' {
			return false
		}
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// fastAttr encodes one non-NULL text value as Attr(FromText(b)) does and
// returns attrSize of the attribute; ok is false when the value is refused.
func (c *Column) fastAttr(b []byte) (types.AttributeValue, int, bool) {
	src := string(b)
	if c.Type == Datetime || c.Type == Timestamp {
		var out [len(TimeLayout)]byte
		if !fastDatetime(b, &out) {
			return nil, 0, false
		}
		src = string(out[:])
	}
	return c.fastAttrIn(b, src, &slabs{})
}

// fastAttrIn is fastAttr given src, the value's text as a string (for a
// DATETIME or TIMESTAMP already in TimeLayout), which the attributes slice.
func (c *Column) fastAttrIn(b []byte, src string, sl *slabs) (types.AttributeValue, int, bool) {
	switch c.Type {
	case String, Enum:
		if !utf8.Valid(b) {
			return nil, 0, false
		}
		return sl.s(src), len(src), true
	case Int, Uint:
		if canonicalInteger(b, c.Type == Int) {
			var err error
			if c.Type == Int {
				_, err = strconv.ParseInt(src, 10, 64)
			} else {
				_, err = strconv.ParseUint(src, 10, 64)
			}
			if err != nil {
				return nil, 0, false
			}
			return sl.n(src), numberSize(src), true
		}
	case Decimal:
		if plainDecimal(b, c.Precision, c.Scale) {
			if c.numberAsString() {
				return sl.s(src), len(src), true
			}
			return sl.n(src), numberSize(src), true
		}
	case Datetime, Timestamp:
		return sl.s(src), len(src), true
	case JSON:
		sc := jsonScanner{b: b, src: src, sl: sl}
		av, n, ok := sc.value(0)
		if !ok {
			return nil, 0, false
		}
		sc.space()
		if sc.i != len(sc.b) {
			return nil, 0, false
		}
		return av, n, true
	}
	v, err := c.FromText(b, false)
	if err != nil {
		return nil, 0, false
	}
	av, err := c.Attr(v)
	if err != nil {
		return nil, 0, false
	}
	return av, attrSize(av), true
}

func numberSize(s string) int { return (len(s)+1)/2 + 1 }

// plainDecimal reports a decimal that decimal() returns unchanged: an
// optional minus, the whole part without leading zeros (or a single 0) and
// within precision-scale digits, then exactly scale decimals (no point when
// scale is 0), and not a negative zero.
func plainDecimal[T string | []byte](b T, precision, scale int) bool {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	whole := len(b)
	if scale > 0 {
		whole = len(b) - scale - 1
		if whole < 1 || b[whole] != '.' {
			return false
		}
	}
	if whole < 1 || (b[0] == '0' && whole > 1) {
		return false
	}
	if precision > 0 && whole > precision-scale && !(whole == 1 && b[0] == '0') {
		return false
	}
	zero := true
	for i := 0; i < len(b); i++ {
		c := b[i]
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

// fastDatetime writes "2006-01-02 15:04:05" or "2006-01-02 15:04:05.000000"
// (a real date, not a zero one) into out in TimeLayout.
func fastDatetime(b []byte, out *[len(TimeLayout)]byte) bool {
	if len(b) != 19 && len(b) != 26 {
		return false
	}
	for i, c := range b {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		case 19:
			if c != '.' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || num(11, 2) > 23 || num(14, 2) > 59 || num(17, 2) > 59 {
		return false
	}
	copy(out[:], b[:10])
	out[10] = 'T'
	copy(out[11:19], b[11:19])
	out[19] = '.'
	if len(b) == 26 {
		copy(out[20:26], b[20:26])
	} else {
		copy(out[20:26], "000000")
	}
	out[26] = 'Z'
	return true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// jsonScanner reads one JSON value straight into attributes, as
// decodeJSON then jsonAttr would map it. It accepts only what both accept
// (ok false otherwise, and the caller takes the slow path for the error).
type jsonScanner struct {
	b []byte
	// src is b as a string: strings and numbers are slices of it.
	src string
	sl  *slabs
	i   int
}

func (s *jsonScanner) space() { s.i = skipSpace(s.b, s.i) }

// after reads what follows a member of an object or array: a ',' (end is
// false: another member follows) or its closing byte (end is true); ok is
// false for anything else.
func (s *jsonScanner) after(closing byte) (end, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return false, true
	case closing:
		s.i++
		return true, true
	}
	return false, false
}

// value reads the value at s.i, nested depth levels deep, and returns its
// attribute and attrSize.
func (s *jsonScanner) value(depth int) (types.AttributeValue, int, bool) {
	if depth > maxDepth {
		return nil, 0, false
	}
	s.space()
	if s.i >= len(s.b) {
		return nil, 0, false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		m := make(map[string]types.AttributeValue, 8)
		size := 3
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return s.sl.m(m), size, true
		}
		for {
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return nil, 0, false
			}
			k, ok := s.str()
			if !ok || k == "" {
				return nil, 0, false
			}
			s.space()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return nil, 0, false
			}
			s.i++
			v, n, ok := s.value(depth + 1)
			if !ok {
				return nil, 0, false
			}
			before := len(m)
			m[k] = v
			if len(m) == before {
				return nil, 0, false // a duplicate: the last one wins; the slow path knows
			}
			size += len(k) + n + 1
			if end, ok := s.after('}'); !ok {
				return nil, 0, false
			} else if end {
				return s.sl.m(m), size, true
			}
		}
	case c == '[':
		s.i++
		start := len(s.sl.stack)
		size := 3
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return s.sl.l(start), size, true
		}
		for {
			v, n, ok := s.value(depth + 1)
			if !ok {
				return nil, 0, false
			}
			if s.sl.stack == nil {
				s.sl.stack = s.sl.stack0[:0]
			}
			s.sl.stack = append(s.sl.stack, v)
			size += n + 1
			if end, ok := s.after(']'); !ok {
				return nil, 0, false
			} else if end {
				return s.sl.l(start), size, true
			}
		}
	case c == '"':
		v, ok := s.str()
		if !ok {
			return nil, 0, false
		}
		return s.sl.s(v), len(v), true
	case c == 't':
		if s.literal("true") {
			return &types.AttributeValueMemberBOOL{Value: true}, 1, true
		}
	case c == 'f':
		if s.literal("false") {
			return &types.AttributeValueMemberBOOL{Value: false}, 1, true
		}
	case c == 'n':
		if s.literal("null") {
			return &types.AttributeValueMemberNULL{Value: true}, 1, true
		}
	case c == '-' || (c >= '0' && c <= '9'):
		n, ok := s.number()
		if !ok || !fastNumberOK(n) && checkNumber(n) != nil {
			return nil, 0, false
		}
		return s.sl.n(n), numberSize(n), true
	}
	return nil, 0, false
}

func (s *jsonScanner) literal(word string) bool {
	if !hasLiteral(s.b, s.i, word) {
		return false
	}
	s.i += len(word)
	return true
}

// str reads the string at s.i (its opening quote) as encoding/json decodes
// it: plain runs are copied, anything with escapes or bytes beyond ASCII
// that are not valid UTF-8 is decoded by encoding/json itself.
func (s *jsonScanner) str() (string, bool) {
	start := s.i
	s.i++
	escaped, high := false, false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !escaped && (!high || utf8.Valid(s.b[start+1:s.i-1])) {
				return s.src[start+1 : s.i-1], true
			}
			var v string
			if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
				return "", false
			}
			return v, true
		case c == '\\':
			escaped = true
			s.i += 2
			continue
		case c < 0x20:
			return "", false
		case c >= 0x80:
			high = true
		}
		s.i++
	}
	return "", false
}

// number reads a JSON number's text (RFC 8259's grammar, as encoding/json
// reads it).
func (s *jsonScanner) number() (string, bool) {
	end, ok := numberEnd(s.b, s.i)
	if !ok {
		return "", false
	}
	n := s.src[s.i:end]
	s.i = end
	return n, true
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
