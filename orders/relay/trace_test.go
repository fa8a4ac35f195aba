package relay_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/orders/outbox"
	"github.com/anycompany/strangler/orders/relay"
)

// TestStackPublishSpan: with tracing on, a record whose detail carries a
// traceparent is published in a producer span continuing it, and the event
// on the bus carries the publish span's traceparent; a record without one
// has no span and no traceparent. With tracing off the event carries the
// record's traceparent unchanged.
func TestStackPublishSpan(t *testing.T) {
	const traceID, request = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, on := range []bool{false, true} {
		f := newFixture(t, eventbus.FaultConfig{})
		now := time.Now()
		traced := change("ord_traced", 1, "")
		traced.Traceparent = "00-" + traceID + "-" + request + "-01"
		var recs []outbox.Record
		for _, c := range []outbox.Change{traced, change("ord_plain", 1, "")} {
			rec, err := outbox.NewRecord(c, f.seq.Next(now), f.cfg.Shards, now)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, rec)
		}
		f.write(recs)

		exp := tracetest.NewInMemoryExporter()
		var tp trace.TracerProvider
		if on {
			tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		}
		dead := relay.NewDeadLetters(f.store)
		pub := events.NewPublisher(f.bus.SDK, events.PublisherOptions{Source: outbox.DefaultSource, DeadLetters: dead})
		r := relay.NewRelay(f.store, pub, dead, 100, tp, slog.New(slog.DiscardHandler))
		for shard := range f.cfg.Shards {
			if _, err := r.Pass(context.Background(), shard); err != nil {
				t.Fatal(err)
			}
		}

		got := map[string]string{} // order id -> the published traceparent
		for _, ev := range f.bus.Accepted(t) {
			var d struct {
				Order       struct{ ID string } `json:"order"`
				Traceparent string              `json:"traceparent"`
			}
			if err := json.Unmarshal(ev.Detail, &d); err != nil {
				t.Fatal(err)
			}
			got[d.Order.ID] = d.Traceparent
		}
		if len(got) != 2 || got["ord_plain"] != "" {
			t.Fatalf("tracing %v: published %v, want two events, ord_plain without a traceparent", on, got)
		}
		spans := exp.GetSpans()
		if !on {
			if got["ord_traced"] != traced.Traceparent || len(spans) != 0 {
				t.Errorf("tracing off: published traceparent %q (want the record's %q), %d spans", got["ord_traced"], traced.Traceparent, len(spans))
			}
			continue
		}
		if len(spans) != 1 {
			t.Fatalf("tracing on: %d spans, want the traced record's one", len(spans))
		}
		s := spans[0]
		if s.Name != "publish OrderCreated" || s.SpanKind != trace.SpanKindProducer || s.SpanContext.TraceID().String() != traceID || s.Parent.SpanID().String() != request {
			t.Errorf("span %q kind %v trace %s parent %s, want a producer publish OrderCreated in %s under %s", s.Name, s.SpanKind, s.SpanContext.TraceID(), s.Parent.SpanID(), traceID, request)
		}
		if want := "00-" + traceID + "-" + s.SpanContext.SpanID().String() + "-01"; got["ord_traced"] != want {
			t.Errorf("the event carries traceparent %q, want the publish span's %q", got["ord_traced"], want)
		}
	}
}
