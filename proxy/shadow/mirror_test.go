package shadow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anycompany/strangler/proxy/shadow"
)

const route = "GET /v1/orders/{id}"

// seen is one request a test backend received.
type seen struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// backend is an httptest order service: GET /v1/orders/{id} answers an
// order whose id, created_at, items[].id and request_id change on every
// call (request_id is random: the noise), with status as set; POST
// /v1/orders answers 201. It records every request.
type backend struct {
	srv    *httptest.Server
	status string

	mu   sync.Mutex
	reqs []seen
}

func newBackend(t *testing.T, status string) *backend {
	t.Helper()
	b := &backend{status: status}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		n := rand.Int64()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id":         fmt.Sprintf("%s-%d", r.PathValue("id"), n),
			"customer":   "c1",
			"status":     b.status,
			"total":      "10.00",
			"created_at": time.Unix(n%1e9, 0).UTC(),
			"request_id": n,
			"items":      []any{map[string]any{"id": n, "sku": "A", "quantity": 2}},
		})
	})
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"status":"accepted"}`)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqs = append(b.reqs, seen{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
}

func (b *backend) seen() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.reqs...)
}

func (b *backend) url(t *testing.T) *url.URL {
	u, err := url.Parse(b.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fixture is a running Mirror between a legacy and a new backend.
type fixture struct {
	legacy, new *backend
	m           *shadow.Mirror
	reg         *prometheus.Registry
	handled     chan shadow.Exchange
}

// start runs a Mirror with cfg between legacy and newB until the test ends.
// With run false the workers are not started.
func start(t *testing.T, cfg shadow.Config, legacy, newB *backend, run bool) *fixture {
	t.Helper()
	f := &fixture{legacy: legacy, new: newB, reg: prometheus.NewRegistry(), handled: make(chan shadow.Exchange, 1000)}
	f.m = shadow.New(cfg, newB.srv.Client().Transport, legacy.srv.Client().Transport, newB.url(t), legacy.url(t),
		slog.New(slog.NewTextHandler(io.Discard, nil)), f.reg)
	shadow.OnHandled(f.m, func(ex shadow.Exchange) { f.handled <- ex })
	if !run {
		return f
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return f
}

// wait returns once n exchanges have been handled.
func (f *fixture) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second) // only reached when the test fails
	for range n {
		select {
		case <-f.handled:
		case <-timeout:
			t.Fatalf("exchanges not handled in time")
		}
	}
}

// exchange asks legacy for path as the proxy would and returns what it
// would offer the Mirror.
func (f *fixture) exchange(t *testing.T, path string) shadow.Exchange {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer retail-demo-key"}, "Accept": {"application/json"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.legacy.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := f.legacy.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return shadow.Exchange{Route: route, Method: http.MethodGet, Path: path, Header: h, LegacyStatus: resp.StatusCode, LegacyBody: body}
}

func TestMirrorReportsARealDifferenceAndCancelsNoise(t *testing.T) {
	cfg := shadow.DefaultConfig()
	cfg.IgnoreFields = []string{"id", "created_at", "items.*.id"}
	f := start(t, cfg, newBackend(t, "accepted"), newBackend(t, "ACCEPTED"), true)
	const n = 40
	for i := range n {
		if !f.m.Offer(f.exchange(t, fmt.Sprintf("/v1/orders/o%d", i))) {
			t.Fatalf("offer %d refused", i)
		}
	}
	f.wait(t, n)

	status := shadow.Sample{Field: "status", Legacy: `"accepted"`, New: `"ACCEPTED"`}
	want := shadow.Report{Routes: []shadow.RouteReport{{
		Route: route, Compared: n, NoiseCompared: n, Mismatched: n, MismatchRate: 1,
		Fields: []shadow.FieldReport{
			{Field: "status", Mismatches: n, MismatchRate: 1, Reported: true, Samples: []shadow.Sample{status, status, status, status, status}},
			{Field: "request_id", Mismatches: n, Noise: n, MismatchRate: 1, NoiseRate: 1},
		},
	}}}
	got := f.m.Report()
	// request_id samples hold random values and every sample's request
	// path depends on worker scheduling: check their shape apart.
	for _, fr := range got.Routes[0].Fields {
		for _, s := range fr.Samples {
			if !strings.HasPrefix(s.Path, "/v1/orders/o") {
				t.Errorf("sample of %s has request path %q", fr.Field, s.Path)
			}
		}
	}
	if len(got.Routes[0].Fields) == 2 && len(got.Routes[0].Fields[1].Samples) != 5 {
		t.Errorf("request_id has %d samples, want 5", len(got.Routes[0].Fields[1].Samples))
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(shadow.Sample{}, "Path"),
		cmp.FilterPath(func(p cmp.Path) bool { return strings.HasSuffix(p.GoString(), "Fields[1].Samples") }, cmp.Ignore()),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}

	// Each exchange went once to new and once more to legacy, with the
	// client's headers (Authorization included) and without a dry-run header.
	if got := len(f.new.seen()); got != n {
		t.Errorf("new received %d requests, want %d", got, n)
	}
	if got := len(f.legacy.seen()); got != 2*n {
		t.Errorf("legacy received %d requests, want %d (the client's and the replay)", got, 2*n)
	}
	for _, r := range f.new.seen() {
		if r.Header.Get("Authorization") != "Bearer retail-demo-key" || r.Method != http.MethodGet {
			t.Fatalf("new received %s with Authorization %q", r.Method, r.Header.Get("Authorization"))
		}
	}
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"proxy_shadow_compared_total", map[string]string{"route": route}, n},
		{"proxy_shadow_mismatch_total", map[string]string{"route": route, "field": "status"}, n},
		{"proxy_shadow_mismatch_total", map[string]string{"route": route, "field": "request_id"}, n},
		{"proxy_shadow_noise_total", map[string]string{"route": route, "field": "request_id"}, n},
	} {
		if got := counter(t, f.reg, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %g, want %g", m.name, m.labels, got, m.want)
		}
	}
}

func TestMirrorReportsNothingWhenOnlyNoiseDiffers(t *testing.T) {
	cfg := shadow.DefaultConfig()
	cfg.IgnoreFields = []string{"id", "created_at", "items.*.id"}
	f := start(t, cfg, newBackend(t, "accepted"), newBackend(t, "accepted"), true)
	const n = 20
	for i := range n {
		f.m.Offer(f.exchange(t, fmt.Sprintf("/v1/orders/o%d", i)))
	}
	f.wait(t, n)
	r := f.m.Report().Routes[0]
	if r.Compared != n || r.Mismatched != 0 {
		t.Errorf("compared %d, mismatched %d; want %d, 0", r.Compared, r.Mismatched, n)
	}
	var fields []string
	for _, fr := range r.Fields {
		fields = append(fields, fmt.Sprintf("%s reported=%v", fr.Field, fr.Reported))
	}
	if diff := cmp.Diff([]string{"request_id reported=false"}, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestOfferDropsWhenTheQueueIsFull(t *testing.T) {
	cfg := shadow.DefaultConfig()
	cfg.QueueSize = 2
	f := start(t, cfg, newBackend(t, "accepted"), newBackend(t, "accepted"), false) // no workers: nothing drains
	ex := shadow.Exchange{Route: route, Method: http.MethodGet, Path: "/v1/orders/o1", LegacyStatus: 200}
	var got []bool
	for range 5 {
		got = append(got, f.m.Offer(ex))
	}
	if diff := cmp.Diff([]bool{true, true, false, false, false}, got); diff != "" {
		t.Errorf("offers accepted (-want +got):\n%s", diff)
	}
	want := shadow.Report{Routes: []shadow.RouteReport{{Route: route, Dropped: 3, Fields: []shadow.FieldReport{}}}}
	if diff := cmp.Diff(want, f.m.Report()); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got := counter(t, f.reg, "proxy_shadow_dropped_total", map[string]string{"route": route}); got != 3 {
		t.Errorf("proxy_shadow_dropped_total = %g, want 3", got)
	}
}

func write(body string) shadow.Exchange {
	return shadow.Exchange{
		Route: "POST /v1/orders", Method: http.MethodPost, Path: "/v1/orders",
		Header:       http.Header{"Authorization": {"Bearer k"}, "Idempotency-Key": {"idem-1"}, "Content-Type": {"application/json"}},
		Body:         []byte(body),
		LegacyStatus: http.StatusCreated, LegacyBody: []byte(`{"status":"accepted"}`),
	}
}

func TestWritesAreNotShadowedWithoutADryRunHeader(t *testing.T) {
	f := start(t, shadow.DefaultConfig(), newBackend(t, "accepted"), newBackend(t, "accepted"), true)
	if f.m.Offer(write(`{"customer_id":"c1"}`)) {
		t.Fatal("a write was accepted without a dry-run header")
	}
	if !f.m.Offer(f.exchange(t, "/v1/orders/o1")) {
		t.Fatal("read refused")
	}
	f.wait(t, 1)
	var got []string
	for _, r := range f.new.seen() {
		got = append(got, r.Method+" "+r.Path)
	}
	if diff := cmp.Diff([]string{"GET /v1/orders/o1"}, got); diff != "" {
		t.Errorf("new received (-want +got):\n%s", diff)
	}
	for _, r := range f.m.Report().Routes {
		if r.Route != route {
			t.Errorf("report has route %q", r.Route)
		}
	}
}

func TestWritesCarryTheDryRunHeader(t *testing.T) {
	cfg := shadow.DefaultConfig()
	cfg.DryRunHeader = "X-Dry-Run"
	f := start(t, cfg, newBackend(t, "accepted"), newBackend(t, "accepted"), true)
	if !f.m.Offer(write(`{"customer_id":"c1"}`)) {
		t.Fatal("write refused with a dry-run header configured")
	}
	f.wait(t, 1)
	legacyBefore := len(f.legacy.seen())
	if !f.m.Offer(f.exchange(t, "/v1/orders/o1")) {
		t.Fatal("read refused")
	}
	f.wait(t, 1)

	var got []string
	for _, r := range f.new.seen() {
		got = append(got, fmt.Sprintf("%s %s dry-run=%q idempotency-key=%q auth=%q body=%s",
			r.Method, r.Path, r.Header.Get("X-Dry-Run"), r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization"), r.Body))
	}
	want := []string{
		`POST /v1/orders dry-run="true" idempotency-key="idem-1" auth="Bearer k" body={"customer_id":"c1"}`,
		`GET /v1/orders/o1 dry-run="" idempotency-key="" auth="Bearer retail-demo-key" body=`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("new received (-want +got):\n%s", diff)
	}
	if legacyBefore != 0 {
		t.Errorf("legacy received %d requests for a write, want none (writes are never replayed to legacy)", legacyBefore)
	}
	wantWrite := shadow.RouteReport{Route: "POST /v1/orders", Compared: 1, Fields: []shadow.FieldReport{}}
	routes := f.m.Report().Routes
	if len(routes) != 2 {
		t.Fatalf("report has %d routes, want 2", len(routes))
	}
	if diff := cmp.Diff(wantWrite, routes[1]); diff != "" {
		t.Errorf("write route report (-want +got):\n%s", diff)
	}
}

func TestFailedCallsCountAsErrors(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(cfg *shadow.Config, legacy, newB *backend)
		wantRoute shadow.RouteReport
	}{
		{
			name:      "new unreachable",
			edit:      func(_ *shadow.Config, _, newB *backend) { newB.srv.Close() },
			wantRoute: shadow.RouteReport{Route: route, Errors: 1, Fields: []shadow.FieldReport{}},
		},
		{
			name: "legacy replay unreachable: compared without a noise figure",
			edit: func(_ *shadow.Config, legacy, _ *backend) { legacy.srv.Close() },
			wantRoute: shadow.RouteReport{Route: route, Compared: 1, Errors: 1, Fields: []shadow.FieldReport{
				{Field: "request_id", Mismatches: 1, MismatchRate: 1},
			}},
		},
		{
			name:      "answer over max_body_bytes",
			edit:      func(cfg *shadow.Config, _, _ *backend) { cfg.MaxBodyBytes = 10 },
			wantRoute: shadow.RouteReport{Route: route, Errors: 1, Fields: []shadow.FieldReport{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := shadow.DefaultConfig()
			cfg.IgnoreFields = []string{"id", "created_at", "items.*.id"}
			legacy, newB := newBackend(t, "accepted"), newBackend(t, "accepted")
			probe := start(t, cfg, legacy, newB, false)
			ex := probe.exchange(t, "/v1/orders/o1") // legacy's answer to the client, before any fault
			tt.edit(&cfg, legacy, newB)
			f := start(t, cfg, legacy, newB, true)
			f.m.Offer(ex)
			f.wait(t, 1)
			got := f.m.Report().Routes[0]
			if diff := cmp.Diff(tt.wantRoute, got, cmpopts.IgnoreFields(shadow.FieldReport{}, "Samples")); diff != "" {
				t.Errorf("route report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	m := shadow.New(shadow.Config{}, http.DefaultTransport, http.DefaultTransport, &url.URL{}, &url.URL{},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// counter returns the value of the counter name with labels in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}
