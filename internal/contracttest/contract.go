// Package contracttest is the order API's contract suite (shared/DESIGN.md,
// "Order HTTP API"). It talks to a running service over HTTP only, so the
// same suite proves the legacy monolith, the new order service and the proxy
// in front of them.
package contracttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
)

// Target is the service under test.
type Target struct {
	// BaseURL is the service's root, e.g. http://127.0.0.1:8080. Required.
	BaseURL string
	// RetailKey and WholesaleKey are API keys of the two channels. Required.
	RetailKey, WholesaleKey string
	// Client sends the requests. Optional: defaults to a client with a 10 s timeout.
	Client *http.Client
	// SettleTimeout bounds the wait for a new order to reach accepted (the new
	// service accepts asynchronously). Optional: defaults to 10 s.
	SettleTimeout time.Duration
	// EventualReads makes the suite wait, after creating an order, until a
	// GET of it finds it (a 404 is retried until SettleTimeout) before it
	// reads, cancels or advances the order. Set it for a proxy that splits
	// traffic between two stores: a create is routed by its customer's
	// sticky bucket, but calls on /v1/orders/{id} by the id's bucket, so
	// they may reach the other store before the cdc (legacy -> DynamoDB) or
	// the sync-back (new service -> MySQL) copied the order there.
	// Read-your-writes across the two stores is eventual; every assertion
	// on the order stays as strict once it is readable. Optional: defaults
	// to false, for a single service that must find its own orders at once.
	EventualReads bool
}

// Run runs the whole suite against tgt as subtests of t.
func Run(t *testing.T, tgt Target) {
	if tgt.Client == nil {
		tgt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if tgt.SettleTimeout == 0 {
		tgt.SettleTimeout = 10 * time.Second
	}
	c := &client{t: tgt, run: fmt.Sprintf("ct%d%04d", time.Now().UnixMilli()%1e9, rand.IntN(10000))}
	tests := []struct {
		name string
		fn   func(*testing.T, *client)
	}{
		{"Auth", testAuth},
		{"CreateRetail", testCreateRetail},
		{"CreateWholesale", testCreateWholesale},
		{"CreateValidation", testCreateValidation},
		{"IdempotentReplay", testIdempotentReplay},
		{"Get", testGet},
		{"List", testList},
		{"Cancel", testCancel},
		{"StatusTransitions", testStatusTransitions},
		{"Operational", testOperational},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, c)
		})
	}
}

// client wraps the target with helpers that fail the test on transport errors.
type client struct {
	t   Target
	run string
	seq sync.Mutex
	n   int
}

// customer returns a customer id unique to this run.
func (c *client) customer(prefix string) string {
	c.seq.Lock()
	defer c.seq.Unlock()
	c.n++
	return fmt.Sprintf("%s-%s-%d", prefix, c.run, c.n)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(t *testing.T, method, path, key string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding request: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.t.BaseURL, "/")+path, rd)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.t.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (r response) order(t *testing.T) order.Order {
	t.Helper()
	var o order.Order
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("decoding order from %s: %v", r.body, err)
	}
	return o
}

// expect fails unless r has status want.
func (r response) expect(t *testing.T, want int, what string) response {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, r.status, want, r.body)
	}
	return r
}

// expectProblem fails unless r is a problem document of status want naming
// field (when field is not empty).
func (r response) expectProblem(t *testing.T, want int, field, what string) {
	t.Helper()
	r.expect(t, want, what)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, problem.ContentType) {
		t.Fatalf("%s: Content-Type %q, want %s", what, ct, problem.ContentType)
	}
	var p problem.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%s: decoding problem %s: %v", what, r.body, err)
	}
	if p.Status != want || p.Title == "" || p.Detail == "" {
		t.Fatalf("%s: problem %+v lacks status %d, title or detail", what, p, want)
	}
	if field != "" && p.Field != field {
		t.Fatalf("%s: problem names field %q, want %q (detail: %s)", what, p.Field, field, p.Detail)
	}
}

// retailBody is a valid retail order request.
func retailBody(customer string) map[string]any {
	return map[string]any{
		"customer_id": customer,
		"currency":    "USD",
		"items": []map[string]any{
			{"sku": "CLN-1001", "name": "All-purpose cleaner 1 L", "quantity": 2, "unit_price": "4.99"},
			{"sku": "RTL-2002", "name": "Lavender hand soap 🌿", "quantity": 3, "unit_price": "3.10"},
		},
		"shipping_address": map[string]any{
			"name": "Ana Díaz", "line1": "12 Rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "FR",
		},
		"notes": "leave at the door ✨",
	}
}

