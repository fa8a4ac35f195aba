package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/problem"
	"github.com/anycompany/strangler/proxy"
)

// TestHistoryEndpoint: GET /admin/routes/{route}/history serves a route's
// and a write group's samples, oldest first; it needs the
// token and refuses an unknown name.
func TestHistoryEndpoint(t *testing.T) {
	legacyB, newB := startFake(t, "legacy"), startFake(t, "new")
	cfg := testConfig(t, legacyB.srv.URL, newB.srv.URL, "", groupRoutes...)
	cfg.WriteGroups = []proxy.WriteGroupConfig{writeGroup("")}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, cfg, proxy.Deps{HistoryEvery: 20 * time.Millisecond})
	ctx := context.Background()
	for range 5 {
		if a := call(t, "GET", h.url+"/v1/orders/o-1", ""); a.status != http.StatusOK {
			t.Fatalf("GET through the proxy: %d", a.status)
		}
		if a := call(t, "POST", h.url+"/v1/orders/o-1/cancel", `{}`); a.status != http.StatusOK {
			t.Fatalf("POST through the proxy: %d", a.status)
		}
	}
	var v proxy.HistoryView
	eventually(t, "a sample of get-order's 5 requests", func() bool {
		var err error
		v, err = h.client().History(ctx, "get-order")
		if err != nil {
			t.Fatal(err)
		}
		return len(v.Samples) > 0 && v.Samples[len(v.Samples)-1].Legacy.Requests == 5
	})
	if v.Route != "get-order" || v.EverySeconds != 0.02 {
		t.Errorf("history %q every %v s, want get-order every 0.02 s", v.Route, v.EverySeconds)
	}
	for i := 1; i < len(v.Samples); i++ {
		if !v.Samples[i].At.After(v.Samples[i-1].At) {
			t.Fatalf("samples out of order: %v then %v", v.Samples[i-1].At, v.Samples[i].At)
		}
	}
	g, err := h.client().History(ctx, "order-writes")
	if err != nil || len(g.Samples) == 0 || g.Samples[len(g.Samples)-1].Legacy.Requests != 5 {
		t.Errorf("write group order-writes: %+v, %v; want its member cancel-order's 5 requests", g, err)
	}
	_, err = h.client().History(ctx, "no-such-route")
	var p *problem.Problem
	if !errors.As(err, &p) || p.Status != http.StatusNotFound {
		t.Errorf("unknown route: %v, want a 404 problem", err)
	}
	if a := call(t, "GET", h.admin+"/admin/routes/get-order/history", ""); a.status != http.StatusUnauthorized {
		t.Errorf("history without the token: %d, want 401", a.status)
	}
}
