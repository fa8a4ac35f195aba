package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/anycompany/strangler/proxy"
)

// benchPool lends the bare proxy 32 KiB buffers, as scripts/bench/backend does.
type benchPool struct{ p sync.Pool }

func (b *benchPool) Get() []byte {
	if v, ok := b.p.Get().(*[32 << 10]byte); ok {
		return v[:]
	}
	return new([32 << 10]byte)[:]
}

func (b *benchPool) Put(buf []byte) {
	if cap(buf) == 32<<10 {
		b.p.Put((*[32 << 10]byte)(buf[:32<<10]))
	}
}

// discardWriter is a reusable http.ResponseWriter that drops the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkServeHTTP measures one proxied GET through the strangler proxy
// (canary 50 % by path id, health, breaker, stats, metrics on; control state
// in memory) and, as the reference, through a bare httputil.ReverseProxy,
// both to the same loopback backend. Its allocs/op are the proxy's own
// (the backend runs in process too, so ns/op includes it).
func BenchmarkServeHTTP(b *testing.B) {
	body := strings.Repeat("x", 512)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	}))
	defer backend.Close()

	cfg := proxy.DefaultConfig()
	cfg.Admin.Token = adminToken
	cfg.Backends.Legacy, cfg.Backends.New = backend.URL, backend.URL
	cfg.Control.Table = ""
	cfg.Routes = []proxy.RouteConfig{
		{Name: "get-order", Match: "GET /v1/orders/{id}", Mode: proxy.ModeCanary, Weight: 50, Sticky: "path:id"},
		{Name: "list-orders", Match: "GET /v1/orders", Mode: proxy.ModeCanary, Weight: 50},
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := proxy.New(ctx, cfg, proxy.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Run(ctx) }()
	// The same proxy traced: a span per request, its traceparent forwarded
	// (spans recorded, exported nowhere).
	traced, err := proxy.New(ctx, cfg, proxy.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tracer: sdktrace.NewTracerProvider()})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = traced.Run(ctx) }()

	u, _ := url.Parse(backend.URL)
	bare := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:  &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
		BufferPool: &benchPool{},
	}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"strangler", s.Handler()}, {"strangler-traced", traced.Handler()}, {"bare", bare}} {
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			paths := make([]string, 1024)
			for i := range paths {
				paths[i] = "/v1/orders/" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil)
				i++
				clear(w.h)
				c.h.ServeHTTP(w, r)
				if w.status != 0 && w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
