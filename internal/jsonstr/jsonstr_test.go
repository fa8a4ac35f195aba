package jsonstr

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestAppendIsEncodingJSON: Append writes exactly the bytes encoding/json
// writes for every string: the awkward ones, and random strings over an
// alphabet of every kind of byte, across the eight-byte fast path's edges.
func TestAppendIsEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", `quote " and \ backslash`, "new\nline\ttab\rret\x00nul\x1fus\x7fdel\bbs\fff",
		"héllo wörld ✓ 🙂", "line\u2028sep\u2029", "bad \xff utf-8 \xc3", `{"json":"as text"}`, "</script>&<>",
		strings.Repeat("abcdefgh", 9), strings.Repeat("x", 7) + "<" + strings.Repeat("y", 8)}
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("abcXYZ019 {}:,\"\\\x00\x01\x1f\x7f\n\t\b\f/<>&" + "é✓🙂\u2028\u2029" + "\xff\xc3\xe2\x80")
	for n := range 20000 {
		b := make([]byte, n%50)
		for i := range b {
			if r.IntN(3) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte('a' + r.IntN(26))
			}
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append(nil, s); string(got) != string(want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}

// BenchmarkAppend encodes an event detail (JSON as a string, so
// quote-heavy) and a plain attribute; -benchmem shows no allocation.
func BenchmarkAppend(b *testing.B) {
	detail := `{"event_id":"0-1-322907.12.o#123","occurred_at":"2026-11-22T18:16:43.000000Z","source_position":"0000000001000000322907000012",` +
		`"order":{"id":123,"customer_id":"cust-0042","status":"accepted","total":"123.45","currency":"EUR","items":[{"sku":"sku-1","qty":2,"price":"10.00"}],` +
		`"shipping_address":{"street":"1 Main St","city":"Springfield","zip":"12345"},"notes":"leave at the door","created_at":"2026-11-22 18:16:43"}}`
	plain := "leave at the door, ring twice, thank you very much"
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(detail) + len(plain)))
	for b.Loop() {
		buf = Append(Append(buf[:0], detail), plain)
	}
}

// TestPlain8: for every byte at every position of a word of plain bytes,
// the eight-byte test agrees with the byte table.
func TestPlain8(t *testing.T) {
	for c := range 256 {
		for p := range 8 {
			w := []byte("aZ 9~!%'")
			w[p] = byte(c)
			if got, want := plain8(binary.LittleEndian.Uint64(w)), !look[c]; got != want {
				t.Errorf("byte %#x at %d: plain8 %v, want %v", c, p, got, want)
			}
		}
	}
}

// TestSpecial8First: in a word with bytes to look at (one or two, any
// bytes, any positions), special8's lowest set bit is in the first.
func TestSpecial8First(t *testing.T) {
	var specials []int
	for c := range 256 {
		if look[c] {
			specials = append(specials, c)
		}
	}
	for _, c := range specials {
		for p := range 8 {
			for d := range 256 {
				for q := p + 1; q < 8; q++ {
					w := []byte("aZ 9~!%'")
					w[p], w[q] = byte(c), byte(d)
					if got := bits.TrailingZeros64(special8(binary.LittleEndian.Uint64(w))) >> 3; got != p {
						t.Fatalf("bytes %#x at %d, %#x at %d: first at %d", c, p, d, q, got)
					}
				}
			}
		}
	}
}
