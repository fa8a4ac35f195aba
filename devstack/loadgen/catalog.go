package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/anycompany/strangler/internal/order"
)

// product is one SKU of the demo catalog. Prices are per currency, in cents.
type product struct {
	SKU   string
	Name  string
	Price map[string]order.Money
}

// retailOnly reports whether wholesale customers may not order p.
func (p product) retailOnly() bool { return len(p.SKU) > 4 && p.SKU[:4] == "RTL-" }

// currencyRates are the order API's currencies with a rough rate from USD.
func currencyRates() []struct {
	code string
	rate float64
} {
	return []struct {
		code string
		rate float64
	}{{"USD", 1}, {"EUR", 0.92}, {"GBP", 0.79}}
}

// newCatalog returns AnyCompany's cleaning products: 40 SKUs, five of them
// (RTL-…) sold to retail customers only.
func newCatalog() []product {
	base := []struct {
		sku, name string
		usd       float64
	}{
		{"CLN-1001", "All-Purpose Cleaner 1 L", 4.99},
		{"CLN-1002", "All-Purpose Cleaner Refill 5 L", 17.49},
		{"CLN-1003", "Glass & Mirror Spray 750 ml", 3.79},
		{"CLN-1004", "Streak-Free Window Concentrate 1 L", 8.25},
		{"CLN-1005", "Bathroom Descaler 750 ml", 5.49},
		{"CLN-1006", "Toilet Bowl Gel – Pine", 2.99},
		{"CLN-1007", "Kitchen Degreaser 1 L", 6.49},
		{"CLN-1008", "Oven & Grill Cleaner Foam", 7.99},
		{"CLN-1009", "Stainless Steel Polish 400 ml", 9.50},
		{"CLN-1010", "Hardwood Floor Cleaner 1 L", 8.99},
		{"CLN-1011", "Tile & Grout Cleaner 1 L", 6.75},
		{"CLN-1012", "Carpet Stain Remover 500 ml", 7.25},
		{"CLN-1013", "Disinfectant Wipes (80)", 5.99},
		{"CLN-1014", "Disinfectant Spray – Citrus 500 ml", 4.49},
		{"CLN-1015", "Mould & Mildew Remover 750 ml", 6.99},
		{"CLN-1016", "Limescale Remover Gel 500 ml", 4.99},
		{"CLN-1017", "Drain Unblocker 1 L", 5.79},
		{"CLN-1018", "Fabric Refresher – Linen 500 ml", 3.99},
		{"CLN-1019", "Washing-Up Liquid – Lemon 900 ml", 2.49},
		{"CLN-1020", "Dishwasher Tablets (60)", 13.99},
		{"CLN-1021", "Laundry Detergent 2.5 L", 15.99},
		{"CLN-1022", "Bleach 2 L", 2.29},
		{"CLN-1023", "Multi-Surface Eco Concentrate 500 ml", 11.49},
		{"CLN-1024", "Leather Care Cream 250 ml", 12.99},
		{"TLS-2001", "Microfibre Cloths (12)", 9.99},
		{"TLS-2002", "Scrub Sponges (6)", 3.49},
		{"TLS-2003", "Spray Mop with Refill Pad", 29.99},
		{"TLS-2004", "Mop Refill Pads (3)", 11.99},
		{"TLS-2005", "Toilet Brush & Holder", 8.49},
		{"TLS-2006", "Nitrile Gloves (100)", 14.50},
		{"TLS-2007", "Squeegee 35 cm", 10.99},
		{"TLS-2008", "Duster with Extension Pole", 16.99},
		{"TLS-2009", "Bucket with Wringer 12 L", 19.99},
		{"TLS-2010", "Trigger Spray Bottles (3)", 6.99},
		{"BLK-3001", "All-Purpose Cleaner Concentrate 20 L", 59.00},
		{"RTL-4001", "Lavender Hand Soap Gift Set", 18.99},
		{"RTL-4002", "Starter Kit – Kitchen & Bath", 34.99},
		{"RTL-4003", "Scented Candle – Fresh Linen", 12.49},
		{"RTL-4004", "Seasonal Cleaning Box – Spring 🌸", 39.99},
		{"RTL-4005", "Reusable Bamboo Brush Set", 15.99},
	}
	out := make([]product, 0, len(base))
	for _, b := range base {
		p := product{SKU: b.sku, Name: b.name, Price: map[string]order.Money{}}
		for _, c := range currencyRates() {
			cents := math.Round(b.usd * c.rate * 100)
			if c.code != "USD" {
				cents = math.Max(math.Round(cents/10)*10-1, 9) // local shelf prices end in 9
			}
			p.Price[c.code] = order.Money(cents)
		}
		out = append(out, p)
	}
	return out
}

