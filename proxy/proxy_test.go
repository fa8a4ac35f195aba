package proxy_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/contracttest"
	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/proxy/shadow"
)

// orderRoutes are the order API's routes, all canary at weight.
func orderRoutes(weight float64) []proxy.RouteConfig {
	return []proxy.RouteConfig{
		{Name: "create-order", Match: "POST /v1/orders", Mode: proxy.ModeCanary, Weight: weight, Sticky: "body:customer_id"},
		{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeCanary, Weight: weight, Sticky: "path:id"},
		{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeCanary, Weight: weight, Sticky: "query:customer_id"},
		{Name: "cancel-order", Match: "POST /v1/orders/{id}/cancel", Mode: proxy.ModeCanary, Weight: weight, Sticky: "path:id"},
		{Name: "update-order", Match: "PATCH /v1/orders/{id}", Mode: proxy.ModeCanary, Weight: weight, Sticky: "path:id"},
	}
}

// TestContractThroughProxy runs the order API's contract suite through the
// proxy with every route at weight 0 (all legacy) and 100 (all to the
// second backend, a legacy instance on its own database).
func TestContractThroughProxy(t *testing.T) {
	for _, tc := range []struct {
		weight float64
		want   proxy.Backend
	}{{0, proxy.BackendLegacy}, {100, proxy.BackendNew}} {
		t.Run(fmt.Sprintf("weight_%g", tc.weight), func(t *testing.T) {
			t.Parallel()
			h := startProxy(t, testConfig(t, startLegacy(t), startLegacy(t), "", orderRoutes(tc.weight)...), proxy.Deps{})
			// The suite's subtests are parallel: they run after Run returns,
			// so the backends are checked in a cleanup (before the proxy stops).
			t.Cleanup(func() {
				v, err := h.client().Routes(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				other := proxy.BackendNew
				if tc.want == proxy.BackendNew {
					other = proxy.BackendLegacy
				}
				for _, r := range v.Routes {
					if r.Name == "unmatched" {
						continue // health, metrics, unknown paths: always legacy
					}
					if n := r.Backends[other].Requests; n != 0 {
						t.Errorf("route %s sent %d requests to %s at weight %g", r.Name, n, other, tc.weight)
					}
					if r.Backends[tc.want].Requests == 0 {
						t.Errorf("route %s sent nothing to %s", r.Name, tc.want)
					}
				}
			})
			contracttest.Run(t, contracttest.Target{BaseURL: h.url, RetailKey: "retail-demo-key", WholesaleKey: "wholesale-demo-key"})
		})
	}
}

// TestWeightsHonoured sends 3,000 customers through a canary route at 30 %
// and checks each lands where its bucket says, and the share.
func TestWeightsHonoured(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	h := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeCanary, Weight: 30}), proxy.Deps{})
	const n = 3000
	toNew := 0
	for i := range n {
		cust := fmt.Sprintf("cust-%d", i)
		a := call(t, "GET", h.url+"/v1/orders?customer_id="+cust, "")
		want := "legacy"
		if proxy.ToNew(cust, 30) {
			want = "new"
			toNew++
		}
		if a.status != 200 || a.backend != want || !strings.Contains(string(a.body), `"backend":"`+want+`"`) {
			t.Fatalf("customer %s: status %d, X-Strangler-Backend %q, body %s; want %s", cust, a.status, a.backend, a.body, want)
		}
	}
	if share := 100 * float64(toNew) / n; math.Abs(share-30) > 3 {
		t.Errorf("%.1f%% of customers went to new at weight 30", share)
	}
	if got := nw.hits.Load(); got != int64(toNew) {
		t.Errorf("new backend saw %d requests, want %d", got, toNew)
	}
	// Raising the weight only moves keys legacy -> new.
	h.set(t, "list-orders", "", 60)
	for i := range 500 {
		cust := fmt.Sprintf("cust-%d", i)
		a := call(t, "GET", h.url+"/v1/orders?customer_id="+cust, "")
		if proxy.ToNew(cust, 30) && a.backend != "new" {
			t.Fatalf("customer %s left new when the weight rose", cust)
		}
	}
}

