package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy"
	"github.com/anycompany/strangler/proxy/plan"
)

// TestPlanActionNeedsAReason: the plan API refuses an action without a
// reason, naming the field, and records the operator's reason in the
// plan's history and in the audit entry of the weight it sets, as a route
// set does.
func TestPlanActionNeedsAReason(t *testing.T) {
	legacy, nw := startFake(t, "legacy"), startFake(t, "new")
	p := plan.Plan{Steps: []float64{10, 100}, Bake: time.Hour, SLO: plan.SLO{Max5xxRatio: 0.05, MinRequests: 10}}
	h := startProxy(t, testConfig(t, legacy.srv.URL, nw.srv.URL, "",
		proxy.RouteConfig{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeLegacy, Sticky: "path:id", Plan: &p}), proxy.Deps{})
	ctx := context.Background()

	_, err := h.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: "start", Actor: "alice"})
	var pr *problem.Problem
	if !errors.As(err, &pr) || pr.Status != http.StatusBadRequest || pr.Field != "reason" {
		t.Fatalf("start without a reason: %v, want 400 naming reason", err)
	}
	for _, a := range []struct{ action, reason string }{{"start", "first canary"}, {"pause", "a deploy of new"}, {"abort", "new drops the coupon"}} {
		st, err := h.client().Plan(ctx, "get-order", proxy.PlanRequest{Action: a.action, Actor: "alice", Reason: a.reason})
		if err != nil {
			t.Fatalf("%s: %v", a.action, err)
		}
		if last := st.History[len(st.History)-1]; last.Action != a.action || !strings.HasPrefix(last.Reason, a.reason+" (") {
			t.Errorf("%s: the plan's history ends with %+v, want its reason led by %q", a.action, last, a.reason)
		}
	}
	entries, err := h.client().Audit(ctx, "get-order", 10)
	if err != nil {
		t.Fatal(err)
	}
	// start and abort set a weight (audited); pause does not.
	var reasons []string
	for _, e := range entries {
		if e.Actor == "alice" {
			reasons = append(reasons, e.Reason)
		}
	}
	if len(reasons) != 2 || !strings.HasPrefix(reasons[0], "new drops the coupon (aborted by alice") ||
		!strings.HasPrefix(reasons[1], "first canary (plan started by alice") {
		t.Errorf("alice's audit entries, newest first: %q; want the abort's and the start's, each led by its reason", reasons)
	}
}