// customer is one member of the seeded population. Each ships to the same
// address and pays in the currency of its country.
type customer struct {
	ID       string
	Channel  order.Channel
	Currency string
	Address  order.Address
}

// place is a city with its country and a postal code generator.
type place struct {
	city, region, country, currency string
	streets                         []string
	postal                          func(r *rand.Rand) string
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

func letters(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + r.IntN(26))
	}
	return string(b)
}

func places() []place {
	usZip := func(prefix string) func(*rand.Rand) string {
		return func(r *rand.Rand) string { return prefix + digits(r, 5-len(prefix)) }
	}
	usStreets := []string{"Maple Ave", "Oak St", "Main St", "Cedar Ln", "Elm St", "Washington Blvd", "Lakeview Dr", "Pine Ct"}
	return []place{
		{"Seattle", "WA", "US", "USD", usStreets, usZip("981")},
		{"Portland", "OR", "US", "USD", usStreets, usZip("972")},
		{"Austin", "TX", "US", "USD", usStreets, usZip("787")},
		{"Chicago", "IL", "US", "USD", usStreets, usZip("606")},
		{"Brooklyn", "NY", "US", "USD", usStreets, usZip("112")},
		{"Denver", "CO", "US", "USD", usStreets, usZip("802")},
		{"Atlanta", "GA", "US", "USD", usStreets, usZip("303")},
		{"London", "", "GB", "GBP", []string{"Baker Street", "Camden Road", "Mare Street", "Old Kent Road"},
			func(r *rand.Rand) string { return "N" + digits(r, 1) + " " + digits(r, 1) + letters(r, 2) }},
		{"Manchester", "", "GB", "GBP", []string{"Deansgate", "Oxford Road", "Wilmslow Road"},
			func(r *rand.Rand) string { return "M" + digits(r, 2) + " " + digits(r, 1) + letters(r, 2) }},
		{"Berlin", "", "DE", "EUR", []string{"Kastanienallee", "Torstraße", "Schönhauser Allee", "Bergmannstraße"},
			func(r *rand.Rand) string { return "10" + digits(r, 3) }},
		{"München", "BY", "DE", "EUR", []string{"Leopoldstraße", "Sendlinger Straße", "Maximilianstraße"},
			func(r *rand.Rand) string { return "80" + digits(r, 3) }},
		{"Paris", "", "FR", "EUR", []string{"rue de Rivoli", "boulevard Saint-Germain", "rue Oberkampf", "rue de la Roquette"},
			func(r *rand.Rand) string { return "750" + fmt.Sprintf("%02d", 1+r.IntN(20)) }},
		{"Lyon", "", "FR", "EUR", []string{"rue de la République", "cours Lafayette", "quai Saint-Antoine"},
			func(r *rand.Rand) string { return "6900" + fmt.Sprint(1+r.IntN(9)) }},
		{"Amsterdam", "", "NL", "EUR", []string{"Prinsengracht", "Overtoom", "Ferdinand Bolstraat"},
			func(r *rand.Rand) string { return "10" + digits(r, 2) + " " + letters(r, 2) }},
		{"Dublin", "", "IE", "EUR", []string{"Grafton Street", "Camden Street Lower", "Capel Street"},
			func(r *rand.Rand) string { return "D0" + fmt.Sprint(1+r.IntN(8)) + " " + letters(r, 1) + digits(r, 3) }},
		{"Madrid", "", "ES", "EUR", []string{"Calle de Alcalá", "Gran Vía", "Calle de Fuencarral"},
			func(r *rand.Rand) string { return "280" + digits(r, 2) }},
	}
}

