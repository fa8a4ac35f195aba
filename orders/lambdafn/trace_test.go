package lambdafn_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/anycompany/strangler/internal/apigw"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/lambdafn"
)

// TestTraceThroughFunctions: a create that carries a traceparent (as the
// proxy forwards it) is one trace from the request to the processor: the
// orders function's server span continues the caller's, the OrderCreated
// event carries that span's traceparent, the processor's span continues
// from it, and the OrderStatusChanged event the processor causes carries
// the processor's span. The span tree is logged.
func TestTraceThroughFunctions(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	f := newFixture(t, processorRule)
	st := newStream(t, f.ddb, f.cfg.ServiceTable, f.outbox)
	f.processor = lambda.NewHandler(lambdafn.NewProcessor(orders.BuildProcessor(f.cfg, st, quiet()), tp).Handle)
	f.target.Store(f.processor)
	gw := httptest.NewServer(apigw.New(lambda.NewHandler(lambdafn.NewOrders(orders.Build(f.cfg, st, quiet()), tp).Handle), 1<<20))
	t.Cleanup(gw.Close)

	const traceID, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", gw.URL+"/v1/orders", strings.NewReader(fmt.Sprintf(orderBody, "cust-trace")))
	req.Header.Set("Authorization", "Bearer "+retailKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID+"-"+caller+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}

	deadline := time.Now().Add(20 * time.Second)
	var spans tracetest.SpanStubs
	for {
		spans = exp.GetSpans()
		if len(spans) >= 2 || time.Now().After(deadline) {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	server, proc := byName["POST /v1/orders"], byName["process OrderCreated"]
	if server.Name == "" || proc.Name == "" {
		t.Fatalf("spans %v, want POST /v1/orders and process OrderCreated", names(spans))
	}
	if server.SpanContext.TraceID().String() != traceID || server.Parent.SpanID().String() != caller {
		t.Errorf("the server span is not the caller's child: trace %s parent %s", server.SpanContext.TraceID(), server.Parent.SpanID())
	}
	if proc.SpanContext.TraceID().String() != traceID || proc.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("the processor's span is not the request's child: trace %s parent %s", proc.SpanContext.TraceID(), proc.Parent.SpanID())
	}
	// The event the processor caused carries its span on.
	want := "00-" + traceID + "-" + proc.SpanContext.SpanID().String() + "-01"
	for deadline := time.Now().Add(20 * time.Second); ; {
		if found := eventTraceparent(t, f, "OrderStatusChanged"); found == want {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("OrderStatusChanged carries traceparent %q, want %q", found, want)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Logf("span tree of one create:\n  caller %s\n  └─ %s (%s, orders function)\n     └─ OrderCreated event → bus → %s (%s, processor function)\n        └─ OrderStatusChanged event, traceparent %s",
		caller, server.Name, server.SpanContext.SpanID(), proc.Name, proc.SpanContext.SpanID(), want)
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// eventTraceparent is the traceparent of the bus's last accepted event of
// detailType, or "".
func eventTraceparent(t *testing.T, f *fixture, detailType string) string {
	t.Helper()
	found := ""
	for _, ev := range f.bus.Accepted(t) {
		var d struct {
			Traceparent string `json:"traceparent"`
		}
		if ev.DetailType == detailType && json.Unmarshal(ev.Detail, &d) == nil {
			found = d.Traceparent
		}
	}
	return found
}
