package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/anycompany/strangler/internal/order"
)

// call is one planned operation: the request to send and what counts as a
// good answer.
type call struct {
	op      Op
	method  string
	path    string // with query
	channel order.Channel
	key     string // Idempotency-Key, or ""
	body    []byte
	expect  []int // statuses that count as OK

	wantID string  // replay: the id the answer must carry
	order  tracked // advance/cancel: the checked-out order
	next   order.Status
	replay bool // create: remember the request for a later replay
}

// workload plans the operations of a run from its seed and the orders it
// has created so far. It is safe for concurrent use. The zero value is not
// usable; make one with newWorkload.
type workload struct {
	cfg       Config
	runID     string // makes idempotency keys unique across runs of one seed
	picker    picker
	catalog   []product
	wholesale []product // the catalog minus retail-only SKUs
	retailC   []customer
	wholesalC []customer
	notes     []string
	pool      *pool
}

// poolSize bounds each list of remembered orders.
const poolSize = 20_000

func newWorkload(cfg Config, runID string) *workload {
	cat := newCatalog()
	r, w := newPopulation(cfg.Seed, cfg.RetailCustomers, cfg.WholesaleCustomers)
	return &workload{
		cfg:       cfg,
		runID:     runID,
		picker:    newPicker(cfg.Mix),
		catalog:   cat,
		wholesale: slices.DeleteFunc(slices.Clone(cat), func(p product) bool { return p.retailOnly() }),
		retailC:   r,
		wholesalC: w,
		notes:     notes(),
		pool:      newPool(poolSize),
	}
}

// plan returns operation i. Operations that need an order the generator
// has not created (yet) become creates.
func (w *workload) plan(i uint64) call {
	r := opRand(w.cfg.Seed, i)
	switch w.picker.pick(r) {
	case OpGet:
		if t, ok := w.pool.anyOrder(r); ok {
			return call{op: OpGet, method: http.MethodGet, path: "/v1/orders/" + url.PathEscape(t.id),
				channel: t.channel, expect: []int{http.StatusOK}}
		}
	case OpList:
		c := w.customer(r)
		limit := []int{10, 20, 50}[r.IntN(3)]
		q := url.Values{"customer_id": {c.ID}, "limit": {fmt.Sprint(limit)}}
		return call{op: OpList, method: http.MethodGet, path: "/v1/orders?" + q.Encode(),
			channel: c.Channel, expect: []int{http.StatusOK}}
	case OpAdvance:
		if t, ok := w.pool.checkout(r, order.Accepted, order.Processing); ok {
			next := order.Processing
			if t.status == order.Processing {
				next = order.Shipped
			}
			body, _ := json.Marshal(order.PatchRequest{Status: string(next)})
			expect := []int{http.StatusOK}
			if t.pending {
				expect = append(expect, http.StatusConflict) // not accepted yet
			}
			return call{op: OpAdvance, method: http.MethodPatch, path: "/v1/orders/" + url.PathEscape(t.id),
				channel: t.channel, body: body, expect: expect, order: t, next: next}
		}
	case OpCancel:
		if r.Float64() < w.cfg.ShippedCancelRatio {
			if t, ok := w.pool.checkout(r, order.Shipped); ok {
				return call{op: OpCancel, method: http.MethodPost, path: "/v1/orders/" + url.PathEscape(t.id) + "/cancel",
					channel: t.channel, expect: []int{http.StatusConflict}, order: t, next: order.Shipped}
			}
		}
		if t, ok := w.pool.checkout(r, order.Accepted, order.Processing); ok {
			return call{op: OpCancel, method: http.MethodPost, path: "/v1/orders/" + url.PathEscape(t.id) + "/cancel",
				channel: t.channel, expect: []int{http.StatusOK}, order: t, next: order.Cancelled}
		}
	}
	return w.create(r, i)
}