// TestForcedBackend: X-Strangler-Backend is honoured only with force.token
// (never with the admin token, never when force.token is unset), and no
// X-Strangler-* header a client sends reaches a backend.
func TestForcedBackend(t *testing.T) {
	const forceToken = "test-force-token-0123456789"
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	route := proxy.RouteConfig{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeLegacy}
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", route)
	cfg.Force.Token = forceToken
	h := startProxy(t, cfg, proxy.Deps{})
	for _, tc := range []struct {
		name string
		hdr  []string
		want string
	}{
		{"no token", []string{proxy.HeaderBackend, "new"}, "legacy"},
		{"wrong token", []string{proxy.HeaderBackend, "new", proxy.HeaderForceToken, "wrong"}, "legacy"},
		{"admin token", []string{proxy.HeaderBackend, "new", proxy.HeaderForceToken, adminToken}, "legacy"},
		{"admin token as the admin header", []string{proxy.HeaderBackend, "new", "X-Strangler-Admin-Token", adminToken}, "legacy"},
		{"force token", []string{proxy.HeaderBackend, "new", proxy.HeaderForceToken, forceToken, "X-Strangler-Dry-Run", "true"}, "new"},
	} {
		if a := call(t, "GET", h.url+"/v1/orders?customer_id=x", "", tc.hdr...); a.backend != tc.want || a.status != 200 {
			t.Errorf("%s: %d from %q, want 200 from %s", tc.name, a.status, a.backend, tc.want)
		}
	}
	if legacy.leaked.Load() || nw.leaked.Load() {
		t.Error("a control header reached the backend")
	}

	off := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, "", route), proxy.Deps{})
	if a := call(t, "GET", off.url+"/v1/orders?customer_id=x", "", proxy.HeaderBackend, "new", proxy.HeaderForceToken, forceToken); a.backend != "legacy" {
		t.Errorf("without force.token the header was honoured: answered by %q", a.backend)
	}
}

// TestClientDryRunHeadersStripped: a client's own dry-run header (the
// default X-Strangler-Dry-Run or a route's shadow.dry_run_header) never
// reaches a backend, so it cannot make the new service skip a real write.
func TestClientDryRunHeadersStripped(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	sh := shadow.DefaultConfig()
	sh.DryRunHeader = "x-dry-run"
	h := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "create-order", Match: "POST /v1/orders", Mode: proxy.ModeNew, Shadow: &sh},
		proxy.RouteConfig{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeLegacy}), proxy.Deps{})
	a := call(t, "POST", h.url+"/v1/orders", fmt.Sprintf(orderBody, "c1"), "X-Strangler-Dry-Run", "true", "X-Dry-Run", "true", "x-strangler-other", "1")
	b := call(t, "GET", h.url+"/v1/orders?customer_id=x", "", "X-Strangler-Dry-Run", "true", "X-Dry-Run", "true")
	if a.backend != "new" || a.status != 200 || b.backend != "legacy" || b.status != 200 {
		t.Fatalf("answers: %d from %s, %d from %s", a.status, a.backend, b.status, b.backend)
	}
	if legacy.leaked.Load() || nw.leaked.Load() {
		t.Error("a client's dry-run header reached the backend")
	}
}

const orderBody = `{"customer_id":%q,"currency":"USD","items":[{"sku":"CLN-1001","name":"Cleaner","quantity":1,"unit_price":"4.99"}],
	"shipping_address":{"name":"A","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}}`

