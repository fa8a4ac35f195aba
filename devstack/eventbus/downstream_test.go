package eventbus_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/downstream"
	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/sinkauth"
)

// TestDownstreamSubscribesThroughTheBus runs the shipped rule shape (every
// com.anycompany.orders event to POST /events) against the real demo
// downstream: a redelivered event_id is dropped, and an event refused while
// accounting is down arrives after the bus retries.
func TestDownstreamSubscribesThroughTheBus(t *testing.T) {
	dcfg := downstream.DefaultConfig()
	// The bus authenticates as an API destination's basic-auth connection.
	sink := sinkauth.Basic("bus", "test-sink-password-0123")
	dcfg.AdminToken, dcfg.EventsAuth = testToken, sink
	ds := downstream.New(dcfg, slog.New(slog.DiscardHandler))
	hs := httptest.NewServer(ds.Handler())
	t.Cleanup(hs.Close)
	dc := downstream.NewClient(hs.URL, testToken, hs.Client())

	// The bus's first retry wait heals accounting, so the retry succeeds.
	var heal sync.Once
	sleep := func(ctx context.Context, _ time.Duration) error {
		heal.Do(func() {
			if _, err := dc.SetFaults(ctx, downstream.Faults{Accounting: &downstream.Fault{}}); err != nil {
				t.Errorf("healing accounting: %v", err)
			}
		})
		return ctx.Err()
	}
	b := newBus(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{rule("orders-to-downstream", `{"source":["com.anycompany.orders"]}`,
			eventbus.TargetConfig{Name: "downstream", URL: hs.URL + "/events", Concurrency: 1, Connection: sink})}
	}, eventbus.WithSleep(sleep))

	created := orderEntry("OrderCreated", "pos1-orders-42")
	put(t, b, created, created) // the cdc replaying a batch: same event_id twice
	b.waitIdle(t)
	if _, err := dc.SetFaults(t.Context(), downstream.Faults{Accounting: &downstream.Fault{FailRatio: 1}}); err != nil {
		t.Fatal(err)
	}
	status := orderEntry("OrderStatusChanged", "pos2-orders-42")
	status.Detail = aws.String(`{"event_id":"pos2-orders-42","source_position":2,"order":{"id":"42","status":"processing"},"changed":{"status":"processing"},"previous":{"status":"accepted"}}`)
	put(t, b, status)
	b.waitIdle(t)

	stats, err := dc.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := downstream.Stats{
		Inventory: downstream.Counts{Events: 1}, Accounting: downstream.Counts{Events: 2},
		Events: downstream.EventCounts{Received: 2, Duplicates: 1, Failed: 1,
			Sources: map[string]downstream.SourceCounts{"com.anycompany.orders": {Received: 2, Duplicates: 1}}},
	}
	if d := cmp.Diff(want, stats); d != "" {
		t.Errorf("downstream stats (-want +got):\n%s", d)
	}
	got := b.srv.Stats().Rules["orders-to-downstream"].Targets["downstream"]
	if got != (eventbus.TargetStats{Delivered: 3, Retries: 1}) {
		t.Errorf("bus target stats: %+v", got)
	}
	evs, err := dc.Events(t.Context(), "42")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, string(e.Service)+":"+e.DetailType)
	}
	if d := cmp.Diff([]string{"inventory:OrderCreated", "accounting:OrderCreated", "accounting:OrderStatusChanged"}, types); d != "" {
		t.Errorf("events of order 42 (-want +got):\n%s", d)
	}
}
