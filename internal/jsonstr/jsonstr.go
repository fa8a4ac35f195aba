// Package jsonstr appends a string as a JSON string, byte for byte as
// encoding/json writes it (HTML characters escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped), without encoding/json's reflection
// and eight bytes at a time while none needs a look. The cdc's event
// details and awsconf's request encoders write their strings with it.
package jsonstr

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// escapes[c] is the escape of ASCII byte c, or "" when c stands as it is.
var escapes = func() (t [utf8.RuneSelf]string) {
	const hex = "0123456789abcdef"
	for c := range 0x20 {
		t[c] = `\u00` + string(hex[c>>4]) + string(hex[c&0xf])
	}
	t['\b'], t['\f'], t['\n'], t['\r'], t['\t'] = `\b`, `\f`, `\n`, `\r`, `\t`
	t['"'], t['\\'] = `\"`, `\\`
	t['<'], t['>'], t['&'] = `\u003c`, `\u003e`, `\u0026`
	return t
}()

// look[c] is true for a byte Append must look at: one with an escape, or
// one of 0x80 and over (its UTF-8 is checked).
var look = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= utf8.RuneSelf || escapes[c] != ""
	}
	return t
}()

// Append appends s quoted to b.
func Append(b []byte, s string) []byte {
	b = append(b, '"')
	start, i := 0, 0
	for i < len(s) {
		if i+8 <= len(s) {
			m := special8(binary.LittleEndian.Uint64([]byte(s[i : i+8])))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3 // the first byte to look at
		} else if !look[s[i]] {
			i++
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			if c == '"' || c == '\\' {
				b = append(b, '\\', c) // the common escapes (a JSON text's quotes): no copy of a table string
			} else {
				b = append(b, escapes[c]...)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', "0123456789abcdef"[r&0xf])
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports that none of the eight bytes of w needs a look: none is
// 0x80 or over, under 0x20, or one of " \ < > & (bit tricks from "Bit
// Twiddling Hacks": a byte under n, a zero byte). '"' (0x22) and '&'
// (0x26) are the only bytes b with b|0x04 == 0x26, '<' (0x3c) and '>'
// (0x3e) the only ones with b|0x02 == 0x3e: five bytes in three tests.
func plain8(w uint64) bool { return special8(w) == 0 }

// special8 has the high bit of each byte of w that needs a look set, and
// maybe of some after the first such byte (a borrow runs up), never of one
// before it: its lowest set bit is in the first byte to look at.
func special8(w uint64) uint64 {
	under20 := (w - ones*0x20) & ^w & highs
	return (w & highs) | under20 | zero((w|ones*0x04)^ones*0x26) | zero((w|ones*0x02)^ones*0x3e) | zero(w^ones*'\\')
}

// zero is non-zero when a byte of x is zero.
func zero(x uint64) uint64 { return (x - ones) & ^x & highs }
