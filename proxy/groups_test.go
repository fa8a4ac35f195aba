package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/proxy"
)

// groupRoutes are the order API's write routes and a read, as
// configs/proxy.yaml has them.
var groupRoutes = []proxy.RouteConfig{
	{Name: "create-order", Match: "POST /v1/orders", Sticky: "body:customer_id"},
	{Name: "get-order", Match: "GET /v1/orders/{id}", Sticky: "path:id"},
	{Name: "cancel-order", Match: "POST /v1/orders/{id}/cancel", Sticky: "path:id"},
	{Name: "update-order", Match: "PATCH /v1/orders/{id}", Sticky: "path:id"},
}

func writeGroup(cdcStatus string) proxy.WriteGroupConfig {
	return proxy.WriteGroupConfig{Name: "order-writes", Routes: []string{"create-order", "cancel-order", "update-order"},
		CDCStatus: cdcStatus, MaxCDCLag: 2 * time.Second, SettleWait: 300 * time.Millisecond}
}

// TestWriteGroupConfigRefused: every unusable write group is refused at
// start, naming its key.
func TestWriteGroupConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*proxy.Config)
		key  string
	}{
		{"unknown member", func(c *proxy.Config) { c.WriteGroups[0].Routes = append(c.WriteGroups[0].Routes, "nope") }, "write_groups[0].routes[3]"},
		{"a read", func(c *proxy.Config) { c.WriteGroups[0].Routes = []string{"get-order"} }, "write_groups[0].routes[0]"},
		{"member not sticky by id", func(c *proxy.Config) { c.Routes[2].Sticky = "apikey" }, "write_groups[0].routes[1]"},
		{"member with its own weight", func(c *proxy.Config) { c.Routes[3].Weight = 5 }, "write_groups[0].routes[2]"},
		{"two groups", func(c *proxy.Config) {
			c.WriteGroups = append(c.WriteGroups, proxy.WriteGroupConfig{Name: "other", Routes: []string{"update-order"}})
		}, "write_groups[1].routes[0]"},
		{"name of a route", func(c *proxy.Config) { c.WriteGroups[0].Name = "get-order" }, "write_groups[0].name"},
		{"bad status url", func(c *proxy.Config) { c.WriteGroups[0].CDCStatus = "127.0.0.1:9102" }, "write_groups[0].cdc_status"},
		{"bad weight", func(c *proxy.Config) { c.WriteGroups[0].Weight = 101 }, "write_groups[0].weight"},
		{"long settle wait", func(c *proxy.Config) { c.WriteGroups[0].SettleWait = time.Minute }, "write_groups[0].settle_wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxy.DefaultConfig()
			cfg.Admin.Token = adminToken
			cfg.Routes = append([]proxy.RouteConfig(nil), groupRoutes...)
			cfg.WriteGroups = []proxy.WriteGroupConfig{writeGroup("http://127.0.0.1:9102/status")}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the base config is refused: %v", err)
			}
			tc.edit(&cfg)
			err := cfg.Validate()
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("not refused with a config error: %v", err)
			}
			if !strings.Contains(err.Error(), `"`+tc.key+`"`) && !strings.Contains(err.Error(), tc.key+" ") && !strings.Contains(err.Error(), tc.key+":") {
				t.Fatalf("the refusal does not name %s: %v", tc.key, err)
			}
		})
	}
}

// TestShippedWriteGroup: configs/proxy.yaml loads, and its write group
// covers every order write route.
func TestShippedWriteGroup(t *testing.T) {
	cfg := proxy.DefaultConfig()
	if err := config.Load(config.Source{Part: "proxy", File: filepath.Join("..", "configs", "proxy.yaml")}, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.WriteGroups) != 1 || strings.Join(cfg.WriteGroups[0].Routes, ",") != "create-order,cancel-order,update-order" {
		t.Fatalf("write groups %+v, want order-writes over create-order, cancel-order and update-order", cfg.WriteGroups)
	}
}

// cdcStatus is a stand-in for the cdc's status endpoint.
type cdcStatus struct {
	mu  sync.Mutex
	st  proxy.CDCStatus
	srv *httptest.Server
}

func startCDCStatus(t *testing.T, st proxy.CDCStatus) *cdcStatus {
	c := &cdcStatus{st: st}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		_ = json.NewEncoder(w).Encode(c.st)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cdcStatus) set(st proxy.CDCStatus) {
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
}

