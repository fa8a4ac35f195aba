package codec

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Canonical JSON numbers.
//
// A JSON column's numbers are kept exactly but written in one canonical
// text, whatever the source wrote: MariaDB keeps the JSON text it was given
// ("1.50", "1e3", "-0"), MySQL keeps binary JSON (1.50 becomes the double
// 1.5, printed "1.5" by MySQL and "1.5" or "1.50" by the binlog decoder, a
// DECIMAL inside JSON keeps its scale) and DynamoDB normalises the numbers
// it stores. So the same row gives the same item and the same event on both
// flavors and from the backfill, the cdc and a DynamoDB read, a number is
// written as its exact decimal value in the form ECMAScript's
// Number.prototype.toString uses for a double, applied to all the digits:
//
//   - no sign on zero, no leading zeros, no trailing zeros after the point
//     and no point without a fraction: 1.50 -> 1.5, 2.0 -> 2, -0 -> 0;
//   - plain digits while the decimal exponent allows (1e3 -> 1000,
//     0.000001 stays), an exponent otherwise: 1e21 -> 1e+21,
//     0.0000001 -> 1e-7, 1.5E300 -> 1.5e+300.
//
// The digits are never rounded: 0.1000000000000000055511 stays so. A MySQL
// double has at most 17 significant digits, so a number with more digits
// differs between a MariaDB row and a MySQL one because MySQL rounded it
// when the row was written, not because of this form.

// canonicalNumber returns the canonical text of a JSON number n (as
// encoding/json validated it); a number whose exponent does not fit an int32
// is returned as it is (DynamoDB refuses it anyway).
func canonicalNumber(n string) string {
	if plainCanonical(n) {
		return n
	}
	n = wholeDouble(n)
	neg := strings.HasPrefix(n, "-")
	s := strings.TrimPrefix(n, "-")
	mant, expText, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.ParseInt(strings.TrimPrefix(expText, "+"), 10, 32)
		if err != nil {
			return n
		}
		exp = int(e)
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := whole + frac
	point := len(whole) + exp // digits × 10^(point-len(digits))
	trimmed := strings.TrimLeft(digits, "0")
	point -= len(digits) - len(trimmed)
	digits = strings.TrimRight(trimmed, "0")
	if digits == "" {
		return "0"
	}
	out := formatDigits(digits, point)
	if neg {
		return "-" + out
	}
	return out
}

// wholeDouble returns the shortest text of a double that n writes out in
// full: go-mysql renders a whole double of binary JSON with all its digits
// and ".0" (1e23 as 99999999999999991611392.0) where MySQL writes the
// shortest text that reads back as the same double (1e23). A number with
// that ".0" form, at least 2^53 and exactly a double's value is taken as
// that double; anything else is returned as it is. (Below 2^53 the two
// texts have the same value. Above it, a person writing such a number by
// hand is all but impossible: it must be a multiple of a large power of
// two.)
func wholeDouble(n string) string {
	whole, ok := strings.CutSuffix(n, ".0")
	if !ok || len(strings.TrimPrefix(whole, "-")) < 16 || !allDigits(strings.TrimPrefix(whole, "-")) {
		return n
	}
	f, err := strconv.ParseFloat(whole, 64)
	if err != nil || strconv.FormatFloat(f, 'f', 0, 64) != whole {
		return n
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// formatDigits writes digits (no leading or trailing zero) × 10^(point -
// len(digits)) as ECMAScript writes a number: plain for point in (-6, 21],
// with an exponent otherwise.
func formatDigits(digits string, point int) string {
	k := len(digits)
	switch {
	case k <= point && point <= 21:
		return digits + strings.Repeat("0", point-k)
	case 0 < point && point <= 21:
		return digits[:point] + "." + digits[point:]
	case -6 < point && point <= 0:
		return "0." + strings.Repeat("0", -point) + digits
	}
	e := point - 1
	sign := "+"
	if e < 0 {
		sign, e = "-", -e
	}
	out := digits[:1]
	if k > 1 {
		out += "." + digits[1:]
	}
	return out + "e" + sign + strconv.Itoa(e)
}

// plainCanonical reports a number canonicalNumber returns unchanged without
// taking it apart: digits with an optional fraction, no exponent, no
// leading zero, a fraction not ending in 0, a whole part of at most 21
// digits and not 0.000000… (the most common numbers: 42, -7, 19.9, 0.5).
func plainCanonical(n string) bool {
	s := strings.TrimPrefix(n, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	switch {
	case whole == "" || len(whole) > 21 || !allDigits(whole):
		return false
	case whole[0] == '0' && len(whole) > 1:
		return false
	case !hasFrac:
		return whole != "0" || n == "0" // -0 is 0
	case frac == "" || !allDigits(frac) || frac[len(frac)-1] == '0':
		return false
	}
	// 0.000000d… is written with an exponent.
	return whole != "0" || !strings.HasPrefix(frac, "000000")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// canonicalJSON replaces JSON null (nil after decoding) by JSONNull and
// every number by its canonical text, in place.
func canonicalJSON(v any) any {
	switch t := v.(type) {
	case nil:
		return JSONNull{}
	case json.Number:
		return json.Number(canonicalNumber(string(t)))
	case map[string]any:
		for k, e := range t {
			t[k] = canonicalJSON(e)
		}
	case []any:
		for i, e := range t {
			t[i] = canonicalJSON(e)
		}
	}
	return v
}