// TestOwnershipAndPinningAcrossFlip: a POST retried after a weight flip
// reaches the backend that saw its Idempotency-Key first (on this proxy, on
// a restarted one and on another replica), so the order exists once; ord_
// ids always go to new and fail clearly when new is down.
func TestOwnershipAndPinningAcrossFlip(t *testing.T) {
	legacyURL, newURL := startLegacy(t), startLegacy(t)
	cfg := testConfig(t, legacyURL, newURL, "", orderRoutes(0)...)
	h := startProxy(t, cfg, proxy.Deps{})
	auth := []string{"Authorization", "Bearer retail-demo-key"}

	body := fmt.Sprintf(orderBody, "pin-cust")
	first := call(t, "POST", h.url+"/v1/orders", body, append(auth, "Idempotency-Key", "pin-key-1")...)
	if first.status != 201 || first.backend != "legacy" {
		t.Fatalf("first create: %d from %s: %s", first.status, first.backend, first.body)
	}
	id := decodeID(t, first.body)

	h.set(t, "create-order", "", 100)
	// A new key goes to new at 100 %...
	if a := call(t, "POST", h.url+"/v1/orders", body, append(auth, "Idempotency-Key", "pin-key-2")...); a.status != 201 || a.backend != "new" {
		t.Fatalf("fresh key at 100%%: %d from %s", a.status, a.backend)
	}
	// ...but the retry of the first stays on legacy and replays the same order.
	retry := call(t, "POST", h.url+"/v1/orders", body, append(auth, "Idempotency-Key", "pin-key-1")...)
	if retry.status != 201 || retry.backend != "legacy" || decodeID(t, retry.body) != id {
		t.Fatalf("retry after the flip: %d from %s, id %s; want 201 from legacy with id %s", retry.status, retry.backend, retry.body, id)
	}
	// The new backend never heard of it.
	if a := call(t, "GET", newURL+"/v1/orders?customer_id=pin-cust", "", auth...); strings.Contains(string(a.body), `"id":"`+id+`"`) && strings.Contains(string(a.body), "pin-key-1") {
		t.Fatalf("the order reached new: %s", a.body)
	}

	// Another replica (same control table, its own memory) agrees.
	other := startProxy(t, testConfig(t, legacyURL, newURL, cfg.Control.Table, orderRoutes(0)...), proxy.Deps{})
	eventually(t, "the replica to apply weight 100", func() bool {
		r, _ := other.srv.Switch().Table().Route("create-order")
		return r.State().Weight == 100
	})
	if a := call(t, "POST", other.url+"/v1/orders", body, append(auth, "Idempotency-Key", "pin-key-1")...); a.backend != "legacy" || decodeID(t, a.body) != id {
		t.Fatalf("retry on another replica: from %s, %s", a.backend, a.body)
	}

	// ord_ ids go to new whatever the weight.
	h.set(t, "get-order", "", 0)
	if a := call(t, "GET", h.url+"/v1/orders/ord_01TEST", "", auth...); a.backend != "new" {
		t.Fatalf("ord_ id at weight 0 answered by %s", a.backend)
	}
}

// TestOwnedFailClearlyWhenNewIsDown: with the new backend down, ord_ ids
// get 503 problem+json (never legacy), other keys fall back to legacy.
func TestOwnedFailClearlyWhenNewIsDown(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	h := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(100)...), proxy.Deps{})
	nw.srv.Close()
	eventually(t, "the health check to mark new down", func() bool {
		v, err := h.client().Routes(context.Background())
		return err == nil && !v.Backends[1].Healthy
	})
	a := call(t, "GET", h.url+"/v1/orders/ord_01X", "")
	if a.status != http.StatusServiceUnavailable || a.backend != "new" || !strings.HasPrefix(a.header.Get("Content-Type"), problem.ContentType) {
		t.Fatalf("owned id with new down: %d from %s (%s): %s", a.status, a.backend, a.header.Get("Content-Type"), a.body)
	}
	if legacy.hits.Load() != 0 {
		t.Fatal("an owned id reached legacy")
	}
	if a := call(t, "GET", h.url+"/v1/orders/123", ""); a.status != 200 || a.backend != "legacy" {
		t.Fatalf("non-owned id with new down: %d from %s, want 200 from legacy", a.status, a.backend)
	}
}

// TestCircuitBreakerSendsShareBackToLegacy: new answering 500 opens its
// circuit; then its share goes to legacy.
func TestCircuitBreakerSendsShareBackToLegacy(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(100)...)
	cfg.Circuit.MinRequests = 10
	cfg.Circuit.OpenFor = time.Minute
	h := startProxy(t, cfg, proxy.Deps{})
	nw.fail.Store(true)
	for i := range 10 {
		if a := call(t, "GET", h.url+fmt.Sprintf("/v1/orders/%d", i), ""); a.status != 500 || a.backend != "new" {
			t.Fatalf("call %d: %d from %s, want new's 500", i, a.status, a.backend)
		}
	}
	for i := range 10 {
		if a := call(t, "GET", h.url+fmt.Sprintf("/v1/orders/%d", i), ""); a.status != 200 || a.backend != "legacy" {
			t.Fatalf("after the circuit opened, call %d: %d from %s, want legacy", i, a.status, a.backend)
		}
	}
	v, _ := h.client().Routes(context.Background())
	if v.Backends[1].Circuit != "open" {
		t.Errorf("circuit %q, want open", v.Backends[1].Circuit)
	}
}

