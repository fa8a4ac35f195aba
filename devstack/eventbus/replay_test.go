package eventbus_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/eventbus"
)

func TestReplayRedeliversArchivedEventsInTheWindow(t *testing.T) {
	first, second := newTarget(t), newTarget(t)
	b := newBus(t, func(c *eventbus.Config) {
		c.Rules = []eventbus.RuleConfig{
			rule("to-first", ordersPattern, eventbus.TargetConfig{Name: "first", URL: first.URL}),
			rule("to-second", ordersPattern, eventbus.TargetConfig{Name: "second", URL: second.URL}),
		}
	})
	for i, id := range []string{"e1", "e2", "e3"} {
		b.clock.set(t0.Add(time.Duration(i) * time.Hour))
		put(t, b, orderEntry("OrderCreated", id))
	}
	put(t, b, orderEntry("OrderUpdated", "e4")) // matched by no rule
	b.waitIdle(t)
	if len(first.received()) != 3 || len(second.received()) != 3 {
		t.Fatalf("live delivery: %d and %d", len(first.received()), len(second.received()))
	}

	// A replayer reads the same archive with the same rules, as
	// `strangler dev eventbus replay` does next to a running bus.
	dead, err := eventbus.OpenDeadLetters(b.cfg.DeadLetterPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	r, err := eventbus.NewReplayer(b.cfg, dead, slog.New(slog.DiscardHandler), eventbus.WithSleep(b.sleeps.sleep))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Replay(t.Context(), eventbus.ReplayRequest{From: t0.Add(30 * time.Minute), To: t0.Add(150 * time.Minute), Rule: "to-second", Name: "fix-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := eventbus.ReplayResult{Name: "fix-1", Read: 4, InWindow: 3, Deliveries: 2, Delivered: 2}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("result (-want +got):\n%s", d)
	}
	if n := len(first.received()); n != 3 {
		t.Errorf("--rule to-second also reached first: %d", n)
	}
	got := second.received()[3:]
	if len(got) != 2 || got[0].ReplayName != "fix-1" || got[0].ID != "ev-2" || got[1].ID != "ev-3" {
		t.Errorf("replayed: %+v", got)
	}

	_, err = r.Replay(t.Context(), eventbus.ReplayRequest{From: t0, To: t0.Add(time.Hour), Rule: "nope"})
	if !errors.Is(err, eventbus.ErrUnknownRule) {
		t.Errorf("unknown rule: %v", err)
	}
	if _, err := r.Replay(t.Context(), eventbus.ReplayRequest{From: t0, To: t0}); err == nil {
		t.Error("an empty window was accepted")
	}
}
