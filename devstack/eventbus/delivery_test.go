package eventbus_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/eventbus"
)

const ordersPattern = `{"source":["com.anycompany.orders"],"detail-type":["OrderCreated","OrderCancelled"]}`

func rule(name, pattern string, targets ...eventbus.TargetConfig) eventbus.RuleConfig {
	return eventbus.RuleConfig{Name: name, Pattern: pattern, Targets: targets}
}

func put(t *testing.T, b *bus, entries ...types.PutEventsRequestEntry) *eventbridge.PutEventsOutput {
	t.Helper()
	out, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("%d entries failed: %+v", out.FailedEntryCount, out.Entries)
	}
	return out
}

func TestMatchedEventsAreDeliveredAsEnvelopes(t *testing.T) {
	inv, acc := newTarget(t), newTarget(t)
	b := newBus(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{
			rule("orders-to-inventory", ordersPattern, eventbus.TargetConfig{Name: "inventory", URL: inv.URL}),
			rule("status-to-accounting", `{"detail-type":["OrderStatusChanged"]}`, eventbus.TargetConfig{Name: "accounting", URL: acc.URL}),
		}
	})
	put(t, b, orderEntry("OrderCreated", "e1"), orderEntry("OrderStatusChanged", "e2"), orderEntry("OrderUpdated", "e3"))
	b.waitIdle(t)

	want := []eventbus.Envelope{{
		Version: "0", ID: "ev-1", DetailType: "OrderCreated", Source: "com.anycompany.orders", Account: "000000000000",
		Time: "2026-03-01T12:00:00Z", Region: "us-east-1", Resources: []string{},
		Detail: json.RawMessage(`{"event_id":"e1","order":{"id":"42","status":"accepted"}}`),
	}}
	if d := cmp.Diff(want, inv.received()); d != "" {
		t.Errorf("inventory got (-want +got):\n%s", d)
	}
	if got := acc.received(); len(got) != 1 || got[0].DetailType != "OrderStatusChanged" {
		t.Errorf("accounting got %+v", got)
	}
	st := b.srv.Stats()
	want2 := map[string]eventbus.RuleStats{
		"orders-to-inventory":  {Matched: 1, Targets: map[string]eventbus.TargetStats{"inventory": {Delivered: 1}}},
		"status-to-accounting": {Matched: 1, Targets: map[string]eventbus.TargetStats{"accounting": {Delivered: 1}}},
	}
	if d := cmp.Diff(want2, st.Rules); d != "" {
		t.Errorf("rule stats (-want +got):\n%s", d)
	}
}

func TestDeliveryRetriesWithJitteredBackoffThenDeadLetters(t *testing.T) {
	flaky := newTarget(t, 503, 500, 200) // two failures, then it takes the event
	down := newTarget(t, 503, 503, 503, 503)
	refuses := newTarget(t, 400)
	target := func(name, url string) eventbus.TargetConfig {
		return eventbus.TargetConfig{Name: name, URL: url, MaxAttempts: 4, Backoff: 100 * time.Millisecond, MaxBackoff: 250 * time.Millisecond, Concurrency: 1}
	}
	b := newBus(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{
			rule("r-flaky", ordersPattern, target("flaky", flaky.URL)),
			rule("r-down", ordersPattern, target("down", down.URL)),
			rule("r-refuses", ordersPattern, target("refuses", refuses.URL)),
		}
	})
	put(t, b, orderEntry("OrderCreated", "e1"))
	b.waitIdle(t)

	if got := len(flaky.received()); got != 1 || flaky.attempts.Load() != 3 {
		t.Errorf("flaky: %d delivered in %d attempts, want 1 in 3", got, flaky.attempts.Load())
	}
	if down.attempts.Load() != 4 {
		t.Errorf("down: %d attempts, want max_attempts 4", down.attempts.Load())
	}
	if refuses.attempts.Load() != 1 {
		t.Errorf("a 400 is not retried: %d attempts", refuses.attempts.Load())
	}
	// Backoff doubles from 100ms, capped at 250ms, half of it jittered.
	// flaky: 2 waits; down: 3 waits.
	waits := b.sleeps.all()
	if len(waits) != 5 {
		t.Fatalf("waited %d times, want 5: %v", len(waits), waits)
	}
	for _, w := range waits {
		if w < 50*time.Millisecond || w > 250*time.Millisecond {
			t.Errorf("wait %s outside [50ms, 250ms]", w)
		}
	}

	dls := readJSONL[eventbus.DeadLetter](t, b.cfg.DeadLetterPath)
	got := map[string]eventbus.DeadLetter{}
	for _, dl := range dls {
		got[dl.Target] = dl
	}
	if len(dls) != 2 || got["down"].Attempts != 4 || got["refuses"].Attempts != 1 {
		t.Fatalf("dead letters: %+v", dls)
	}
	if dl := got["down"]; dl.Rule != "r-down" || !strings.Contains(dl.Reason, "503") || !strings.Contains(string(dl.Event), `"event_id":"e1"`) || !dl.At.Equal(t0) {
		t.Errorf("dead letter of down: %+v", dl)
	}
	if !strings.Contains(got["refuses"].Reason, "400") {
		t.Errorf("dead letter of refuses: %+v", got["refuses"])
	}
	st := b.srv.Stats().Rules
	if st["r-flaky"].Targets["flaky"] != (eventbus.TargetStats{Delivered: 1, Retries: 2}) ||
		st["r-down"].Targets["down"] != (eventbus.TargetStats{Retries: 3, DeadLettered: 1}) ||
		st["r-refuses"].Targets["refuses"] != (eventbus.TargetStats{DeadLettered: 1}) {
		t.Errorf("stats: %+v", st)
	}
}

func TestFullQueueDeadLettersWithoutBlockingPutEvents(t *testing.T) {
	release := make(chan struct{})
	slow := newGatedTarget(t, release)
	b := newBus(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{rule("r", ordersPattern,
			eventbus.TargetConfig{Name: "slow", URL: slow.URL, QueueSize: 2, Concurrency: 1, Timeout: 10 * time.Second})}
	})
	// One in flight, two queued, two refused: PutEvents still answers at once.
	for i := range 5 {
		put(t, b, orderEntry("OrderCreated", string(rune('a'+i))))
		if i == 0 {
			waitFor(t, "the first delivery to start", func() bool { return slow.attempts.Load() == 1 })
		}
	}
	st := b.srv.Stats().Rules["r"].Targets["slow"]
	if st.QueueFull != 2 || st.DeadLettered != 2 || st.Queued != 2 {
		t.Errorf("while blocked: %+v", st)
	}
	close(release)
	b.waitIdle(t)
	if n := len(slow.received()); n != 3 {
		t.Errorf("delivered %d, want 3", n)
	}
	dls := readJSONL[eventbus.DeadLetter](t, b.cfg.DeadLetterPath)
	if len(dls) != 2 || !strings.Contains(dls[0].Reason, "queue full") {
		t.Errorf("dead letters: %+v", dls)
	}
}
