package codec

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestPlainDecimalIsExact: every decimal the fast path takes as it is, the
// exact path (big.Rat, scale and precision checks) returns unchanged too.
// The fast path must never accept what the exact path would change or
// refuse; refusing a canonical one only costs time, but the common forms
// must take it.
func TestPlainDecimalIsExact(t *testing.T) {
	cases := []string{"0", "-0", "0.00", "-0.00", "5.00", "5.5", "05.00", "-5.00", "123.45", "1234567.89", "12345678.90",
		"1e3", "+1.00", ".50", "5.", "1.000", " 1.00", "1.00 ", "1,00", "", "-", ".", "-.5", "00.00", "0.05", "-0.05",
		"99999999.99", "100000000.00", "18446744073709551616.00"}
	r := rand.New(rand.NewPCG(1, 2))
	const digits = "0123456789"
	for range 20000 {
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteByte('-')
		}
		for range r.IntN(12) {
			b.WriteByte(digits[r.IntN(10)])
		}
		if r.IntN(5) != 0 {
			b.WriteByte('.')
			for range r.IntN(5) {
				b.WriteByte(digits[r.IntN(10)])
			}
		}
		cases = append(cases, b.String())
	}
	taken := 0
	for _, prec := range []int{0, 1, 5, 10, 65} {
		for scale := 0; scale <= 4 && (prec == 0 || scale <= prec); scale++ {
			c := Column{Name: "total", Type: Decimal, Precision: prec, Scale: scale}
			for _, s := range cases {
				if !plainDecimal(s, prec, scale) {
					continue
				}
				taken++
				got, err := c.exactDecimal(s)
				if err != nil || got != s {
					t.Errorf("DECIMAL(%d,%d) %q: fast path keeps it, exact path gives %q, %v", prec, scale, s, got, err)
				}
			}
		}
	}
	for _, s := range []string{"5.00", "0.50", "-12.34", "1234567.89"} {
		if !plainDecimal(s, 10, 2) {
			t.Errorf("DECIMAL(10,2) %q: fast path refuses a canonical value", s)
		}
	}
	if taken < 1000 {
		t.Errorf("the fast path took only %d values: the generator does not exercise it", taken)
	}
}