// names returns the first names, last names and company names customers
// are made of.
func names() (first, last, company []string) {
	first = []string{"Alex", "Maria", "James", "Priya", "Chen", "Fatima", "Liam", "Zoë", "José", "Siobhán",
		"Łukasz", "Amélie", "Kwame", "Yuki", "Olivia", "Noah", "Aroha", "Björn", "Ana", "Mohammed"}
	last = []string{"Smith", "García", "Nguyen", "Müller", "O'Brien", "Kowalski", "Dubois", "Okafor",
		"Tanaka", "Johansson", "Rossi", "Patel", "van der Berg", "Murphy", "Schmidt", "Fernández"}
	company = []string{"Sparkle Janitorial Supply", "CleanCo Distributors", "Brightway Facilities", "Pristine Wholesale",
		"Mop & Bucket Trading", "Harbor Hygiene", "Nordic Clean AB", "Les Entrepôts Propres", "Blitzblank GmbH", "GreenLeaf Hospitality"}
	return first, last, company
}

// newPopulation returns the seeded customers: retail cust-r-0001… and
// wholesale cust-w-001…, each with a fixed country, currency and address.
// Index 0 of each slice is the most popular under the zipf pick.
func newPopulation(seed uint64, retail, wholesale int) (r, w []customer) {
	rng := rand.New(rand.NewPCG(seed, 0xC057))
	ps := places()
	firstNames, lastNames, companies := names()
	// Country mix: mostly US, then EUR countries, then GB.
	pick := func() place {
		x := rng.Float64()
		switch {
		case x < 0.55:
			return ps[rng.IntN(7)]
		case x < 0.70:
			return ps[7+rng.IntN(2)]
		}
		return ps[9+rng.IntN(len(ps)-9)]
	}
	address := func(name string, p place) order.Address {
		a := order.Address{
			Name:       name,
			Line1:      fmt.Sprintf("%d %s", 1+rng.IntN(480), p.streets[rng.IntN(len(p.streets))]),
			City:       p.city,
			Region:     p.region,
			PostalCode: p.postal(rng),
			Country:    p.country,
		}
		if p.country != "US" {
			a.Line1 = fmt.Sprintf("%s %d", p.streets[rng.IntN(len(p.streets))], 1+rng.IntN(120))
		}
		if rng.IntN(5) == 0 {
			a.Line2 = fmt.Sprintf("Apt %d", 1+rng.IntN(40))
		}
		return a
	}
	for i := range retail {
		p := pick()
		name := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
		r = append(r, customer{ID: fmt.Sprintf("cust-r-%04d", i+1), Channel: order.Retail, Currency: p.currency, Address: address(name, p)})
	}
	for i := range wholesale {
		p := pick()
		name := companies[rng.IntN(len(companies))]
		a := address(name, p)
		a.Line2 = fmt.Sprintf("Dock %d", 1+rng.IntN(12))
		w = append(w, customer{ID: fmt.Sprintf("cust-w-%03d", i+1), Channel: order.Wholesale, Currency: p.currency, Address: a})
	}
	return r, w
}

// notes returns the free-text notes customers leave; most orders leave none.
func notes() []string {
	return []string{
		"Please leave at the back door 🚪",
		"Ring twice, the bell is broken 🔔",
		"Gift — no invoice in the box please 🎁",
		"Fragile: glass bottles!",
		"Livraison avant 10h si possible, merci",
		"Bitte beim Nachbarn abgeben (Nr. 12)",
		"置き配希望です 📦",
		"Call on arrival 📞 dog in the garden 🐕",
		"Spring clean time 🌸🧽",
		"Same as last time, thanks!",
	}
}

// zipfIndex picks an index in [0, n) where small indexes are popular.
func zipfIndex(r *rand.Rand, n int) int {
	if n <= 1 {
		return 0
	}
	return int(rand.NewZipf(r, 1.1, 4, uint64(n-1)).Uint64())
}