// TestErrorStatuses: a dead backend is 502, a slow one 504, a client that
// leaves is 499 and no backend error.
func TestErrorStatuses(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "slow", Match: "GET /slow", Mode: proxy.ModeLegacy},
		proxy.RouteConfig{Name: "dead", Match: "GET /dead", Mode: proxy.ModeNew},
		proxy.RouteConfig{Name: "stream", Match: "GET /stream", Mode: proxy.ModeLegacy})
	cfg.Transport.ResponseHeaderTimeout = 200 * time.Millisecond
	h := startProxy(t, cfg, proxy.Deps{})
	nw.hangup.Store(true) // healthy, but every call dies mid-way
	if a := call(t, "GET", h.url+"/dead", ""); a.status != http.StatusBadGateway || a.backend != "new" {
		t.Errorf("dead backend: %d from %s, want 502 from new", a.status, a.backend)
	}
	legacy.delay.Store(int64(time.Second))
	if a := call(t, "GET", h.url+"/slow", ""); a.status != http.StatusGatewayTimeout {
		t.Errorf("slow backend: %d, want 504", a.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/slow", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the client's own timeout did not fire")
	}
	eventually(t, "the 499 to be recorded", func() bool {
		v, _ := h.client().Routes(context.Background())
		for _, r := range v.Routes {
			if r.Name == "slow" {
				return r.Backends["legacy"].Requests == 2
			}
		}
		return false
	})
	v, _ := h.client().Routes(context.Background())
	for _, r := range v.Routes {
		if r.Name == "slow" && r.Backends["legacy"].Errors != 1 {
			t.Errorf("slow route: %d errors, want 1 (the 504; the 499 is not a backend error)", r.Backends["legacy"].Errors)
		}
	}

	// A client that leaves mid-body is a 499 too, not a backend error.
	resp, err := http.Get(h.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(make([]byte, 512))
	resp.Body.Close()
	eventually(t, "the mid-body 499 to be counted", func() bool {
		m := call(t, "GET", h.admin+"/metrics", "")
		return strings.Contains(string(m.body), `proxy_requests_total{backend="legacy",code="499",route="stream"} 1`)
	})
	if m := call(t, "GET", h.admin+"/metrics", ""); !strings.Contains(string(m.body), `proxy_errors_total{backend="legacy",route="stream"} 0`) {
		t.Error("a client leaving mid-body counted as a backend error")
	}
}

// TestBodyLimit: a body over max_body_bytes is refused with 413 whether its
// length is announced or streamed.
func TestBodyLimit(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...)
	cfg.MaxBodyBytes = 4096
	h := startProxy(t, cfg, proxy.Deps{})
	big := `{"customer_id":"` + strings.Repeat("x", 5000) + `"}`
	if a := call(t, "POST", h.url+"/v1/orders", big); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("announced big body: %d, want 413", a.status)
	}
	req, _ := http.NewRequest("POST", h.url+"/v1/orders", struct{ *strings.Reader }{strings.NewReader(big)}) // unknown length: chunked
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked big body: %d, want 413", resp.StatusCode)
	}
	if legacy.hits.Load()+nw.hits.Load() != 0 {
		t.Error("a backend saw a body over the limit")
	}
	// A streamed body (not buffered: the key is in the path) is cut at the
	// limit on its way to the backend, and the client still gets 413.
	req, _ = http.NewRequest("PATCH", h.url+"/v1/orders/5", struct{ *strings.Reader }{strings.NewReader(big)})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed big body: %d, want 413", resp.StatusCode)
	}
}

