// Package order holds the order model that the legacy and the new order
// service share: the wire form of the order API, money as exact decimals,
// timestamps with microseconds, the create request and its validation rules,
// and the status machine.
package order

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Channel is the sales channel an API key, and so an order, belongs to.
type Channel string

// The two channels.
const (
	Retail    Channel = "retail"
	Wholesale Channel = "wholesale"
)

// ParseChannel accepts "retail" or "wholesale".
func ParseChannel(s string) (Channel, error) {
	switch Channel(s) {
	case Retail, Wholesale:
		return Channel(s), nil
	}
	return "", fmt.Errorf("unknown channel %q: use retail or wholesale", s)
}

// Status is an order's place in its life cycle.
type Status string

// The statuses, in life-cycle order; cancelled can be reached from any
// status before shipped.
const (
	Pending    Status = "pending"
	Accepted   Status = "accepted"
	Processing Status = "processing"
	Shipped    Status = "shipped"
	Cancelled  Status = "cancelled"
)

// Statuses lists every status, in the order of the legacy ENUM.
var Statuses = []Status{Pending, Accepted, Processing, Shipped, Cancelled}

// ParseStatus accepts one of Statuses.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown status %q", s)
}

// CanAdvance reports whether PATCH may move an order from s to next: only
// accepted -> processing -> shipped.
func (s Status) CanAdvance(next Status) bool {
	return (s == Accepted && next == Processing) || (s == Processing && next == Shipped)
}

// CanCancel reports whether an order in status s may be cancelled. A
// cancelled order may be cancelled again (the call is idempotent); a shipped
// one may not.
func (s Status) CanCancel() bool { return s != Shipped }

// Order is the order as the API returns it.
type Order struct {
	ID              string    `json:"id"`
	CustomerID      string    `json:"customer_id"`
	Channel         Channel   `json:"channel"`
	Status          Status    `json:"status"`
	Currency        string    `json:"currency"`
	Items           []Item    `json:"items"`
	Total           Money     `json:"total"`
	ShippingAddress *Address  `json:"shipping_address,omitempty"`
	Notes           string    `json:"notes,omitempty"`
	CreatedAt       Timestamp `json:"created_at"`
	UpdatedAt       Timestamp `json:"updated_at"`
	Version         uint32    `json:"version"`
}

// Item is one order line.
type Item struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitPrice Money  `json:"unit_price"`
}

// Address is a shipping address.
type Address struct {
	Name       string `json:"name"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Total sums quantity * unit price over items.
func Total(items []Item) (Money, error) {
	var t Money
	for i, it := range items {
		line := Money(int64(it.UnitPrice) * int64(it.Quantity))
		if it.Quantity != 0 && int64(line)/int64(it.Quantity) != int64(it.UnitPrice) {
			return 0, fmt.Errorf("items[%d]: line total overflows", i)
		}
		t += line
		if t > MaxMoney || t < 0 {
			return 0, fmt.Errorf("order total exceeds %s", MaxMoney)
		}
	}
	return t, nil
}

// Money is an amount in minor units (cents) with exactly two decimals, the
// precision of the legacy DECIMAL(12,2). It travels as a decimal string
// ("12.50"), never as a float. The zero value is 0.00.
type Money int64

// MaxMoney is the largest amount DECIMAL(12,2) holds.
const MaxMoney Money = 999_999_999_999

// ParseMoney parses a non-negative decimal with at most two fraction digits
// and at most ten integer digits.
func ParseMoney(s string) (Money, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || len(intPart) > 10 || !allDigits(intPart) ||
		(hasDot && (frac == "" || len(frac) > 2 || !allDigits(frac))) {
		return 0, fmt.Errorf("%q is not a decimal amount like \"12.50\" (at most 10 integer and 2 fraction digits)", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(intPart+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return Money(n), nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String formats m with two decimals.
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes m as a JSON string.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }

// UnmarshalJSON accepts only a JSON string holding a decimal.
func (m *Money) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("must be a decimal string like \"12.50\", not %s", b)
	}
	v, err := ParseMoney(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// TimeLayout is the wire form of timestamps: RFC 3339, UTC, microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Timestamp is a UTC instant with microsecond precision, the precision of
// DATETIME(6). It marshals with exactly six fraction digits.
type Timestamp struct{ time.Time }

// NewTimestamp truncates t to microseconds in UTC.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{t.UTC().Truncate(time.Microsecond)} }

// String formats ts with TimeLayout.
func (ts Timestamp) String() string { return ts.UTC().Format(TimeLayout) }

// MarshalJSON writes ts with TimeLayout.
func (ts Timestamp) MarshalJSON() ([]byte, error) { return []byte(`"` + ts.String() + `"`), nil }

// UnmarshalJSON accepts any RFC 3339 time.
func (ts *Timestamp) UnmarshalJSON(b []byte) error {
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	*ts = NewTimestamp(t)
	return nil
}
