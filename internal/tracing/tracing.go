// Package tracing carries one W3C trace (traceparent) from a request
// through the events it causes: a server span around each HTTP request
// (continuing the caller's traceparent), the span's traceparent written into
// the event's detail, and a consumer's span continuing from it. It uses
// OpenTelemetry; the exporter is configurable and off by default, and every
// tracer provider is passed in (no global state).
package tracing

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// EnvExporter names the environment variable that picks the exporter:
// unset or "none" (off), or "stdout" (spans as JSON lines on the given
// writer).
const EnvExporter = "STRANGLER_TRACE_EXPORTER"

// Provider returns the tracer provider of exporter ("", "none" or
// "stdout") and its shutdown, which flushes the spans.
func Provider(exporter, service string, w io.Writer) (trace.TracerProvider, func(context.Context) error, error) {
	switch exporter {
	case "", "none":
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	case "stdout":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, nil, fmt.Errorf("tracing: %w", err)
		}
		// Synchronous: a Lambda may be frozen before a batch would be sent.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		return tp, tp.Shutdown, nil
	}
	return nil, nil, fmt.Errorf("tracing: exporter %q: allowed: none (the default), stdout", exporter)
}

var propagator = propagation.TraceContext{}

// Traceparent is ctx's span as a W3C traceparent, or "" when ctx holds no
// sampled span (tracing off).
func Traceparent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithParent returns ctx continuing the trace of traceparent (unchanged
// when it is empty or malformed).
func WithParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Handler wraps h in a server span per request named "<method> <route>",
// continuing the request's traceparent; the span ends with the status code.
func Handler(tp trace.TracerProvider, name string, h http.Handler) http.Handler {
	tracer := tp.Tracer(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		sw := &status{ResponseWriter: w, code: http.StatusOK}
		inner := r.WithContext(ctx)
		h.ServeHTTP(sw, inner)
		if inner.Pattern != "" {
			// The mux's route ("POST /v1/orders/{id}/cancel"), not the path.
			span.SetName(inner.Pattern)
		}
		span.SetAttributes(attribute.Int("http.response.status_code", sw.code))
		if sw.code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.code))
		}
	})
}

// status records the status code a handler wrote.
type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Consume starts a consumer span named name continuing traceparent (the
// traceparent of an event's detail).
func Consume(ctx context.Context, tp trace.TracerProvider, name, traceparent string) (context.Context, trace.Span) {
	return tp.Tracer("strangler").Start(WithParent(ctx, traceparent), name, trace.WithSpanKind(trace.SpanKindConsumer))
}