// customer picks a customer: wholesale with the configured share, popular
// ones far more often.
func (w *workload) customer(r *rand.Rand) customer {
	if r.Float64() < w.cfg.WholesaleShare {
		return w.wholesalC[zipfIndex(r, len(w.wholesalC))]
	}
	return w.retailC[zipfIndex(r, len(w.retailC))]
}

// create plans a create: mostly a new order, sometimes a deliberate replay
// of an earlier keyed one or a deliberately invalid one.
func (w *workload) create(r *rand.Rand, i uint64) call {
	x := r.Float64()
	if x < w.cfg.ReplayRatio {
		if rp, ok := w.pool.replay(r); ok {
			return call{op: OpReplay, method: http.MethodPost, path: "/v1/orders", channel: rp.channel,
				key: rp.key, body: rp.body, expect: []int{http.StatusOK, http.StatusCreated}, wantID: rp.id}
		}
	} else if x < w.cfg.ReplayRatio+w.cfg.InvalidRatio {
		return w.invalid(r)
	}
	c := w.customer(r)
	req := w.request(r, c)
	body, _ := json.Marshal(req)
	cl := call{op: OpCreate, method: http.MethodPost, path: "/v1/orders", channel: c.Channel, body: body,
		expect: []int{http.StatusCreated}}
	if r.Float64() < w.cfg.IdempotencyRatio {
		cl.key = fmt.Sprintf("lg-%s-%d", w.runID, i)
		cl.replay = true
	}
	return cl
}

// request builds a valid create request of customer c.
func (w *workload) request(r *rand.Rand, c customer) order.CreateRequest {
	o := w.order(r, c)
	req := order.CreateRequest{CustomerID: c.ID, Currency: c.Currency, ShippingAddress: o.ShippingAddress, Notes: o.Notes}
	for _, it := range o.Items {
		req.Items = append(req.Items, order.RequestItem{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice.String()})
	}
	return req
}

// order draws the content of a valid order of customer c: lines, address
// and notes. Retail orders hold 1-5 lines of 1-9 (rarely up to 20) units
// and always ship; wholesale orders hold 1-6 lines of cases (10-480
// units) of SKUs wholesale may buy, and ship to a dock 70 % of the time.
func (w *workload) order(r *rand.Rand, c customer) order.Order {
	o := order.Order{CustomerID: c.ID, Channel: c.Channel, Currency: c.Currency}
	if c.Channel == order.Retail {
		n := pickWeighted(r, []float64{50, 25, 14, 7, 4}) + 1
		for _, p := range sample(r, w.catalog, n) {
			q := pickWeighted(r, []float64{55, 25, 8, 5, 2, 2, 1, 1, 1}) + 1 // 1..9
			if r.IntN(100) == 0 {
				q = 10 + r.IntN(11) // the odd stock-up, up to the retail cap of 20
			}
			o.Items = append(o.Items, orderItem(p, q, c.Currency))
		}
		a := c.Address
		o.ShippingAddress = &a
		if r.IntN(5) == 0 {
			o.Notes = w.notes[r.IntN(len(w.notes))]
		}
		return o
	}
	n := 1 + r.IntN(6)
	for _, p := range sample(r, w.wholesale, n) {
		q := 10 * (1 + r.IntN(20)) // cases of ten, 10..200
		if r.IntN(4) == 0 {
			q = 12 * (1 + r.IntN(40)) // or dozens, 12..480
		}
		o.Items = append(o.Items, orderItem(p, q, c.Currency))
	}
	if r.IntN(10) < 7 {
		a := c.Address
		o.ShippingAddress = &a
	}
	if r.IntN(3) == 0 {
		o.Notes = fmt.Sprintf("PO #%d — deliver to dock %s", 4500000+r.IntN(100000), strings.TrimPrefix(c.Address.Line2, "Dock "))
	}
	return o
}

