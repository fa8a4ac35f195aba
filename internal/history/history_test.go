package history

import (
	"strings"
	"testing"
	"time"
)

func ev(id, order string, v uint64, status, prev string) Event {
	return Event{ID: id, DetailType: "OrderStatusChanged", Order: order, State: State{Version: v, Status: status}, Previous: prev}
}

func ack(kind Kind, order, arg string, v uint64, status string) Op {
	return Op{Kind: kind, Order: order, Arg: arg, Status: 200, Backend: "legacy", End: time.Unix(0, 0), Result: &State{Version: v, Status: status}}
}

// TestCheck: the checker finds each way a write can be lost, and passes a
// clean history with redelivered events and unanswered calls.
func TestCheck(t *testing.T) {
	clean := []Event{ev("e1", "1", 1, "accepted", ""), ev("e2", "1", 2, "processing", "accepted"), ev("e3", "1", 3, "cancelled", "processing")}
	final := map[string]State{"1": {3, "cancelled"}}
	ops := []Op{
		ack(Create, "1", "", 1, "accepted"), ack(Update, "1", "processing", 2, "processing"), ack(Cancel, "1", "", 3, "cancelled"),
		{Kind: Update, Order: "1", Arg: "shipped", Status: 409},
		{Kind: Update, Order: "1", Arg: "shipped"}, // no answer
	}
	for _, tc := range []struct {
		name           string
		ops            []Op
		legacy, dynamo map[string]State
		events         []Event
		lost, broken   string // a substring of the first finding, "" for none
	}{
		{name: "clean, with a redelivered event", ops: ops, legacy: final, dynamo: final, events: append(clean, clean[1])},
		{name: "two writers from one version", ops: append(ops, ack(Cancel, "1", "", 3, "cancelled")), legacy: final, dynamo: final,
			events: append(clean, ev("e4", "1", 3, "shipped", "processing")), broken: "two writers"},
		{name: "acknowledged, then overwritten", ops: append(ops[:2:2], ack(Cancel, "1", "", 3, "cancelled")), legacy: map[string]State{"1": {3, "shipped"}},
			dynamo: map[string]State{"1": {3, "shipped"}}, events: append(clean[:2:2], ev("e4", "1", 3, "shipped", "processing")),
			lost: "version 3 is shipped in the history"},
		{name: "acknowledged, never published", ops: ops, legacy: final, dynamo: final, events: clean[:2], lost: "no event has version 3", broken: "legacy holds v3 cancelled, the history ends at v2"},
		{name: "a store behind", ops: ops, legacy: final, dynamo: map[string]State{"1": {2, "processing"}}, events: clean, broken: "dynamodb holds v2 processing"},
		{name: "a store without the order", ops: ops, legacy: final, dynamo: map[string]State{}, events: clean, broken: "dynamodb holds nothing"},
		{name: "a gap", ops: ops[:1], legacy: final, dynamo: final, events: []Event{clean[0], clean[2]}, broken: "skip from version 1 to 3"},
		{name: "revived after a cancel", ops: ops[:1], legacy: map[string]State{"1": {3, "shipped"}}, dynamo: map[string]State{"1": {3, "shipped"}},
			events: []Event{clean[0], ev("x", "1", 2, "cancelled", "accepted"), ev("y", "1", 3, "shipped", "processing")}, broken: "came from processing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.ops, tc.legacy, tc.dynamo, tc.events)
			if r.Operations != len(tc.ops) {
				t.Errorf("operations %d, want %d", r.Operations, len(tc.ops))
			}
			check := func(what string, got []string, want string) {
				t.Helper()
				switch {
				case want == "" && len(got) > 0:
					t.Errorf("%s: %q, want none", what, got)
				case want != "" && (len(got) == 0 || !strings.Contains(got[0], want)):
					t.Errorf("%s: %q, want one saying %q", what, got, want)
				}
			}
			check("lost", r.Lost, tc.lost)
			check("inconsistent", r.Inconsistent, tc.broken)
			if r.OK() != (tc.lost == "" && tc.broken == "") {
				t.Errorf("OK() = %v for %s", r.OK(), r)
			}
		})
	}
	r := Check(ops, final, final, clean)
	if r.Acknowledged != 3 || r.Conflicts != 1 || r.Indeterminate != 1 || r.Events != 3 || r.Orders != 1 {
		t.Errorf("counts %s, want 3 acknowledged, one 409, one indeterminate, 3 events, 1 order", r)
	}
}