// wholesaleBody is a valid wholesale order request.
func wholesaleBody(customer string) map[string]any {
	return map[string]any{
		"customer_id": customer,
		"currency":    "EUR",
		"items": []map[string]any{
			{"sku": "CLN-1001", "name": "All-purpose cleaner 1 L", "quantity": 120, "unit_price": "3.25"},
			{"sku": "WHL-9000", "name": "Floor cleaner 20 L drum", "quantity": 10, "unit_price": "41.50"},
		},
	}
}

// create posts a valid order and waits until it is accepted.
func (c *client) create(t *testing.T, key string, body map[string]any) order.Order {
	t.Helper()
	o := c.do(t, "POST", "/v1/orders", key, body).expect(t, http.StatusCreated, "creating an order").order(t)
	return c.settle(t, key, o)
}

// settle waits until o leaves pending (the new service accepts
// asynchronously) and, with EventualReads, until a GET finds it.
func (c *client) settle(t *testing.T, key string, o order.Order) order.Order {
	t.Helper()
	deadline := time.Now().Add(c.t.SettleTimeout)
	unread := c.t.EventualReads
	for o.Status == order.Pending || unread {
		if time.Now().After(deadline) {
			if unread {
				t.Fatalf("order %s not readable after %v", o.ID, c.t.SettleTimeout)
			}
			t.Fatalf("order %s still pending after %v", o.ID, c.t.SettleTimeout)
		}
		if o.Status == order.Pending {
			time.Sleep(50 * time.Millisecond)
		}
		r := c.do(t, "GET", "/v1/orders/"+o.ID, key, nil)
		if unread && r.status == http.StatusNotFound {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		unread = false
		o = r.expect(t, http.StatusOK, "reading a new order").order(t)
	}
	return o
}

func testAuth(t *testing.T, c *client) {
	c.do(t, "GET", "/v1/orders/1", "", nil).expectProblem(t, http.StatusUnauthorized, "", "no Authorization header")
	c.do(t, "GET", "/v1/orders/1", "not-a-real-key", nil).expectProblem(t, http.StatusUnauthorized, "", "unknown key")
	c.do(t, "POST", "/v1/orders", "", retailBody(c.customer("auth"))).expectProblem(t, http.StatusUnauthorized, "", "create without a key")
	r := c.do(t, "GET", "/v1/orders/1", "", nil)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer WWW-Authenticate challenge: %q", r.header.Get("WWW-Authenticate"))
	}
}

func testCreateRetail(t *testing.T, c *client) {
	cust := c.customer("retail")
	before := time.Now().Add(-time.Minute)
	r := c.do(t, "POST", "/v1/orders", c.t.RetailKey, retailBody(cust)).expect(t, http.StatusCreated, "create retail")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	o := r.order(t)
	if o.ID == "" || o.Version != 1 || (o.Status != order.Accepted && o.Status != order.Pending) {
		t.Fatalf("new order: id %q version %d status %s; want an id, version 1, pending or accepted", o.ID, o.Version, o.Status)
	}
	want := order.Order{
		ID: o.ID, CustomerID: cust, Channel: order.Retail, Status: o.Status, Currency: "USD",
		Items: []order.Item{
			{SKU: "CLN-1001", Name: "All-purpose cleaner 1 L", Quantity: 2, UnitPrice: 499},
			{SKU: "RTL-2002", Name: "Lavender hand soap 🌿", Quantity: 3, UnitPrice: 310},
		},
		Total:           1928,
		ShippingAddress: &order.Address{Name: "Ana Díaz", Line1: "12 Rue de la Paix", City: "Paris", PostalCode: "75002", Country: "FR"},
		Notes:           "leave at the door ✨",
		CreatedAt:       o.CreatedAt, UpdatedAt: o.UpdatedAt, Version: 1,
	}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("created order (-want +got):\n%s", diff)
	}
	if o.CreatedAt.Before(before) || o.CreatedAt.After(time.Now().Add(time.Minute)) || o.UpdatedAt.Before(o.CreatedAt.Time) {
		t.Errorf("timestamps created_at %s updated_at %s are not now", o.CreatedAt, o.UpdatedAt)
	}
	// Money travels as exact decimal strings, timestamps with microseconds.
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["total"] != "19.28" {
		t.Errorf("total is %#v, want the string \"19.28\"", raw["total"])
	}
	if ts, _ := raw["created_at"].(string); len(ts) != len(order.TimeLayout) || !strings.HasSuffix(ts, "Z") {
		t.Errorf("created_at %q is not RFC 3339 UTC with microseconds", raw["created_at"])
	}
}

