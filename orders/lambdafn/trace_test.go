package lambdafn_test

import (
	"context"
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
// orders function's server span continues the caller's, the outbox
// function's publish span continues the OrderCreated record's, the event
// on the bus carries the publish span, the processor's span continues from
// it, and the OrderStatusChanged event the processor causes carries the
// processor's span on (through its own publish span). The span tree is
// logged. The provider batches as the otlp exporter's does, with a batch
// timeout no test waits for: the spans arrive only because each function
// flushes them before its invocation returns.
func TestTraceThroughFunctions(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Hour)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	f := newFixture(t, processorRule)
	noWait := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	r := lambdafn.BuildRelay(f.rcfg, lambdafn.RelayAPIs{DynamoDB: f.ddb, EventBridge: f.bus.SDK}, noWait, tp, quiet())
	f.outbox = lambda.NewHandler(lambdafn.NewOutbox(r, f.rcfg.Shards, tp, quiet()).Handle)
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
		if len(spans) >= 4 || time.Now().After(deadline) {
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
	server, pub, proc, pubStatus := byName["POST /v1/orders"], byName["publish OrderCreated"], byName["process OrderCreated"], byName["publish OrderStatusChanged"]
	if server.Name == "" || pub.Name == "" || proc.Name == "" || pubStatus.Name == "" {
		t.Fatalf("spans %v, want POST /v1/orders, publish OrderCreated, process OrderCreated and publish OrderStatusChanged", names(spans))
	}
	if server.SpanContext.TraceID().String() != traceID || server.Parent.SpanID().String() != caller {
		t.Errorf("the server span is not the caller's child: trace %s parent %s", server.SpanContext.TraceID(), server.Parent.SpanID())
	}
	for _, c := range []struct{ child, parent tracetest.SpanStub }{{pub, server}, {proc, pub}, {pubStatus, proc}} {
		if c.child.SpanContext.TraceID().String() != traceID || c.child.Parent.SpanID() != c.parent.SpanContext.SpanID() {
			t.Errorf("%s is not the child of %s: trace %s parent %s", c.child.Name, c.parent.Name, c.child.SpanContext.TraceID(), c.child.Parent.SpanID())
		}
	}
	// The event the processor caused carries the span of its publication.
	want := "00-" + traceID + "-" + pubStatus.SpanContext.SpanID().String() + "-01"
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
	t.Logf("span tree of one create:\n  caller %s\n  └─ %s (%s, orders function)\n     └─ %s (%s, outbox function)\n        └─ bus → %s (%s, processor function)\n           └─ %s (%s, outbox function): OrderStatusChanged event, traceparent %s",
		caller, server.Name, server.SpanContext.SpanID(), pub.Name, pub.SpanContext.SpanID(), proc.Name, proc.SpanContext.SpanID(), pubStatus.Name, pubStatus.SpanContext.SpanID(), want)
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
