package order

import (
	"github.com/anycompany/strangler/internal/config"

	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// CreateRequest is the body of POST /v1/orders as the client sends it.
// Prices stay strings here so that validation can name the exact field.
type CreateRequest struct {
	CustomerID      string        `json:"customer_id"`
	Currency        string        `json:"currency"`
	Items           []RequestItem `json:"items"`
	ShippingAddress *Address      `json:"shipping_address"`
	Notes           string        `json:"notes"`
}

// RequestItem is one line of a CreateRequest.
type RequestItem struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int    `json:"quantity"`
	UnitPrice string `json:"unit_price"`
}

// PatchRequest is the body of PATCH /v1/orders/{id}.
type PatchRequest struct {
	Status string `json:"status"`
}

// Draft is a validated CreateRequest of one channel: everything an order
// needs except what the store assigns (id, status, timestamps, version).
type Draft struct {
	CustomerID      string
	Channel         Channel
	Currency        string
	Items           []Item
	Total           Money
	ShippingAddress *Address
	Notes           string
}

// SameAs reports whether o was created from the same request as d, which is
// how an idempotent replay is told apart from a reuse of the key.
func (d Draft) SameAs(o Order) bool {
	return d.CustomerID == o.CustomerID && d.Channel == o.Channel && d.Currency == o.Currency &&
		reflect.DeepEqual(d.Items, o.Items) && d.Total == o.Total &&
		reflect.DeepEqual(d.ShippingAddress, o.ShippingAddress) && d.Notes == o.Notes
}

// FieldError says which request field is wrong and why. Field uses JSON
// paths such as "items[2].quantity".
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

// Rules are the business rules orders of both channels must meet. The zero
// value accepts nothing; start from DefaultRules.
type Rules struct {
	// Currencies are the ISO 4217 codes accepted. Default: USD, EUR, GBP.
	Currencies []string `mapstructure:"currencies"`
	// MaxItems caps the lines of one order. Default: 50.
	MaxItems int `mapstructure:"max_items"`
	// RetailMaxQuantity caps each retail line's quantity. Default: 20.
	RetailMaxQuantity int `mapstructure:"retail_max_quantity"`
	// WholesaleMinQuantity is the least quantity of each wholesale line. Default: 10.
	WholesaleMinQuantity int `mapstructure:"wholesale_min_quantity"`
	// WholesaleMaxQuantity caps each wholesale line's quantity. Default: 100000.
	WholesaleMaxQuantity int `mapstructure:"wholesale_max_quantity"`
	// RetailOnlySKUPrefixes mark SKUs wholesale may not order. Default: ["RTL-"].
	RetailOnlySKUPrefixes []string `mapstructure:"retail_only_sku_prefixes"`
	// MaxNotes caps notes, in characters. Default: 1000.
	MaxNotes int `mapstructure:"max_notes"`
}

// DefaultRules returns the reference rules of AnyCompany.
func DefaultRules() Rules {
	return Rules{
		Currencies:            []string{"USD", "EUR", "GBP"},
		MaxItems:              50,
		RetailMaxQuantity:     20,
		WholesaleMinQuantity:  10,
		WholesaleMaxQuantity:  100000,
		RetailOnlySKUPrefixes: []string{"RTL-"},
		MaxNotes:              1000,
	}
}

var (
	customerIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	skuPattern        = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)
	countryPattern    = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Validate checks r for channel ch and returns the draft, or the first