func testCreateWholesale(t *testing.T, c *client) {
	cust := c.customer("wholesale")
	o := c.do(t, "POST", "/v1/orders", c.t.WholesaleKey, wholesaleBody(cust)).expect(t, http.StatusCreated, "create wholesale").order(t)
	if o.Channel != order.Wholesale || o.Total != 80500 || o.ShippingAddress != nil || o.Currency != "EUR" {
		t.Errorf("wholesale order %+v: want channel wholesale, total 805.00, no address, EUR", o)
	}
}

func testCreateValidation(t *testing.T, c *client) {
	cust := c.customer("invalid")
	mod := func(base map[string]any, f func(map[string]any)) map[string]any {
		b, _ := json.Marshal(base)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		f(m)
		return m
	}
	item0 := func(m map[string]any) map[string]any { return m["items"].([]any)[0].(map[string]any) }
	cases := []struct {
		name   string
		key    string
		body   any
		status int
		field  string
	}{
		{"missing customer", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { delete(m, "customer_id") }), 400, "customer_id"},
		{"bad currency", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { m["currency"] = "usd" }), 400, "currency"},
		{"no items", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { m["items"] = []any{} }), 400, "items"},
		{"zero quantity", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { item0(m)["quantity"] = 0 }), 400, "items[0].quantity"},
		{"retail quantity cap", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { item0(m)["quantity"] = 500 }), 400, "items[0].quantity"},
		{"price as float", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { item0(m)["unit_price"] = 4.99 }), 400, "items.unit_price"},
		{"price with 3 decimals", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { item0(m)["unit_price"] = "4.999" }), 400, "items[0].unit_price"},
		{"negative price", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { item0(m)["unit_price"] = "-1.00" }), 400, "items[0].unit_price"},
		{"bad sku", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { item0(m)["sku"] = "no spaces" }), 400, "items[0].sku"},
		{"retail without address", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { delete(m, "shipping_address") }), 400, "shipping_address"},
		{"bad country", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) {
			m["shipping_address"].(map[string]any)["country"] = "France"
		}), 400, "shipping_address.country"},
		{"unknown field", c.t.RetailKey, mod(retailBody(cust), func(m map[string]any) { m["discount"] = "10.00" }), 400, "discount"},
		{"wholesale minimum quantity", c.t.WholesaleKey, mod(wholesaleBody(cust), func(m map[string]any) { item0(m)["quantity"] = 3 }), 400, "items[0].quantity"},
		{"wholesale retail-only sku", c.t.WholesaleKey, mod(wholesaleBody(cust), func(m map[string]any) { item0(m)["sku"] = "RTL-2002" }), 400, "items[0].sku"},
		{"malformed json", c.t.RetailKey, `{"customer_id": `, 400, ""},
		{"empty body", c.t.RetailKey, ``, 400, ""},
		{"two objects", c.t.RetailKey, `{} {}`, 400, ""},
		{"too large", c.t.RetailKey, `{"notes":"` + strings.Repeat("x", 1<<20) + `"}`, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.do(t, "POST", "/v1/orders", tc.key, tc.body).expectProblem(t, tc.status, tc.field, tc.name)
		})
	}
	// Nothing was stored for the rejected requests.
	var page struct{ Orders []order.Order }
	r := c.do(t, "GET", "/v1/orders?customer_id="+cust, c.t.RetailKey, nil).expect(t, 200, "listing after rejections")
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Orders) != 0 {
		t.Errorf("rejected requests stored orders: %s (err %v)", r.body, err)
	}
}