// TestAdminAuth: the admin API refuses a missing or wrong token with 401 problem+json.
func TestAdminAuth(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	h := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...), proxy.Deps{})
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/admin/routes", "", 401},
		{"GET", "/admin/routes", "Bearer wrong-token", 401},
		{"GET", "/admin/routes", adminToken, 401}, // not a bearer
		{"PUT", "/admin/routes/get-order", "", 401},
		{"POST", "/admin/routes/get-order/plan", "Bearer nope", 401},
		{"GET", "/admin/audit", "", 401},
		{"GET", "/admin/diffs", "", 401},
		{"GET", "/admin/routes/get-order/history", "", 401},
		{"GET", "/admin/routes", "Bearer " + adminToken, 200},
		{"GET", "/admin/audit", "Bearer " + adminToken, 200},
		{"GET", "/admin/diffs", "Bearer " + adminToken, 200},
		{"GET", "/admin/routes/get-order/history", "Bearer " + adminToken, 200},
	} {
		var hdr []string
		if tc.auth != "" {
			hdr = []string{"Authorization", tc.auth}
		}
		a := call(t, tc.method, h.admin+tc.path, "", hdr...)
		if a.status != tc.want {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.auth, a.status, tc.want)
		}
		if tc.want == 401 && !strings.HasPrefix(a.header.Get("Content-Type"), problem.ContentType) {
			t.Errorf("%s %s: 401 is not problem+json", tc.method, tc.path)
		}
	}
	if _, err := (&proxy.AdminClient{BaseURL: h.admin, Token: "wrong"}).SetRoute(context.Background(), "get-order",
		proxy.SetRouteRequest{Weight: ptr(50.0), Actor: "mallory", Reason: "x"}); err == nil {
		t.Fatal("a change with a wrong token was accepted")
	}
	r, _ := h.srv.Switch().Table().Route("get-order")
	if r.State().Weight != 0 {
		t.Fatal("a refused change was applied")
	}
	// Bad changes are 4xx naming the field.
	_, err := h.client().SetRoute(context.Background(), "get-order", proxy.SetRouteRequest{Weight: ptr(100.5), Actor: "a", Reason: "b"})
	var p *problem.Problem
	if !asProblem(err, &p) || p.Status != 400 || p.Field != "weight" {
		t.Errorf("weight 100.5: %v", err)
	}
	_, err = h.client().SetRoute(context.Background(), "nope", proxy.SetRouteRequest{Weight: ptr(1.0), Actor: "a", Reason: "b"})
	if !asProblem(err, &p) || p.Status != 404 {
		t.Errorf("unknown route: %v", err)
	}
	_, err = h.client().SetRoute(context.Background(), "get-order", proxy.SetRouteRequest{Weight: ptr(1.0), Actor: "a"})
	if !asProblem(err, &p) || p.Field != "reason" {
		t.Errorf("no reason: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPersistenceAndAuditAcrossRestart: an admin change survives a restart
// with the same file, is audited with actor, reason, before and after, and
// loses to the file once the file changes that route.
func TestPersistenceAndAuditAcrossRestart(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...)
	h := startProxy(t, cfg, proxy.Deps{})
	if _, err := h.client().SetRoute(context.Background(), "list-orders",
		proxy.SetRouteRequest{Weight: ptr(42.5), Actor: "alice", Reason: "canary step"}); err != nil {
		t.Fatal(err)
	}
	h.stop(t)

	h2 := startProxy(t, cfg, proxy.Deps{})
	r, _ := h2.srv.Switch().Table().Route("list-orders")
	if st := r.State(); st.Weight != 42.5 || st.Actor != "alice" || st.Mode != proxy.ModeCanary {
		t.Fatalf("after restart: %+v, want alice's 42.5", st)
	}
	entries, err := h2.client().Audit(context.Background(), "list-orders", 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit: %v, %+v", err, entries)
	}
	e := entries[0]
	got := []any{e.Actor, e.Reason, e.Before.Weight, e.After.Weight, e.Route}
	if diff := cmp.Diff([]any{"alice", "canary step", 0.0, 42.5, "list-orders"}, got); diff != "" {
		t.Errorf("audit entry (-want +got):\n%s", diff)
	}
	h2.stop(t)

	// The file changes that route: the file wins, audited as config-file.
	cfg3 := cfg
	cfg3.Routes = orderRoutes(0)
	cfg3.Routes[2].Weight = 10
	h3 := startProxy(t, cfg3, proxy.Deps{})
	r, _ = h3.srv.Switch().Table().Route("list-orders")
	if st := r.State(); st.Weight != 10 || st.Actor != "config-file" {
		t.Fatalf("after the file changed the route: %+v, want the file's 10", st)
	}
	entries, _ = h3.client().Audit(context.Background(), "", 10)
	if len(entries) != 2 || entries[0].Actor != "config-file" || entries[0].Before.Weight != 42.5 {
		t.Fatalf("audit after the file won: %+v", entries)
	}
}

// TestReplicasConverge: a change on one replica reaches another within the poll.
func TestReplicasConverge(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...)
	a, b := startProxy(t, cfg, proxy.Deps{}), startProxy(t, cfg, proxy.Deps{})
	a.set(t, "get-order", "new", 0)
	eventually(t, "replica b to route get-order to new", func() bool {
		return call(t, "GET", b.url+"/v1/orders/5", "").backend == "new"
	})
}

