package order_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/order"
)

func TestParseMoney(t *testing.T) {
	cases := []struct {
		in   string
		want order.Money
		ok   bool
	}{
		{"0", 0, true}, {"12.5", 1250, true}, {"12.50", 1250, true}, {"0.01", 1, true},
		{"9999999999.99", order.MaxMoney, true}, {"007.10", 710, true},
		{"", 0, false}, {".5", 0, false}, {"5.", 0, false}, {"1.234", 0, false}, {"-1", 0, false},
		{"1e3", 0, false}, {"12345678901", 0, false}, {" 1", 0, false}, {"1,00", 0, false},
	}
	for _, tc := range cases {
		got, err := order.ParseMoney(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMoney(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok {
			back, err := order.ParseMoney(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q via %q = %v, %v", tc.in, got.String(), back, err)
			}
		}
	}
}

func TestMoneyJSON(t *testing.T) {
	b, err := json.Marshal(order.Money(1205))
	if err != nil || string(b) != `"12.05"` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var m order.Money
	if err := json.Unmarshal([]byte(`12.05`), &m); err == nil {
		t.Error("a JSON number was accepted as money")
	}
	if err := json.Unmarshal([]byte(`"12.05"`), &m); err != nil || m != 1205 {
		t.Errorf("Unmarshal = %v, %v", m, err)
	}
}

func TestTotalOverflow(t *testing.T) {
	if _, err := order.Total([]order.Item{{Quantity: 100000, UnitPrice: order.MaxMoney}}); err == nil {
		t.Error("an overflowing total was accepted")
	}
	got, err := order.Total([]order.Item{{Quantity: 3, UnitPrice: 333}, {Quantity: 1, UnitPrice: 1}})
	if err != nil || got != 1000 {
		t.Errorf("Total = %v, %v; want 10.00", got, err)
	}
}

func TestTimestampMicroseconds(t *testing.T) {
	ts := order.NewTimestamp(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)))
	b, _ := json.Marshal(ts)
	if string(b) != `"2026-01-02T02:04:05.123456Z"` {
		t.Errorf("Marshal = %s", b)
	}
	var back order.Timestamp
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(ts.Time) {
		t.Errorf("round trip = %v, %v", back, err)
	}
}

func TestStatusMachine(t *testing.T) {
	allowed := map[[2]order.Status]bool{
		{order.Accepted, order.Processing}: true,
		{order.Processing, order.Shipped}:  true,
	}
	for _, from := range order.Statuses {
		for _, to := range order.Statuses {
			if got := from.CanAdvance(to); got != allowed[[2]order.Status{from, to}] {
				t.Errorf("CanAdvance(%s -> %s) = %v", from, to, got)
			}
		}
		if got := from.CanCancel(); got != (from != order.Shipped) {
			t.Errorf("CanCancel(%s) = %v", from, got)
		}
	}
}

func validRetail() order.CreateRequest {
	return order.CreateRequest{
		CustomerID: "c-1", Currency: "USD",
		Items:           []order.RequestItem{{SKU: "CLN-1", Name: "Cleaner", Quantity: 2, UnitPrice: "1.25"}},
		ShippingAddress: &order.Address{Name: "A", Line1: "1 St", City: "X", PostalCode: "1", Country: "US"},
	}
}

func TestValidate(t *testing.T) {
	rules := order.DefaultRules()
	cases := []struct {
		name  string
		ch    order.Channel
		mod   func(*order.CreateRequest)
		field string
	}{
		{"valid retail", order.Retail, func(*order.CreateRequest) {}, ""},
		{"valid wholesale", order.Wholesale, func(r *order.CreateRequest) { r.Items[0].Quantity = 10; r.ShippingAddress = nil }, ""},
		{"customer too long", order.Retail, func(r *order.CreateRequest) { r.CustomerID = strings.Repeat("c", 65) }, "customer_id"},
		{"customer with space", order.Retail, func(r *order.CreateRequest) { r.CustomerID = "a b" }, "customer_id"},
		{"currency", order.Retail, func(r *order.CreateRequest) { r.Currency = "JPY" }, "currency"},
		{"too many items", order.Retail, func(r *order.CreateRequest) {
			for i := range 51 {
				r.Items = append(r.Items, order.RequestItem{SKU: "S-" + strings.Repeat("1", i+1)[:1] + string(rune('A'+i%26)), Name: "n", Quantity: 1, UnitPrice: "1"})
			}
		}, "items"},
		{"duplicate sku", order.Retail, func(r *order.CreateRequest) { r.Items = append(r.Items, r.Items[0]) }, "items[1].sku"},
		{"empty name", order.Retail, func(r *order.CreateRequest) { r.Items[0].Name = "" }, "items[0].name"},
		{"zero price", order.Retail, func(r *order.CreateRequest) { r.Items[0].UnitPrice = "0.00" }, "items[0].unit_price"},
		{"retail cap", order.Retail, func(r *order.CreateRequest) { r.Items[0].Quantity = 21 }, "items[0].quantity"},
		{"wholesale minimum", order.Wholesale, func(r *order.CreateRequest) { r.Items[0].Quantity = 9 }, "items[0].quantity"},
		{"wholesale retail-only", order.Wholesale, func(r *order.CreateRequest) { r.Items[0].Quantity = 10; r.Items[0].SKU = "RTL-9" }, "items[0].sku"},
		{"address postal code", order.Retail, func(r *order.CreateRequest) { r.ShippingAddress.PostalCode = "" }, "shipping_address.postal_code"},
		{"notes too long", order.Retail, func(r *order.CreateRequest) { r.Notes = strings.Repeat("é", 1001) }, "notes"},
		{"notes invalid utf8", order.Retail, func(r *order.CreateRequest) { r.Notes = "\xff" }, "notes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validRetail()
			tc.mod(&r)
			d, fe := rules.Validate(tc.ch, r)
			got := ""
			if fe != nil {
				got = fe.Field
				if fe.Detail == "" {
					t.Error("a field error without detail")
				}
			}
			if got != tc.field {
				t.Fatalf("field %q (%v), want %q", got, fe, tc.field)
			}
			if fe == nil && (d.Channel != tc.ch || d.Total <= 0) {
				t.Errorf("draft %+v", d)
			}
		})
	}
}

func TestDraftSameAs(t *testing.T) {
	d, fe := order.DefaultRules().Validate(order.Retail, validRetail())
	if fe != nil {
		t.Fatal(fe)
	}
	o := order.Order{ID: "1", CustomerID: d.CustomerID, Channel: d.Channel, Currency: d.Currency, Items: d.Items,
		Total: d.Total, ShippingAddress: &order.Address{Name: "A", Line1: "1 St", City: "X", PostalCode: "1", Country: "US"}}
	if !d.SameAs(o) {
		t.Errorf("the order made from the draft is not the same: %s", cmp.Diff(d, o))
	}
	o.Items = append([]order.Item(nil), o.Items...)
	o.Items[0].Quantity++
	if d.SameAs(o) {
		t.Error("another quantity counts as the same request")
	}
}
