package proxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/anycompany/strangler/internal/order"
	"github.com/anycompany/strangler/internal/problem"
)

// FuzzStickyKey is differential: the sticky key the proxy routes a create
// or a list by is the customer_id the backends decode from the same request
// (problem.DecodeJSON into order.CreateRequest, as internal/orderapi's
// create does; net/url's Query, as its list does), whenever the backend
// accepts the request at all.
func FuzzStickyKey(f *testing.F) {
	for _, s := range []struct{ body, query string }{
		{`{"customer_id":"A","CUSTOMER_ID":"B"}`, "customer_id=%zz&customer_id=b"},
		{`{"customer_id":"c-1","currency":"USD"}`, "customer_id=c-1&limit=5"},
		{`{"CUSTOMER_ID":"x","customer_id":"y"}`, "a;b=1&customer_id=z"},
		{`{"customerid":"x"}`, "customer_id=a+b%20c"},
		{`{"customer_id":null}`, "%63ustomer_id=q"},
		{`{"customer_id":"\u00e9\ud800"}`, "customer_id=&customer_id=2"},
		{`{"customer_id":"a"} {"customer_id":"b"}`, "customer_id=%"},
		{`{"notes":"x","customer_id":"n","items":[]}`, "customer_id;=x&customer_id=y"},
	} {
		f.Add([]byte(s.body), s.query)
	}
	body := defaultKeySource(http.MethodPost)
	query := defaultKeySource(http.MethodGet)
	f.Fuzz(func(t *testing.T, b []byte, raw string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/orders", bytes.NewReader(b))
		var req order.CreateRequest
		if p := problem.DecodeJSON(httptest.NewRecorder(), r, 1<<20, &req); p == nil {
			if got := jsonField(b, body.body); got != req.CustomerID {
				t.Errorf("body %q: proxy routes by %q, the backend stores %q", b, got, req.CustomerID)
			}
		}
		u := &url.URL{RawQuery: raw}
		want := u.Query().Get("customer_id")
		if got := queryValue(raw, query.name); got != want {
			t.Errorf("query %q: proxy routes by %q, the backend reads %q", raw, got, want)
		}
		// httputil.ReverseProxy re-encodes a query with ';' or a bad
		// escape from the same parse: the backend's value is unchanged.
		if again, _ := url.ParseQuery(u.Query().Encode()); again.Get("customer_id") != want {
			t.Errorf("query %q: re-encoded, the backend would read %q, not %q", raw, again.Get("customer_id"), want)
		}
	})
}

// FuzzRoutePattern: a route pattern either is refused or matches the path
// made from it (each parameter replaced by a value), binding each
// parameter; matching any method and path never panics nor binds more
// than maxParams.
func FuzzRoutePattern(f *testing.F) {
	for _, s := range []struct{ pat, method, path string }{
		{"GET /v1/orders/{id}", "GET", "/v1/orders/77"}, {"POST /v1/orders/{id}/cancel", "POST", "/v1/orders/x/cancel"},
		{"GET /files/{rest...}", "HEAD", "/files/a/b/c"}, {"GET /", "GET", "/"}, {"GET //{a}", "GET", "//x"},
		{"PUT /{a}/{b}/{c}/{d}", "PUT", "/1/2/3/4"}, {"GET /x{id}", "GET", "/x1"},
	} {
		f.Add(s.pat, s.method, s.path)
	}
	f.Fuzz(func(t *testing.T, pat, method, path string) {
		p, err := parsePattern(pat)
		if err != nil {
			return
		}
		var ps params
		p.match(method, path, &ps)
		if ps.n > maxParams {
			t.Fatalf("%q on %q bound %d parameters", pat, path, ps.n)
		}
		var b strings.Builder
		for _, s := range p.segs {
			b.WriteString("/")
			if s.param == "" {
				b.WriteString(s.lit)
			} else {
				b.WriteString("v-" + s.param)
			}
		}
		made := b.String()
		if made == "" {
			made = "/"
		}
		if !p.match(p.method, made, &ps) {
			t.Fatalf("%q does not match the path %q made from it", pat, made)
		}
		for _, s := range p.segs {
			if s.param != "" && ps.get(s.param) != "v-"+s.param {
				t.Fatalf("%q on %q: %s = %q", pat, made, s.param, ps.get(s.param))
			}
		}
	})
}