// invalid plans a create the API must refuse with 400 or 422.
func (w *workload) invalid(r *rand.Rand) call {
	var c customer
	var req order.CreateRequest
	switch r.IntN(4) {
	case 0: // wholesale may not order retail-only SKUs
		c = w.wholesalC[zipfIndex(r, len(w.wholesalC))]
		req = w.request(r, c)
		for _, p := range w.catalog {
			if p.retailOnly() {
				req.Items[0] = item(p, 10, c.Currency)
				break
			}
		}
	case 1: // retail quantity 0
		c = w.retailC[zipfIndex(r, len(w.retailC))]
		req = w.request(r, c)
		req.Items[0].Quantity = 0
	case 2: // unknown currency
		c = w.retailC[zipfIndex(r, len(w.retailC))]
		req = w.request(r, c)
		req.Currency = "JPY"
	default: // retail without an address
		c = w.retailC[zipfIndex(r, len(w.retailC))]
		req = w.request(r, c)
		req.ShippingAddress = nil
	}
	body, _ := json.Marshal(req)
	return call{op: OpInvalid, method: http.MethodPost, path: "/v1/orders", channel: c.Channel, body: body,
		expect: []int{http.StatusBadRequest, http.StatusUnprocessableEntity}}
}

func item(p product, q int, currency string) order.RequestItem {
	return order.RequestItem{SKU: p.SKU, Name: p.Name, Quantity: q, UnitPrice: p.Price[currency].String()}
}

func orderItem(p product, q int, currency string) order.Item {
	return order.Item{SKU: p.SKU, Name: p.Name, Quantity: q, UnitPrice: p.Price[currency]}
}

// sample returns n distinct products of ps (all when n >= len(ps)).
func sample(r *rand.Rand, ps []product, n int) []product {
	n = min(n, len(ps))
	idx := r.Perm(len(ps))[:n]
	out := make([]product, n)
	for i, j := range idx {
		out[i] = ps[j]
	}
	return out
}

// pickWeighted returns an index of weights drawn with their weights.
func pickWeighted(r *rand.Rand, weights []float64) int {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	x := r.Float64() * sum
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// answer is the part of an order the generator reads back.
type answer struct {
	ID     string       `json:"id"`
	Status order.Status `json:"status"`
}

// Outcome classes of a call that did not get the answer it expected.
const (
	classTimeout  = "timeout"  // no answer within request_timeout
	classNet      = "net"      // connection refused, reset, …
	classMismatch = "mismatch" // a replay answered with another order id, or a create without an id
)

// complete learns from the answer to c and returns "" when it was the
// expected one, else the error class: "4xx", "5xx", … or one above.
func (w *workload) complete(c call, status int, body []byte) string {
	class := ""
	if !slices.Contains(c.expect, status) {
		class = fmt.Sprintf("%dxx", status/100)
	}
	switch c.op {
	case OpCreate:
		if class != "" {
			return class
		}
		var a answer
		if json.Unmarshal(body, &a) != nil || a.ID == "" {
			return classMismatch
		}
		pending := a.Status == order.Pending
		if a.Status == "" || pending {
			a.Status = order.Accepted
		}
		var rep *replayable
		if c.replay {
			rep = &replayable{id: a.ID, channel: c.channel, key: c.key, body: c.body}
		}
		w.pool.created(tracked{id: a.ID, channel: c.channel, status: a.Status, pending: pending}, rep)
	case OpReplay:
		if class != "" {
			return class
		}
		var a answer
		if json.Unmarshal(body, &a) != nil || a.ID != c.wantID {
			return classMismatch
		}
	case OpAdvance, OpCancel:
		if class != "" {
			return class // its state is unknown now: forget it for state changes
		}
		t := c.order
		if c.op == OpAdvance && status == http.StatusConflict {
			w.pool.put(t) // still pending: try again later
			return class
		}
		t.status, t.pending = c.next, false
		w.pool.put(t)
	}
	return class
}

// abandon undoes the checkout of a call that was never answered because
// the run was interrupted.
func (w *workload) abandon(c call) {
	if c.op == OpAdvance || c.op == OpCancel {
		w.pool.put(c.order)
	}
}
