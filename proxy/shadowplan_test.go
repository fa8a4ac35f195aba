package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/proxy/plan"
	"github.com/anycompany/strangler/proxy/shadow"
)

// orderServer answers GET /v1/orders/{id} like an order service: total is
// fixed per server (an injected difference when two servers disagree), id is
// random and updated_at changes on every call (noise, which legacy shows
// against itself as much as against new).
func orderServer(t *testing.T, total string, calls *atomic.Int64) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		calls.Add(1)
		i := n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("rnd-%d-%d", time.Now().UnixNano(), i), "status": "accepted", "total": total,
			"updated_at": time.Now().Format(time.RFC3339Nano), "customer_id": strings.TrimPrefix(r.URL.Path, "/v1/orders/"),
		})
	}))
	t.Cleanup(s.Close)
	return s
}

// TestShadowFindsInjectedDifferenceAndIgnoresNoise: legacy answers every
// client; new gets a copy; the report names total (new differs) and not
// updated_at (legacy differs from itself as often) nor id (ignored).
func TestShadowFindsInjectedDifferenceAndIgnoresNoise(t *testing.T) {
	var legacyCalls, newCalls atomic.Int64
	legacy := orderServer(t, "10.00", &legacyCalls)
	nw := orderServer(t, "10.01", &newCalls)
	sh := shadow.DefaultConfig()
	sh.IgnoreFields = []string{"id"}
	h := startProxy(t, testConfig(t, legacy.URL, nw.URL, "",
		proxy.RouteConfig{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeShadow, Sticky: "path:id", Shadow: &sh}), proxy.Deps{})
	const n = 60
	for i := range n {
		a := call(t, "GET", h.url+fmt.Sprintf("/v1/orders/%d", i), "")
		if a.status != 200 || a.backend != "legacy" || !strings.Contains(string(a.body), `"total":"10.00"`) {
			t.Fatalf("shadow mode must answer from legacy: %d from %s: %s", a.status, a.backend, a.body)
		}
	}
	var rep shadow.Report
	eventually(t, "every exchange to be compared", func() bool {
		a := call(t, "GET", h.admin+"/admin/diffs", "", "Authorization", "Bearer "+adminToken)
		rep = shadow.Report{}
		_ = json.Unmarshal(a.body, &rep)
		return len(rep.Routes) == 1 && rep.Routes[0].Compared == n
	})
	fields := map[string]shadow.FieldReport{}
	for _, f := range rep.Routes[0].Fields {
		fields[f.Field] = f
	}
	if f := fields["total"]; !f.Reported || f.MismatchRate != 1 || len(f.Samples) == 0 {
		t.Errorf("the injected difference in total is not reported: %+v", f)
	}
	if f, ok := fields["updated_at"]; ok && f.Reported {
		t.Errorf("noise in updated_at is reported: %+v", f)
	}
	if _, ok := fields["id"]; ok {
		t.Errorf("the ignored field id was compared: %+v", fields["id"])
	}
	m := call(t, "GET", h.admin+"/metrics", "")
	for _, series := range []string{`proxy_shadow_compared_total{route="get-order"} 60`, `proxy_requests_total{backend="legacy",code="2xx",route="get-order"} 60`} {
		if !strings.Contains(string(m.body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if newCalls.Load() != n || legacyCalls.Load() != 2*n {
		t.Errorf("new saw %d calls, legacy %d; want %d and %d (the client's and the noise replay)", newCalls.Load(), legacyCalls.Load(), n, 2*n)
	}
}

// TestPlanAdvancesThenRollsBack: a plan started through the admin API climbs
// its steps while new stays inside the SLO, and drops to the last safe
// weight at once when new starts failing, with the reason in the audit log.
func TestPlanAdvancesThenRollsBack(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	p := plan.Plan{Steps: []float64{10, 50, 100}, Bake: 300 * time.Millisecond, SLO: plan.SLO{Max5xxRatio: 0.05, MinRequests: 10}}
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeLegacy, Sticky: "path:id", Plan: &p})
	cfg.Circuit.MinRequests = 1000 // leave the failures to the plan
	h := startProxy(t, cfg, proxy.Deps{PlanTick: 20 * time.Millisecond})

	stop := loadUntilStopped(4, func(w, i int) string { return fmt.Sprintf("%s/v1/orders/%d-%d", h.url, w, i) }, 0, nil)
	defer stop()

	st, err := h.client().Plan(context.Background(), "get-order", proxy.PlanRequest{Action: "start", Actor: "alice", Reason: "test"})
	if err != nil || st.State != plan.StateRunning || st.Weight != 10 {
		t.Fatalf("start: %+v, %v", st, err)
	}
	route := func() proxy.RouteState {
		r, _ := h.srv.Switch().Table().Route("get-order")
		return r.State()
	}
	if s := route(); s.Mode != proxy.ModeCanary || s.Weight != 10 {
		t.Fatalf("after start the route is %+v, want canary 10", s)
	}
	eventually(t, "the plan to advance to 50 %", func() bool { return route().Weight == 50 })

	nw.fail.Store(true)
	eventually(t, "the plan to roll back", func() bool {
		s, ok := h.srv.Plans().Status("get-order")
		return ok && s.State == plan.StateRolledBack
	})
	if s := route(); s.Weight != 10 || s.Actor != plan.Actor {
		t.Fatalf("after the breach the route is %+v, want weight 10 (the last safe step) set by the plan", s)
	}
	entries, err := h.client().Audit(context.Background(), "get-order", 10)
	if err != nil || len(entries) < 3 {
		t.Fatalf("audit: %v %+v", err, entries)
	}
	if e := entries[0]; e.Actor != plan.Actor || !strings.Contains(e.Reason, "SLO breach") || e.Before.Weight != 50 || e.After.Weight != 10 {
		t.Errorf("rollback audit entry: %+v", e)
	}
	if m := call(t, "GET", h.admin+"/metrics", ""); !strings.Contains(string(m.body), `proxy_plan_rollbacks_total{route="get-order"} 1`) {
		t.Error("/metrics does not count the rollback")
	}
	v, err := h.client().Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Routes {
		if r.Name == "get-order" && (r.Plan == nil || r.Plan.State != plan.StateRolledBack) {
			t.Errorf("GET /admin/routes shows plan %+v", r.Plan)
		}
	}
}

// TestPlanSurvivesRestart: a running plan is restored by a restarted proxy
// (same control table) at its step, still running.
func TestPlanSurvivesRestart(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	p := plan.Plan{Steps: []float64{5, 50}, Bake: time.Hour, SLO: plan.SLO{Max5xxRatio: 0.01, MinRequests: 10}}
	cfg := testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeLegacy, Sticky: "path:id", Plan: &p})
	h := startProxy(t, cfg, proxy.Deps{})
	if _, err := h.client().Plan(context.Background(), "get-order", proxy.PlanRequest{Action: "start", Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	h.stop(t)
	h2 := startProxy(t, cfg, proxy.Deps{})
	st, ok := h2.srv.Plans().Status("get-order")
	if !ok || st.State != plan.StateRunning || st.Step != 0 || st.Weight != 5 {
		t.Fatalf("after restart the plan is %+v (found %v), want running at step 1 (5 %%)", st, ok)
	}
	r, _ := h2.srv.Switch().Table().Route("get-order")
	if s := r.State(); s.Weight != 5 || s.Mode != proxy.ModeCanary {
		t.Fatalf("after restart the route is %+v", s)
	}
	if _, err := h2.client().Plan(context.Background(), "get-order", proxy.PlanRequest{Action: "abort", Actor: "alice", Reason: "test"}); err != nil {
		t.Fatalf("abort after restart: %v", err)
	}
}
