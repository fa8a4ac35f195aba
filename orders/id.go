package orders

import (
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/anycompany/strangler/internal/orderitem"
)

// crockford is Crockford's base32 alphabet (no I, L, O, U): ids read aloud
// and sort as text in time order.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDs hands out order ids: orderitem.Prefix and 26 characters of Crockford
// base32 over 48 bits of Unix milliseconds and 80 random bits, the layout of
// a ULID. Ids of one IDs are strictly increasing as text, also within one
// millisecond (the random part counts up; a carry out of it borrows the next
// millisecond), so they sort by creation time. The zero value is not usable;
// make one with NewIDs. It is safe for concurrent use and must not be copied.
type IDs struct {
	mu      sync.Mutex
	random  io.Reader
	lastMS  int64
	lastRnd [10]byte
}

// NewIDs returns an id source drawing randomness from random (nil:
// crypto/rand).
func NewIDs(random io.Reader) *IDs {
	if random == nil {
		random = rand.Reader
	}
	return &IDs{random: random}
}

// New returns the id of an order created at now.
func (g *IDs) New(now time.Time) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := now.UnixMilli()
	if ms <= g.lastMS {
		// Same (or an earlier, the clock stepped back) millisecond: keep
		// the last time and count up the random part so ids still increase.
		// A carry out of the random part moves on to the next millisecond.
		ms = g.lastMS + 1
		for i := len(g.lastRnd) - 1; i >= 0; i-- {
			g.lastRnd[i]++
			if g.lastRnd[i] != 0 {
				ms = g.lastMS
				break
			}
		}
	} else if _, err := io.ReadFull(g.random, g.lastRnd[:]); err != nil {
		return "", fmt.Errorf("drawing an order id: %w", err)
	}
	g.lastMS = ms
	var raw [16]byte
	for i := range 6 {
		raw[i] = byte(ms >> (40 - 8*i))
	}
	copy(raw[6:], g.lastRnd[:])
	return orderitem.Prefix + encode32(raw), nil
}

// encode32 writes 128 bits as 26 base32 digits, most significant first
// (the top digit holds 3 bits).
func encode32(raw [16]byte) string {
	var out [26]byte
	// Walk the 130-bit big-endian number (two leading zero bits) 5 bits at a time.
	for i := range 26 {
		bit := i*5 - 2 // index of the digit's first bit within raw
		var v byte
		for j := range 5 {
			b := bit + j
			if b < 0 {
				continue
			}
			v = v<<1 | (raw[b/8]>>(7-b%8))&1
		}
		out[i] = crockford[v]
	}
	return string(out[:])
}
