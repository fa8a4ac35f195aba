package codec

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestCanonicalNumber(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "0.0": "0", "-0.000e5": "0", "0e-7": "0",
		"42": "42", "-7": "-7", "1.5": "1.5", "1.50": "1.5", "1.500000": "1.5", "2.0": "2", "-2.0": "-2",
		"19.90": "19.9", "0.05": "0.05", "100": "100", "1e3": "1000", "1E3": "1000", "1e+3": "1000", "-3e5": "-300000",
		"1.5e1": "15", "1.25e-1": "0.125", "12.5E-3": "0.0125",
		"0.000001": "0.000001", "0.0000001": "1e-7", "1e-7": "1e-7", "0.00000012": "1.2e-7", "1.2e-7": "1.2e-7",
		"1e-130": "1e-130", "1E-130": "1e-130", "9.9e125": "9.9e+125",
		"100000000000000000000": "100000000000000000000", "1e20": "100000000000000000000",
		"1000000000000000000000": "1e+21", "1e21": "1e+21", "1.0e21": "1e+21", "1234567890123456789012": "1.234567890123456789012e+21",
		"123456789012345678901": "123456789012345678901", "18446744073709551615": "18446744073709551615",
		"-9223372036854775808":                 "-9223372036854775808",
		"0.1000000000000000055511151231257827": "0.1000000000000000055511151231257827", // never rounded
		"1.5e300":                              "1.5e+300",
		// go-mysql's whole doubles, written out in full, are the double.
		"99999999999999991611392.0":      "1e+23",
		"-149016923582173363136626688.0": "-1.4901692358217336e+26",
		"99999999999999991611392":        "9.9999999999999991611392e+22",                                             // an integer is exact
		"99999999999999991611393.0":      "9.9999999999999991611393e+22", "34797044285267152.0": "34797044285267150", // not a double's value
		"9007199254740993.0": "9007199254740993",
		"1e9999999999":       "1e9999999999", // exponent beyond int32: left as it is
	} {
		if got := canonicalNumber(in); got != want {
			t.Errorf("canonicalNumber(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestCanonicalNumberOfDoubles: every text go-mysql and MySQL write for one
// double (shortest 'g', plain 'f', a trailing ".0", MySQL's "1e21") has the
// same canonical text, and that text is the double's exact value.
func TestCanonicalNumberOfDoubles(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 50000 {
		f := math.Float64frombits(r.Uint64())
		switch i % 4 {
		case 0:
			f = float64(r.Int64N(1e6)) / 100 // money-like
		case 1:
			f = math.Ldexp(r.Float64(), r.IntN(200)-100)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		g := strconv.FormatFloat(f, 'g', -1, 64)
		texts := []string{g, strconv.FormatFloat(f, 'e', -1, 64), strings.Replace(g, "e+", "e", 1)}
		if math.Abs(f) < 1e30 && math.Abs(f) > 1e-30 || f == 0 {
			texts = append(texts, strconv.FormatFloat(f, 'f', -1, 64))
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e30 {
			texts = append(texts, strconv.FormatFloat(f, 'f', 1, 64)) // go-mysql's 1.0
		}
		want := canonicalNumber(texts[0])
		for _, s := range texts[1:] {
			if got := canonicalNumber(s); got != want {
				t.Fatalf("%v: canonicalNumber(%s) = %s, canonicalNumber(%s) = %s", f, texts[0], want, s, got)
			}
		}
		a, _ := new(big.Rat).SetString(want)
		b, _ := new(big.Rat).SetString(g)
		if a == nil || a.Cmp(b) != 0 {
			t.Fatalf("%v: canonical %s is not the value of %s", f, want, g)
		}
		if !plainCanonical(want) && canonicalNumber(want) != want {
			t.Fatalf("%v: canonical %s is not a fixed point", f, want)
		}
	}
}

// TestPlainCanonicalIsExact: the fast path takes only numbers the full path
// returns unchanged.
func TestPlainCanonicalIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789.-e"
	for range 100000 {
		var b strings.Builder
		for range 1 + r.IntN(26) {
			if r.IntN(4) == 0 {
				b.WriteByte(alphabet[r.IntN(len(alphabet))])
			} else {
				b.WriteByte(alphabet[r.IntN(10)])
			}
		}
		s := b.String()
		if !plainCanonical(s) {
			continue
		}
		if _, ok := new(big.Rat).SetString(s); !ok {
			continue
		}
		if full := canonicalNumberSlow(s); full != s {
			t.Fatalf("plainCanonical(%s) but the full path writes %s", s, full)
		}
	}
	for _, s := range []string{"42", "-7", "19.9", "0.5", "0.000001", "123456789012345678901"} {
		if !plainCanonical(s) {
			t.Errorf("plainCanonical(%s) = false for a common canonical number", s)
		}
	}
}

// canonicalNumberSlow is canonicalNumber without its fast path.
func canonicalNumberSlow(n string) string {
	// An exponent of 0 sends it through the full path; it changes no value.
	return canonicalNumber(n + "e0")
}