func testIdempotentReplay(t *testing.T, c *client) {
	cust := c.customer("idem")
	key := "idem-" + cust
	first := c.do(t, "POST", "/v1/orders", c.t.RetailKey, retailBody(cust), "Idempotency-Key", key).expect(t, 201, "first create")
	o1 := first.order(t)
	replay := c.do(t, "POST", "/v1/orders", c.t.RetailKey, retailBody(cust), "Idempotency-Key", key).expect(t, 201, "replay")
	o2 := replay.order(t)
	if o2.ID != o1.ID {
		t.Fatalf("replay created a second order %s (first %s)", o2.ID, o1.ID)
	}
	if o1.Status == order.Accepted {
		if diff := cmp.Diff(o1, o2); diff != "" {
			t.Errorf("replay answered differently (-first +replay):\n%s", diff)
		}
	}
	other := retailBody(cust)
	other["currency"] = "GBP"
	c.do(t, "POST", "/v1/orders", c.t.RetailKey, other, "Idempotency-Key", key).expectProblem(t, http.StatusUnprocessableEntity, "", "same key, other body")

	// Concurrent first uses of one key create exactly one order.
	ckey := "idem-conc-" + cust
	ids := make(chan string, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do(t, "POST", "/v1/orders", c.t.RetailKey, retailBody(cust), "Idempotency-Key", ckey)
			if r.status != 201 {
				t.Errorf("concurrent create: status %d: %s", r.status, r.body)
				return
			}
			ids <- r.order(t).ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("8 concurrent requests with one key created %d orders: %v", len(seen), seen)
	}
}

func testGet(t *testing.T, c *client) {
	o := c.create(t, c.t.RetailKey, retailBody(c.customer("get")))
	got := c.do(t, "GET", "/v1/orders/"+o.ID, c.t.RetailKey, nil).expect(t, 200, "get").order(t)
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("GET differs from the created order (-created +got):\n%s", diff)
	}
	c.do(t, "GET", "/v1/orders/999999999999", c.t.RetailKey, nil).expectProblem(t, 404, "", "unknown id")
	c.do(t, "GET", "/v1/orders/not-an-id", c.t.RetailKey, nil).expectProblem(t, 404, "", "malformed id")
	c.do(t, "GET", "/v1/orders/"+o.ID, c.t.WholesaleKey, nil).expectProblem(t, 404, "", "another channel's order")
}