// TestWriteGroupOneWriter: every write route of a group sends the calls on
// one order to one backend at any weight, a member cannot be changed on
// its own, the group is changed, persisted and audited by name, and the
// cdc gate refuses a raise (never a lowering) while the cdc lags or cannot
// be read.
func TestWriteGroupOneWriter(t *testing.T) {
	legacyB, newB := startFake(t, "legacy"), startFake(t, "new")
	cdc := startCDCStatus(t, proxy.CDCStatus{Leading: true})
	cfg := testConfig(t, legacyB.srv.URL, newB.srv.URL, "", groupRoutes...)
	cfg.WriteGroups = []proxy.WriteGroupConfig{writeGroup(cdc.srv.URL)}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, cfg, proxy.Deps{})
	ctx := context.Background()

	_, err := h.client().SetRoute(ctx, "update-order", proxy.SetRouteRequest{Weight: ptr(50.0), Actor: "test", Reason: "alone"})
	if !strings.Contains(fmt.Sprint(err), "write group") {
		t.Fatalf("changing a member alone: %v, want a refusal naming its write group", err)
	}
	h.set(t, "order-writes", "canary", 50)
	onNew := 0
	for i := 1; i <= 200; i++ {
		id := fmt.Sprint(i)
		upd := call(t, "PATCH", h.url+"/v1/orders/"+id, `{"status":"processing"}`)
		cnl := call(t, "POST", h.url+"/v1/orders/"+id+"/cancel", "")
		if upd.status != 200 || cnl.status != 200 || upd.backend != cnl.backend {
			t.Fatalf("order %s: update went to %s (%d), cancel to %s (%d): want one backend", id, upd.backend, upd.status, cnl.backend, cnl.status)
		}
		if upd.backend == "new" {
			onNew++
		}
	}
	if onNew < 60 || onNew > 140 {
		t.Fatalf("%d of 200 orders on new at 50 %%", onNew)
	}

	cdc.set(proxy.CDCStatus{Leading: true, LagSeconds: 9, Behind: 40})
	_, err = h.client().SetRoute(ctx, "order-writes", proxy.SetRouteRequest{Weight: ptr(100.0), Actor: "test", Reason: "raise"})
	if !strings.Contains(fmt.Sprint(err), "max_cdc_lag") {
		t.Fatalf("raising with the cdc 9s behind: %v, want the gate's refusal", err)
	}
	h.set(t, "order-writes", "", 10) // lowering is never refused
	cdc.srv.Close()
	_, err = h.client().SetRoute(ctx, "order-writes", proxy.SetRouteRequest{Weight: ptr(20.0), Actor: "test", Reason: "raise"})
	if !strings.Contains(fmt.Sprint(err), "cannot be read") {
		t.Fatalf("raising with the cdc down: %v, want the gate's refusal", err)
	}

	view, err := h.client().Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Groups) != 1 || view.Groups[0].State.Weight != 10 {
		t.Fatalf("groups %+v, want order-writes at 10 %%", view.Groups)
	}
	for _, r := range view.Routes {
		if r.Group == "order-writes" && r.State.Weight != 10 {
			t.Fatalf("member %s at %v %%, want the group's 10 %%", r.Name, r.State.Weight)
		}
	}
	audit, err := h.client().Audit(ctx, "order-writes", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].After.Weight != 10 || audit[0].After.PrevShare != 50 {
		t.Fatalf("audit of the group %+v, want the two changes, newest 50 -> 10", audit)
	}
}

// versioned is a backend whose GET /v1/orders/{id} answers a version the
// test sets (0: 404), and which counts the writes it receives.
type versioned struct {
	srv     *httptest.Server
	version atomic.Int64
	writes  atomic.Int64
	// deliver, when set, is the version the next read stores after it
	// answered: a change that arrives while a write is held.
	deliver atomic.Int64
}

func startVersioned(t *testing.T, v int64) *versioned {
	b := &versioned{}
	b.version.Store(v)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/readyz":
		case r.Method == http.MethodGet && b.version.Load() == 0:
			http.Error(w, "no such order", http.StatusNotFound)
		case r.Method == http.MethodGet:
			fmt.Fprintf(w, `{"id":"7","version":%d}`, b.version.Load())
			if v := b.deliver.Swap(0); v != 0 {
				b.version.Store(v)
			}
		default:
			b.writes.Add(1)
			fmt.Fprint(w, `{"id":"7"}`)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// TestWriteGroupSettle: after a flip, a write on an order the flip moved
// waits until the new owner has the old owner's last change (the same
// version), and past settle_wait gets 503 without reaching either backend.
func TestWriteGroupSettle(t *testing.T) {
	legacyB, newB := startVersioned(t, 3), startVersioned(t, 2)
	cdc := startCDCStatus(t, proxy.CDCStatus{Leading: true})
	cfg := testConfig(t, legacyB.srv.URL, newB.srv.URL, "", groupRoutes...)
	cfg.WriteGroups = []proxy.WriteGroupConfig{writeGroup(cdc.srv.URL)}
	h := startProxy(t, cfg, proxy.Deps{})
	h.set(t, "order-writes", "new", 0)

	a := call(t, "PATCH", h.url+"/v1/orders/7", `{"status":"processing"}`, "Authorization", "Bearer k")
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || newB.writes.Load()+legacyB.writes.Load() != 0 {
		t.Fatalf("write before the cdc delivered: %d %s (Retry-After %q), %d writes reached a backend; want 503 and none",
			a.status, a.body, a.header.Get("Retry-After"), newB.writes.Load()+legacyB.writes.Load())
	}
	newB.deliver.Store(3) // the cdc delivers version 3 while the write is held
	a = call(t, "PATCH", h.url+"/v1/orders/7", `{"status":"processing"}`, "Authorization", "Bearer k")
	if a.status != http.StatusOK || a.backend != "new" || newB.writes.Load() != 1 {
		t.Fatalf("write once delivered: %d from %s, %d writes on new; want 200 from new", a.status, a.backend, newB.writes.Load())
	}
}
