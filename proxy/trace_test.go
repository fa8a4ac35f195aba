package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/anycompany/strangler/proxy"
)

// TestTraceThroughProxy: with a tracer the proxy makes a server span per
// request, named by its route, continuing the client's traceparent, and
// the backend receives the proxy's span as its parent; without one the
// client's traceparent reaches the backend as it came.
func TestTraceThroughProxy(t *testing.T) {
	var mu sync.Mutex
	var got []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			mu.Lock()
			got = append(got, r.Header.Get("traceparent"))
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(backend.Close)
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return ""
		}
		return got[len(got)-1]
	}
	route := proxy.RouteConfig{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeLegacy}
	const traceID, client = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	parent := "00-" + traceID + "-" + client + "-01"

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	h := startProxy(t, testConfig(t, backend.URL, backend.URL, "", route), proxy.Deps{Tracer: tp})
	if a := call(t, "GET", h.url+"/v1/orders?customer_id=x", "", "traceparent", parent); a.status != http.StatusOK {
		t.Fatalf("through the traced proxy: %d %s", a.status, a.body)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("spans %d, want the proxy's one", len(spans))
	}
	s := spans[0]
	if s.Name != "proxy list-orders" || s.SpanContext.TraceID().String() != traceID || s.Parent.SpanID().String() != client {
		t.Errorf("proxy span %q trace %s parent %s, want proxy list-orders in %s under %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), traceID, client)
	}
	if want := "00-" + traceID + "-" + s.SpanContext.SpanID().String() + "-01"; last() != want {
		t.Errorf("the backend got traceparent %q, want the proxy's span %q", last(), want)
	}

	off := startProxy(t, testConfig(t, backend.URL, backend.URL, "", route), proxy.Deps{})
	if a := call(t, "GET", off.url+"/v1/orders?customer_id=x", "", "traceparent", parent); a.status != http.StatusOK {
		t.Fatalf("through the untraced proxy: %d", a.status)
	}
	if last() != parent {
		t.Errorf("untraced, the backend got traceparent %q, want the client's %q", last(), parent)
	}
	if a := call(t, "GET", off.url+"/v1/orders?customer_id=x", ""); a.status != http.StatusOK || strings.TrimSpace(last()) != "" {
		t.Errorf("untraced without a traceparent, the backend got %q", last())
	}
}
