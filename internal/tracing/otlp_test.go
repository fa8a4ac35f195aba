package tracing_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/anycompany/strangler/internal/config"
	"github.com/anycompany/strangler/internal/tracing"
)

// received is one OTLP/HTTP export as the collector would see it.
type received struct {
	path, auth, contentType string
	req                     *coltrace.ExportTraceServiceRequest
	err                     error
}

// collector is an in-process OTLP/HTTP receiver: it decodes each export
// with the OTLP proto types and hands it to the returned channel.
func collector(t *testing.T) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := received{path: r.URL.Path, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		body, err := io.ReadAll(r.Body)
		if err == nil {
			rec.req = &coltrace.ExportTraceServiceRequest{}
			err = proto.Unmarshal(body, rec.req)
		}
		rec.err = err
		got <- rec
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestOTLPExporter: with STRANGLER_TRACE_EXPORTER=otlp the spans of one
// trace reach the collector that OTEL_EXPORTER_OTLP_ENDPOINT names, as
// OTLP/HTTP protobuf at /v1/traces, under the part's service.name, with
// the headers of OTEL_EXPORTER_OTLP_HEADERS; shutdown sends the batch.
func TestOTLPExporter(t *testing.T) {
	srv, got := collector(t)
	t.Setenv(tracing.EnvOTLPEndpoint, srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20s3cret")
	tp, shutdown, err := tracing.Provider("otlp", "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx, server := tracing.Consume(context.Background(), tp, "process OrderCreated", parent)
	_, pub := tracing.Produce(ctx, tp, "publish OrderStatusChanged", tracing.Traceparent(ctx))
	pub.End()
	server.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	var names []string
	for len(names) < 2 {
		var rec received
		select {
		case rec = <-got:
		case <-t.Context().Done():
			t.Fatalf("the collector received %v, want two spans", names)
		}
		if rec.err != nil || rec.path != "/v1/traces" || rec.contentType != "application/x-protobuf" || rec.auth != "Bearer s3cret" {
			t.Fatalf("export: path %q, content type %q, authorization %q, decoding: %v", rec.path, rec.contentType, rec.auth, rec.err)
		}
		for _, rs := range rec.req.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					if id := hex.EncodeToString(s.GetTraceId()); id != "4bf92f3577b34da6a3ce929d0e0e4736" || service != "orders" {
						t.Errorf("span %q: trace %s, service.name %q; want the caller's trace and orders", s.GetName(), id, service)
					}
					names = append(names, s.GetName())
				}
			}
		}
	}
	slices.Sort(names)
	if want := []string{"process OrderCreated", "publish OrderStatusChanged"}; !slices.Equal(names, want) {
		t.Errorf("spans %v, want %v", names, want)
	}
}

// TestOTLPBadEndpoint: an endpoint variable that is not an http(s) URL is
// refused at start naming the variable (the exporter would quietly send
// to localhost:4318 instead).
func TestOTLPBadEndpoint(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{tracing.EnvOTLPEndpoint, "collector:4318"},
		{tracing.EnvOTLPEndpoint, "http://[::1"},
		{tracing.EnvOTLPTracesEndpoint, "/v1/traces"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv(tc.key, tc.value)
			_, _, err := tracing.Provider("otlp", "orders", nil)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Errorf("%s=%s: %v, want a config error naming %s", tc.key, tc.value, err, tc.key)
			}
		})
	}
}