func testList(t *testing.T, c *client) {
	cust := c.customer("list")
	var created []string
	for range 5 {
		created = append(created, c.create(t, c.t.RetailKey, retailBody(cust)).ID)
	}
	// A wholesale order of the same customer id is another channel's.
	c.create(t, c.t.WholesaleKey, wholesaleBody(cust))
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("pagination does not end: %v", got)
		}
		path := "/v1/orders?limit=2&customer_id=" + cust
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var p struct {
			Orders     []order.Order `json:"orders"`
			NextCursor string        `json:"next_cursor"`
		}
		r := c.do(t, "GET", path, c.t.RetailKey, nil).expect(t, 200, "list page")
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("decoding page %s: %v", r.body, err)
		}
		if len(p.Orders) > 2 {
			t.Fatalf("page of %d orders with limit 2", len(p.Orders))
		}
		for _, o := range p.Orders {
			if o.CustomerID != cust || o.Channel != order.Retail {
				t.Errorf("listed order %s of customer %s channel %s", o.ID, o.CustomerID, o.Channel)
			}
			got = append(got, o.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	want := make([]string, len(created))
	for i, id := range created {
		want[len(created)-1-i] = id
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listing is not all orders newest first (-want +got):\n%s", diff)
	}
	c.do(t, "GET", "/v1/orders?limit=2", c.t.RetailKey, nil).expectProblem(t, 400, "customer_id", "list without customer")
	c.do(t, "GET", "/v1/orders?limit=0&customer_id="+cust, c.t.RetailKey, nil).expectProblem(t, 400, "limit", "limit 0")
	c.do(t, "GET", "/v1/orders?limit=1000&customer_id="+cust, c.t.RetailKey, nil).expectProblem(t, 400, "limit", "limit 1000")
	c.do(t, "GET", "/v1/orders?cursor=%21%21&customer_id="+cust, c.t.RetailKey, nil).expectProblem(t, 400, "cursor", "bad cursor")
	r := c.do(t, "GET", "/v1/orders?customer_id=nobody-"+cust, c.t.RetailKey, nil).expect(t, 200, "empty list")
	if !strings.Contains(string(r.body), `"orders":[]`) {
		t.Errorf("an empty list must be [] not null: %s", r.body)
	}
}

func testCancel(t *testing.T, c *client) {
	o := c.create(t, c.t.RetailKey, retailBody(c.customer("cancel")))
	got := c.do(t, "POST", "/v1/orders/"+o.ID+"/cancel", c.t.RetailKey, nil).expect(t, 200, "cancel").order(t)
	if got.Status != order.Cancelled || got.Version != o.Version+1 || !got.UpdatedAt.After(o.UpdatedAt.Time) {
		t.Errorf("cancelled order: status %s version %d updated %s; want cancelled, version %d, later than %s",
			got.Status, got.Version, got.UpdatedAt, o.Version+1, o.UpdatedAt)
	}
	again := c.do(t, "POST", "/v1/orders/"+o.ID+"/cancel", c.t.RetailKey, nil).expect(t, 200, "cancel again").order(t)
	if again.Version != got.Version || again.Status != order.Cancelled {
		t.Errorf("a second cancel changed the order: %+v", again)
	}
	c.do(t, "PATCH", "/v1/orders/"+o.ID, c.t.RetailKey, map[string]string{"status": "processing"}).expectProblem(t, 409, "", "advance a cancelled order")
	c.do(t, "POST", "/v1/orders/999999999999/cancel", c.t.RetailKey, nil).expectProblem(t, 404, "", "cancel unknown")
	c.do(t, "POST", "/v1/orders/"+o.ID+"/cancel", c.t.WholesaleKey, nil).expectProblem(t, 404, "", "cancel another channel's order")

	shipped := c.create(t, c.t.RetailKey, retailBody(c.customer("cancel-shipped")))
	for _, st := range []string{"processing", "shipped"} {
		c.do(t, "PATCH", "/v1/orders/"+shipped.ID, c.t.RetailKey, map[string]string{"status": st}).expect(t, 200, "advance to "+st)
	}
	c.do(t, "POST", "/v1/orders/"+shipped.ID+"/cancel", c.t.RetailKey, nil).expectProblem(t, 409, "", "cancel shipped")
}

func testStatusTransitions(t *testing.T, c *client) {
	o := c.create(t, c.t.WholesaleKey, wholesaleBody(c.customer("status")))
	patch := func(st string) response {
		return c.do(t, "PATCH", "/v1/orders/"+o.ID, c.t.WholesaleKey, map[string]string{"status": st})
	}
	patch("shipped").expectProblem(t, 409, "", "accepted -> shipped skips processing")
	patch("accepted").expectProblem(t, 409, "", "accepted -> accepted")
	patch("flying").expectProblem(t, 400, "status", "unknown status")
	c.do(t, "PATCH", "/v1/orders/"+o.ID, c.t.WholesaleKey, map[string]any{"status": 3}).expectProblem(t, 400, "status", "status of the wrong type")
	c.do(t, "PATCH", "/v1/orders/"+o.ID, c.t.WholesaleKey, map[string]any{"state": "shipped"}).expectProblem(t, 400, "state", "unknown field")
	p := patch("processing").expect(t, 200, "accepted -> processing").order(t)
	if p.Status != order.Processing || p.Version != o.Version+1 {
		t.Errorf("after processing: status %s version %d, want processing %d", p.Status, p.Version, o.Version+1)
	}
	patch("pending").expectProblem(t, 409, "", "processing -> pending")
	s := patch("shipped").expect(t, 200, "processing -> shipped").order(t)
	if s.Status != order.Shipped || s.Version != o.Version+2 {
		t.Errorf("after shipped: status %s version %d, want shipped %d", s.Status, s.Version, o.Version+2)
	}
	patch("processing").expectProblem(t, 409, "", "shipped -> processing")
	patch("cancelled").expectProblem(t, 409, "", "cancel through PATCH")
	got := c.do(t, "GET", "/v1/orders/"+o.ID, c.t.WholesaleKey, nil).expect(t, 200, "get shipped").order(t)
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("GET after transitions (-patched +got):\n%s", diff)
	}
	c.do(t, "PATCH", "/v1/orders/999999999999", c.t.WholesaleKey, map[string]string{"status": "processing"}).expectProblem(t, 404, "", "patch unknown")
}

func testOperational(t *testing.T, c *client) {
	c.do(t, "GET", "/healthz", "", nil).expect(t, 200, "healthz")
	c.do(t, "GET", "/readyz", "", nil).expect(t, 200, "readyz")
	m := c.do(t, "GET", "/metrics", "", nil).expect(t, 200, "metrics")
	if !strings.Contains(string(m.body), "# HELP") {
		t.Errorf("/metrics is not Prometheus text: %.200s", m.body)
	}
	c.do(t, "GET", "/v2/nothing", c.t.RetailKey, nil).expectProblem(t, 404, "", "unknown path")
	c.do(t, "DELETE", "/v1/orders/1", c.t.RetailKey, nil).expectProblem(t, 405, "", "unsupported method")
}
