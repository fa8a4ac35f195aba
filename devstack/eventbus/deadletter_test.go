package eventbus_test

import (
	"context"
	"strings"
	"testing"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/stacktest"
)

// TestDeadLettersGoToTheControlTable: with dead_letter_table set, an event
// a target refuses is a dead letter of source bus in the control table,
// whole (nothing in the file); replaying it puts it on the bus again with
// its own event_id, and the target, now taking it, gets it.
func TestDeadLettersGoToTheControlTable(t *testing.T) {
	ctx := context.Background()
	ddb := stacktest.DynamoDB(t)
	table := stacktest.TableName(t, ddb, "bus_control")
	if _, err := ddbtable.Ensure(ctx, ddb, control.Spec(table)); err != nil {
		t.Fatal(err)
	}
	tg := newTarget(t, 400, 200) // refuses the first delivery, takes the next
	b := newBus(t, func(c *eventbus.Config) {
		c.DeadLetterTable = table
		c.DynamoDB = stacktest.DynamoDBEndpoint()
		c.Rules = []eventbus.RuleConfig{rule("r", ordersPattern, eventbus.TargetConfig{Name: "t", URL: tg.URL, MaxAttempts: 1})}
	})
	put(t, b, orderEntry("OrderCreated", "e-dead"))
	b.waitIdle(t)
	store := deadletter.NewStore(ddb, table, nil)
	list, err := store.List(ctx, deadletter.Bus)
	if err != nil || len(list) != 1 {
		t.Fatalf("bus dead letters: %+v, %v; want 1", list, err)
	}
	r, err := store.Get(ctx, deadletter.Bus, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	ev := r.Payload.Event
	if ev == nil || ev.EventID != "e-dead" || ev.Source != "com.anycompany.orders" || ev.DetailType != "OrderCreated" ||
		ev.Rule != "r" || ev.Target != "t" || !strings.Contains(string(ev.Detail), `"status":"accepted"`) || !strings.Contains(r.Reason, "400") {
		t.Fatalf("bus dead letter: %+v %+v", r, ev)
	}
	if dls := readJSONL[eventbus.DeadLetter](t, b.cfg.DeadLetterPath); len(dls) != 0 {
		t.Errorf("the file holds %d dead letters the table took", len(dls))
	}
	rp := &deadletter.Replayer{Store: store, By: "tester", Publisher: func(source, bus string, dead events.DeadLetterSink) deadletter.Publisher {
		return events.NewPublisher(b.sdk, events.PublisherOptions{Source: source, Bus: bus, DeadLetters: dead})
	}}
	if _, err := rp.Replay(ctx, deadletter.Bus, r.ID); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	got := tg.received()
	if len(got) != 1 || !strings.Contains(string(got[0].Detail), `"event_id":"e-dead"`) {
		t.Errorf("the target got %d events after the replay, want e-dead", len(got))
	}
	if n, err := store.Count(ctx, deadletter.Bus); err != nil || n != 0 {
		t.Errorf("%d bus dead letters left, %v", n, err)
	}
}
