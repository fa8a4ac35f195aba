package codec

// The JSON grammar the column readers share: jsonScanner (text to
// attributes), jsonWriter (text to DynamoDB's JSON) and the compactor (text
// to compact text).

// skipSpace returns the position after the JSON white space at b[i:].
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// hasLiteral reports that b[i:] starts with word.
func hasLiteral(b []byte, i int, word string) bool {
	return len(b)-i >= len(word) && string(b[i:i+len(word)]) == word
}

// numberEnd returns the end of the JSON number at b[i:] (RFC 8259's
// grammar, as encoding/json reads it: -?(0|[1-9][0-9]*)(.[0-9]+)?
// ([eE][+-]?[0-9]+)?); ok is false when none starts there.
func numberEnd(b []byte, i int) (end int, ok bool) {
	digits := func() bool {
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > d
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		digits()
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
}

// AppendCompactJSON is json.Compact for the common documents, a few times
// faster: it reads the JSON grammar by recursive descent and appends every
// token as it stands, dropping the space between them, which is all
// Compact writes. It takes only what Compact takes; for any other input ok
// is false (and out must be dropped: the caller asks json.Compact, for its
// error), as it is past maxCompactDepth levels.
func AppendCompactJSON(dst, src []byte) (out []byte, ok bool) {
	c := compactor{src: src, dst: dst}
	if !c.value(0) || skipSpace(src, c.i) != len(src) {
		return dst, false
	}
	return c.dst, true
}

type compactor struct {
	src []byte
	i   int
	dst []byte
}

const maxCompactDepth = 512

// space skips white space and reports that something follows it.
func (c *compactor) space() bool {
	c.i = skipSpace(c.src, c.i)
	return c.i < len(c.src)
}

func (c *compactor) value(depth int) bool {
	if depth > maxCompactDepth || !c.space() {
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
		if c.space() && c.src[c.i] == closing {
			c.dst = append(c.dst, closing)
			c.i++
			return true
		}
		for {
			if ch == '{' {
				if !c.space() || c.src[c.i] != '"' || !c.str() {
					return false
				}
				if !c.space() || c.src[c.i] != ':' {
					return false
				}
				c.dst = append(c.dst, ':')
				c.i++
			}
			if !c.value(depth+1) || !c.space() {
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
		end, ok := numberEnd(c.src, c.i)
		if ok {
			c.dst = append(c.dst, c.src[c.i:end]...)
			c.i = end
		}
		return ok
	}
	return false
}

func (c *compactor) literal(word string) bool {
	if !hasLiteral(c.src, c.i, word) {
		return false
	}
	c.dst = append(c.dst, word...)
	c.i += len(word)
	return true
}

// str copies the string at c.i (its quote) as it stands: any byte from
// 0x20 but the quote and the backslash, and the escapes JSON has (Compact
// does not check UTF-8 either).
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
