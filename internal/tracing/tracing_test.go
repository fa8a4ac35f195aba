package tracing_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anycompany/strangler/internal/tracing"
)

// TestProvider: off by default (no traceparent is made), stdout writes the
// spans, anything else is refused naming what is allowed.
func TestProvider(t *testing.T) {
	tp, shutdown, err := tracing.Provider("", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tracing.Consume(context.Background(), tp, "x", "")
	if tracing.Traceparent(ctx) != "" {
		t.Error("tracing off made a traceparent")
	}
	span.End()
	_ = shutdown(ctx)

	var out bytes.Buffer
	tp, shutdown, err = tracing.Provider("stdout", "test", &out)
	if err != nil {
		t.Fatal(err)
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h := tracing.Handler(tp, "test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tpHeader := tracing.Traceparent(r.Context())
		if !strings.HasPrefix(tpHeader, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || tpHeader == parent {
			t.Errorf("the handler's span %q does not continue %s", tpHeader, parent)
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("traceparent", parent)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Name":"GET /x"`) || !strings.Contains(out.String(), "418") {
		t.Errorf("stdout exporter wrote %s", out.String())
	}
	if _, _, err := tracing.Provider("jaeger", "test", nil); err == nil || !strings.Contains(err.Error(), "allowed") {
		t.Errorf("an unknown exporter: %v", err)
	}
}
