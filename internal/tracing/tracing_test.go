package tracing_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

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

// TestDetailParent: the traceparent of an encoded detail is read and
// replaced with every other member kept; a detail without one reads "".
func TestDetailParent(t *testing.T) {
	const old, next = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
	detail := []byte(`{"event_id":"e1","order":{"id":"ord_1","total":"12.50","n":12345678901234567890},"traceparent":"` + old + `"}`)
	if got := tracing.DetailParent(detail); got != old {
		t.Errorf("DetailParent = %q, want %q", got, old)
	}
	out, err := tracing.WithDetailParent(detail, next)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event_id":"e1","order":{"id":"ord_1","total":"12.50","n":12345678901234567890},"traceparent":"` + next + `"}`
	if string(out) != want {
		t.Errorf("WithDetailParent =\n%s\nwant\n%s", out, want)
	}
	if got := tracing.DetailParent([]byte(`{"event_id":"e1"}`)); got != "" {
		t.Errorf("no traceparent read %q", got)
	}
	if _, err := tracing.WithDetailParent([]byte(`[1]`), next); err == nil {
		t.Error("a detail that is not an object was rewritten")
	}
}

// TestEnabledAndInject: nil and the no-op provider are off; Inject writes
// a recording span's traceparent and leaves a header alone otherwise.
func TestEnabledAndInject(t *testing.T) {
	off, _, _ := tracing.Provider("none", "test", nil)
	on, shutdown, _ := tracing.Provider("stdout", "test", io.Discard)
	defer shutdown(context.Background())
	if tracing.Enabled(nil) || tracing.Enabled(off) || !tracing.Enabled(on) {
		t.Errorf("Enabled: nil %v, none %v, stdout %v", tracing.Enabled(nil), tracing.Enabled(off), tracing.Enabled(on))
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
		same bool
	}{{"off", off, true}, {"on", on, false}} {
		ctx, span := tracing.Consume(context.Background(), tc.tp, "x", parent)
		h := http.Header{"Traceparent": {parent}}
		tracing.Inject(ctx, h)
		span.End()
		if got := h.Get("traceparent"); (got == parent) != tc.same || !strings.HasPrefix(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
			t.Errorf("%s: Inject wrote %q over %q", tc.name, got, parent)
		}
	}
}
