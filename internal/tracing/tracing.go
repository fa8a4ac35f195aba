// Package tracing carries one W3C trace (traceparent) from a request
// through the events it causes: a server span around each HTTP request
// (continuing the caller's traceparent), the span's traceparent written into
// the event's detail, and a consumer's span continuing from it. It uses
// OpenTelemetry; the exporter is configurable and off by default, and every
// tracer provider is passed in (no global state).
package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/anycompany/strangler/internal/config"
)

// EnvExporter names the environment variable that picks the exporter:
// unset or "none" (off), "stdout" (spans as JSON lines on the given
// writer), or "otlp" (OTLP/HTTP protobuf to an OpenTelemetry Collector,
// configured by the standard OTEL_EXPORTER_OTLP_* variables).
const EnvExporter = "STRANGLER_TRACE_EXPORTER"

// The OTLP endpoint variables Provider checks before the exporter reads
// them: the exporter ignores a value that is not a URL (it sends to
// localhost:4318 instead), so a typo would lose every span quietly.
const (
	EnvOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// Provider returns the tracer provider of exporter ("", "none", "stdout"
// or "otlp") and its shutdown, which flushes the spans. Its spans name
// service (the part: orders, relay, proxy, ...) as their resource's
// service.name. Another exporter is a *config.Error naming EnvExporter;
// for "otlp", an endpoint variable that is not an http(s) URL is one naming
// that variable.
//
// "otlp" batches spans (sdktrace's batch span processor): shutdown sends
// what is left, and a Lambda calls ForceFlush before each invocation
// returns (orders/lambdafn). The exporter itself reads OTEL_EXPORTER_OTLP_*
// (endpoint, headers, timeout, TLS); the headers may hold credentials and
// are never logged here.
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
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(Resource(service)))
		return tp, tp.Shutdown, nil
	case "otlp":
		if err := checkEndpoints(service); err != nil {
			return nil, nil, err
		}
		// New only builds the HTTP client: it sends nothing and fails on no
		// endpoint; an unreachable collector shows as export errors later.
		exp, err := otlptracehttp.New(context.Background())
		if err != nil {
			return nil, nil, fmt.Errorf("tracing: otlp exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(Resource(service)))
		return tp, tp.Shutdown, nil
	}
	return nil, nil, &config.Error{Part: service, Key: EnvExporter, Value: exporter, Allowed: "none (the default), stdout, otlp"}
}

// checkEndpoints refuses an OTLP endpoint variable that is set but is not
// an absolute http or https URL with a host.
func checkEndpoints(service string) error {
	for _, key := range []string{EnvOTLPEndpoint, EnvOTLPTracesEndpoint} {
		v := os.Getenv(key)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			err = errors.New("not an http(s) URL with a host")
		}
		if err != nil {
			return &config.Error{Part: service, Key: key, Value: v, Err: err, Allowed: "a URL such as http://localhost:4318 (the collector's OTLP/HTTP port)"}
		}
	}
	return nil
}

// Resource names service as the spans' service.name.
func Resource(service string) *resource.Resource {
	return resource.NewSchemaless(attribute.String("service.name", service))
}

// Enabled reports whether tp records spans: false for nil and the no-op
// provider (tracing off), so callers skip work only a trace needs.
func Enabled(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	_, off := tp.(noop.TracerProvider)
	return !off
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

// Unwrap lets http.ResponseController reach the writer's deadlines and
// flushes (a proxy streams through it).
func (s *status) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Inject writes ctx's span into h as the W3C traceparent header, replacing
// the one h holds; it leaves h alone when ctx's span is not recording
// (tracing off: a caller's traceparent then passes as it came).
func Inject(ctx context.Context, h http.Header) {
	if trace.SpanFromContext(ctx).IsRecording() {
		propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Produce starts a producer span named name continuing traceparent (the
// traceparent an outbox record's detail carries): the span of handing the
// event to the bus.
func Produce(ctx context.Context, tp trace.TracerProvider, name, traceparent string) (context.Context, trace.Span) {
	return tp.Tracer("strangler").Start(WithParent(ctx, traceparent), name, trace.WithSpanKind(trace.SpanKindProducer))
}

// DetailParent is the traceparent of an encoded event detail
// (detail.traceparent), or "" when it has none or is not a JSON object.
func DetailParent(detail []byte) string {
	var d struct {
		Traceparent string `json:"traceparent"`
	}
	_ = json.Unmarshal(detail, &d) // no trace is no error: the consumer says what is wrong with a detail
	return d.Traceparent
}

// WithDetailParent returns the encoded event detail with its traceparent
// set to traceparent, every other member unchanged (re-encoded by
// encoding/json, so the members come out sorted by name).
func WithDetailParent(detail []byte, traceparent string) ([]byte, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(detail, &d); err != nil {
		return nil, fmt.Errorf("tracing: setting detail.traceparent: %w", err)
	}
	v, _ := json.Marshal(traceparent) // a string always encodes
	d["traceparent"] = v
	out, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("tracing: setting detail.traceparent: %w", err)
	}
	return out, nil
}

// Consume starts a consumer span named name continuing traceparent (the
// traceparent of an event's detail).
func Consume(ctx context.Context, tp trace.TracerProvider, name, traceparent string) (context.Context, trace.Span) {
	return tp.Tracer("strangler").Start(WithParent(ctx, traceparent), name, trace.WithSpanKind(trace.SpanKindConsumer))
}
