package downstream

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestEventContinuesTrace: an OrderCreated event whose detail carries a
// traceparent is a consumer span continuing it, with a child span per
// service that acts on it.
func TestEventContinuesTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	f := newFixture(t, nil, WithTracer(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))
	const traceID, relay = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ev := strings.Replace(createdEvent("com.anycompany.orders.service", "svc-1", "ord_1", "9.99"),
		`"event_id":`, `"traceparent":"00-`+traceID+`-`+relay+`-01","event_id":`, 1)
	if code, body := f.call(t, "POST", "/events", ev); code != 200 {
		t.Fatalf("event: %d %s", code, body)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	consume := byName["consume OrderCreated"]
	if consume.SpanContext.TraceID().String() != traceID || consume.Parent.SpanID().String() != relay {
		t.Fatalf("consume span trace %s parent %s, want %s under %s (spans %v)", consume.SpanContext.TraceID(), consume.Parent.SpanID(), traceID, relay, byName)
	}
	for _, svc := range []string{"inventory OrderCreated", "accounting OrderCreated"} {
		if s := byName[svc]; s.Parent.SpanID() != consume.SpanContext.SpanID() {
			t.Errorf("%s: parent %s, want the consume span %s", svc, s.Parent.SpanID(), consume.SpanContext.SpanID())
		}
	}
}
