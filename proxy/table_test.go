package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/google/go-cmp/cmp"
)

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, method, path string
		want                  bool
		params                map[string]string
	}{
		{"GET /v1/orders/{id}", "GET", "/v1/orders/42", true, map[string]string{"id": "42"}},
		{"GET /v1/orders/{id}", "HEAD", "/v1/orders/42", true, map[string]string{"id": "42"}},
		{"GET /v1/orders/{id}", "POST", "/v1/orders/42", false, nil},
		{"GET /v1/orders/{id}", "GET", "/v1/orders/", false, nil},
		{"GET /v1/orders/{id}", "GET", "/v1/orders/42/cancel", false, nil},
		{"GET /v1/orders/{id}", "GET", "/v1/orders", false, nil},
		{"GET /v1/orders", "GET", "/v1/orders", true, map[string]string{}},
		{"GET /v1/orders", "GET", "/v1/orders/", false, nil},
		{"POST /v1/orders/{id}/cancel", "POST", "/v1/orders/ord_1/cancel", true, map[string]string{"id": "ord_1"}},
		{"GET /static/{rest...}", "GET", "/static/a/b/c", true, map[string]string{"rest": "a/b/c"}},
		{"GET /", "GET", "/", true, map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.pattern+" "+tc.method+" "+tc.path, func(t *testing.T) {
			p, err := parsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var ps params
			if got := p.match(tc.method, tc.path, &ps); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
			if !tc.want {
				return
			}
			got := map[string]string{}
			for i := range ps.n {
				got[ps.names[i]] = ps.vals[i]
			}
			if diff := cmp.Diff(tc.params, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPatternRefused(t *testing.T) {
	for _, s := range []string{"", "GET", "get /x", "GET x", "GET /a/{}", "GET /{a...}/b", "GET /x{id}", "GET /{a}/{b}/{c}/{d}/{e}"} {
		if _, err := parsePattern(s); err == nil {
			t.Errorf("parsePattern(%q) accepted", s)
		}
	}
}

func TestKeyExtraction(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/orders/77?customer_id=c%2B1&x=2", nil)
	r.Header.Set("X-Tenant", "t-9")
	r.Header.Set("Authorization", "Bearer retail-demo-key")
	ps := params{n: 1, names: [maxParams]string{"id"}, vals: [maxParams]string{"77"}}
	body := []byte(`{"customer_id":"body-cust","n":3}`)
	cases := []struct {
		src  string
		body []byte
		want string
	}{
		{"query:customer_id", nil, "c+1"},
		{"query:missing", nil, "retail-demo-key"},
		{"header:x-tenant", nil, "t-9"},
		{"path:id", nil, "77"},
		{"body:customer_id", body, "body-cust"},
		{"body:n", body, "3"},
		{"body:customer_id", []byte(`{bad`), "retail-demo-key"},
		{"apikey", nil, "retail-demo-key"},
		// As the backends decode them (encoding/json into a struct, net/url's Query):
		{"body:customer_id", []byte(`{"customer_id":"A","CUSTOMER_ID":"B"}`), "B"},
		{"body:customer_id", []byte(`{"Customer_Id":"A"}`), "A"},
		{"body:customer_id", []byte(`{"customer_id":null}`), "retail-demo-key"},
		{"query:x", nil, "2"},
	}
	for _, tc := range cases {
		k, err := parseKeySource(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if got := k.extract(r, &ps, tc.body); got != tc.want {
			t.Errorf("%s: key %q, want %q", tc.src, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestStatusFor(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"refused", live, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, 502},
		{"eof", live, fmt.Errorf("reading: %w", errors.New("unexpected EOF")), 502},
		{"timeout", live, fmt.Errorf("round trip: %w", timeoutErr{}), 504},
		{"deadline", live, context.DeadlineExceeded, 504},
		{"client gone", gone, context.Canceled, 499},
		{"client gone during timeout", gone, timeoutErr{}, 499},
		{"too big", live, fmt.Errorf("copying body: %w", &http.MaxBytesError{Limit: 10}), 413},
		{"owned", live, ErrOwnedUnavailable, 503},
	}
	for _, tc := range cases {
		if got := statusFor(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestBreaker(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var states []string
	b := NewBreaker(CircuitConfig{Window: 10 * time.Second, MinRequests: 10, MaxErrorRatio: 0.5, OpenFor: 5 * time.Second, Probes: 2}, clock,
		func(s CircuitState) { states = append(states, s.String()) })
	for range 9 {
		b.Record(true) // below MinRequests: stays closed
	}
	if !b.Allow() {
		t.Fatal("opened below min_requests")
	}
	b.Record(true)
	if b.Allow() {
		t.Fatal("still closed at 10/10 errors")
	}
	now = now.Add(5 * time.Second)
	if got := []bool{b.Allow(), b.Allow(), b.Allow()}; !cmp.Equal(got, []bool{true, true, false}) {
		t.Fatalf("half-open admitted %v, want exactly 2 probes", got)
	}
	b.Record(false)
	b.Record(true) // a probe fails: open again
	if b.Allow() {
		t.Fatal("a failed probe must reopen")
	}
	now = now.Add(5 * time.Second)
	b.Allow()
	b.Allow()
	b.Record(false)
	b.Record(false)
	if b.State() != CircuitClosed || !b.Allow() {
		t.Fatalf("state %s after good probes, want closed", b.State())
	}
	// Old errors leave the window.
	for range 20 {
		b.Record(false)
	}
	now = now.Add(11 * time.Second)
	for range 10 {
		b.Record(true)
	}
	if b.Allow() {
		t.Fatal("10 errors of 10 in the window must open")
	}
	want := []string{"open", "half-open", "open", "half-open", "closed", "open"}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
}

func TestConfigRefusesBadRoutes(t *testing.T) {
	c := DefaultConfig()
	c.Admin.Token = "0123456789abcdef"
	c.Admin.Listen = "0.0.0.0:8089"
	c.Force.Token = c.Admin.Token // the admin token may not double as the force token
	c.Routes = []RouteConfig{
		{Name: "a b", Match: "GET /x", Mode: "canary", Weight: 10},
		{Name: "ok", Match: "GET x", Mode: "sideways", Weight: 100.001, Sticky: "cookie:x"},
		{Name: "ok", Match: "GET /y"},
	}
	err := c.Validate()
	for _, key := range []string{`"admin.listen"`, `"force.token"`, `"routes[0].name"`, `"routes[1].match"`, `"routes[1].mode"`, `"routes[1].weight"`, `"routes[1].sticky"`, `"routes[2].name"`} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	c = DefaultConfig()
	c.Admin.Token = "0123456789abcdef"
	for tok, ok := range map[config.Secret]bool{"": true, "short": false, "fedcba9876543210": true} {
		c.Force.Token = tok
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("force.token of %d characters: %v", len(tok), err)
		}
	}
}