// wrong field.
func (rules Rules) Validate(ch Channel, r CreateRequest) (Draft, *FieldError) {
	fail := func(field, format string, a ...any) (Draft, *FieldError) {
		return Draft{}, &FieldError{Field: field, Detail: fmt.Sprintf(format, a...)}
	}
	if !customerIDPattern.MatchString(r.CustomerID) {
		return fail("customer_id", "is required: 1-64 characters of letters, digits and _.:-")
	}
	if !slices.Contains(rules.Currencies, r.Currency) {
		return fail("currency", "must be one of %s", strings.Join(rules.Currencies, ", "))
	}
	if len(r.Items) == 0 {
		return fail("items", "must hold at least one item")
	}
	if len(r.Items) > rules.MaxItems {
		return fail("items", "holds %d items; at most %d are allowed", len(r.Items), rules.MaxItems)
	}
	d := Draft{CustomerID: r.CustomerID, Channel: ch, Currency: r.Currency, Notes: r.Notes}
	seen := map[string]bool{}
	for i, it := range r.Items {
		f := fmt.Sprintf("items[%d].", i)
		if !skuPattern.MatchString(it.SKU) {
			return fail(f+"sku", "must be 2-32 characters of A-Z, 0-9 and -, like \"CLN-1001\"")
		}
		if seen[it.SKU] {
			return fail(f+"sku", "%s appears twice; put the whole quantity on one line", it.SKU)
		}
		seen[it.SKU] = true
		if n := utf8.RuneCountInString(it.Name); n == 0 || n > 200 || !utf8.ValidString(it.Name) {
			return fail(f+"name", "is required: 1-200 characters")
		}
		price, err := ParseMoney(it.UnitPrice)
		if err != nil {
			return fail(f+"unit_price", "%v", err)
		}
		if price <= 0 {
			return fail(f+"unit_price", "must be greater than 0.00")
		}
		switch ch {
		case Retail:
			if it.Quantity < 1 || it.Quantity > rules.RetailMaxQuantity {
				return fail(f+"quantity", "must be between 1 and %d for retail orders", rules.RetailMaxQuantity)
			}
		case Wholesale:
			if it.Quantity < rules.WholesaleMinQuantity || it.Quantity > rules.WholesaleMaxQuantity {
				return fail(f+"quantity", "must be between %d and %d for wholesale orders",
					rules.WholesaleMinQuantity, rules.WholesaleMaxQuantity)
			}
			for _, p := range rules.RetailOnlySKUPrefixes {
				if strings.HasPrefix(it.SKU, p) {
					return fail(f+"sku", "%s is sold to retail customers only", it.SKU)
				}
			}
		}
		d.Items = append(d.Items, Item{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitPrice: price})
	}
	total, err := Total(d.Items)
	if err != nil {
		return fail("items", "%v", err)
	}
	d.Total = total
	if a := r.ShippingAddress; a != nil {
		if fe := a.validate(); fe != nil {
			return Draft{}, fe
		}
		d.ShippingAddress = a
	} else if ch == Retail {
		return fail("shipping_address", "is required for retail orders")
	}
	if n := utf8.RuneCountInString(r.Notes); n > rules.MaxNotes || !utf8.ValidString(r.Notes) {
		return fail("notes", "must be valid UTF-8 of at most %d characters", rules.MaxNotes)
	}
	return d, nil
}

func (a *Address) validate() *FieldError {
	req := []struct{ field, value string }{
		{"name", a.Name}, {"line1", a.Line1}, {"city", a.City}, {"postal_code", a.PostalCode},
	}
	for _, r := range req {
		if n := utf8.RuneCountInString(r.value); n == 0 || n > 200 {
			return &FieldError{Field: "shipping_address." + r.field, Detail: "is required: 1-200 characters"}
		}
	}
	for _, o := range []struct{ field, value string }{{"line2", a.Line2}, {"region", a.Region}} {
		if utf8.RuneCountInString(o.value) > 200 {
			return &FieldError{Field: "shipping_address." + o.field, Detail: "must be at most 200 characters"}
		}
	}
	if !countryPattern.MatchString(a.Country) {
		return &FieldError{Field: "shipping_address.country", Detail: "must be an ISO 3166 alpha-2 code like \"US\""}
	}
	return nil
}

// Validate checks the PATCH body and returns the wanted status.
func (p PatchRequest) Validate() (Status, *FieldError) {
	st, err := ParseStatus(p.Status)
	if err != nil {
		return "", &FieldError{Field: "status", Detail: "must be one of processing, shipped (orders advance accepted -> processing -> shipped)"}
	}
	return st, nil
}

// Check records every unusable rule in ck, with keys under prefix.
func (rules Rules) Check(ck *config.Checker, prefix string) {
	ck.Check(len(rules.Currencies) > 0, prefix+".currencies", rules.Currencies, "at least one ISO 4217 code")
	for i, c := range rules.Currencies {
		ck.Check(len(c) == 3 && strings.ToUpper(c) == c, fmt.Sprintf("%s.currencies[%d]", prefix, i), c, "three upper-case letters like USD")
	}
	ck.Check(rules.MaxItems > 0, prefix+".max_items", rules.MaxItems, "a positive number")
	ck.Check(rules.RetailMaxQuantity > 0, prefix+".retail_max_quantity", rules.RetailMaxQuantity, "a positive number")
	ck.Check(rules.WholesaleMinQuantity > 0, prefix+".wholesale_min_quantity", rules.WholesaleMinQuantity, "a positive number")
	ck.Check(rules.WholesaleMaxQuantity >= rules.WholesaleMinQuantity, prefix+".wholesale_max_quantity", rules.WholesaleMaxQuantity, "at least wholesale_min_quantity")
	ck.Check(rules.MaxNotes >= 0, prefix+".max_notes", rules.MaxNotes, "zero or more")
}