// TestReloadUnderLoad rewrites the config file 20 times (weights, a new
// route, one invalid version) under steady load and counts every answer:
// none may fail, and the invalid file changes nothing.
func TestReloadUnderLoad(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	dir := t.TempDir()
	file := filepath.Join(dir, "proxy.yaml")
	base := testConfig(t, legacy.srv.URL, nw.srv.URL, "")
	write := func(weight float64, extra string) {
		t.Helper()
		y := fmt.Sprintf(`admin: {token: %s}
backends: {legacy: %q, new: %q}
control: {table: %s, poll: 100ms}
dynamodb: {url: %q}
reload_interval: 10ms
routes:
  - {name: list-orders, match: "GET /v1/orders", mode: canary, weight: %g}
%s`, adminToken, legacy.srv.URL, nw.srv.URL, base.Control.Table, base.DynamoDB.URL, weight, extra)
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (proxy.Config, error) {
		c := proxy.DefaultConfig()
		err := config.Load(config.Source{Part: "proxy", File: file}, &c)
		return c, err
	}
	write(0, "")
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, cfg, proxy.Deps{Reload: load, ConfigFile: file})

	stop := loadUntilStopped(8, func(w, i int) string { return fmt.Sprintf("%s/v1/orders?customer_id=c%d-%d", h.url, w, i) }, 0,
		func(resp *http.Response) bool {
			return resp.StatusCode == 200 && resp.Header.Get(proxy.HeaderBackend) != ""
		})
	weightIs := func(w float64) func() bool {
		return func() bool {
			r, ok := h.srv.Switch().Table().Route("list-orders")
			return ok && r.State().Weight == w
		}
	}
	for i := 1; i <= 20; i++ {
		extra := ""
		if i%2 == 0 {
			extra = `  - {name: get-order, match: "GET /v1/orders/{id}", mode: new}`
		}
		write(float64(i*5), extra)
		eventually(t, fmt.Sprintf("weight %d to apply", i*5), weightIs(float64(i*5)))
		if i == 10 {
			// An invalid file is refused and the running routes stay.
			if err := os.WriteFile(file, []byte("routes:\n  - {name: x, match: nonsense, mode: sideways}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if !weightIs(50)() {
				t.Fatal("an invalid file changed the routing")
			}
		}
	}
	sent, failed := stop()
	t.Logf("%d requests during 20 reloads, %d failed", sent, failed)
	if sent < 200 || failed != 0 {
		t.Fatalf("%d of %d requests failed during reloads", failed, sent)
	}
	// The file's changes are audited.
	entries, err := h.client().Audit(context.Background(), "list-orders", 100)
	if err != nil || len(entries) < 20 || entries[0].Actor != "config-file" {
		t.Fatalf("audit of file changes: %v, %d entries", err, len(entries))
	}
}

func asProblem(err error, p **problem.Problem) bool {
	if err == nil {
		return false
	}
	return errorsAs(err, p)
}

// TestLongIdempotencyKeyIsPinned: a key of 255 bytes (longer than the
// control table's key part, so pinned by its digest) is pinned; one of 256
// bytes is refused with 400 problem+json before any backend.
func TestLongIdempotencyKeyIsPinned(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "", orderRoutes(0)...)
	h := startProxy(t, cfg, proxy.Deps{})
	a := call(t, "POST", h.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", strings.Repeat("k", proxy.MaxIdempotencyKeyBytes+1))
	if a.status != http.StatusBadRequest || a.backend != "proxy" || a.header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("a 256-byte key: %d from %s (%s): %s, want 400 problem+json from the proxy", a.status, a.backend, a.header.Get("Content-Type"), a.body)
	}
	if n := legacy.hits.Load() + nw.hits.Load(); n != 0 {
		t.Fatalf("a backend saw %d requests with a key over the limit", n)
	}
	key := strings.Repeat("k", proxy.MaxIdempotencyKeyBytes)
	if a := call(t, "POST", h.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", key); a.status != 200 || a.backend != "legacy" {
		t.Fatalf("first: %d from %s: %s", a.status, a.backend, a.body)
	}
	h.set(t, "create-order", "", 100)
	// A replica (its own, empty LRU) reads the pin from the control table.
	other := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, cfg.Control.Table, orderRoutes(0)...), proxy.Deps{})
	if a := call(t, "POST", other.url+"/v1/orders", `{"customer_id":"c"}`, "Idempotency-Key", key); a.backend != "legacy" {
		t.Fatalf("retry on a replica after the flip went to %s", a.backend)
	}
}
