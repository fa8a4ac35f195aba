package main

import (
	"context"
	"strings"
	"testing"

	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/internal/control"
	"github.com/anycompany/strangler/internal/ddbtable"
	"github.com/anycompany/strangler/internal/deadletter"
	"github.com/anycompany/strangler/internal/stacktest"
)

// TestDeadLettersBadInput: every bad command line is refused naming what
// is wrong and what to do.
func TestDeadLettersBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"deadletters", "show", "x"}, "--source is required: one of cdc, relay, backfill, bus"},
		{[]string{"deadletters", "list", "--source", "kafka"}, `unknown dead-letter source "kafka": use one of cdc, relay, backfill, bus`},
		{[]string{"deadletters", "replay", "--source", "cdc"}, "give one or more dead-letter ids, as strangler deadletters list --source cdc prints them"},
		{[]string{"deadletters", "drop", "--source", "bus"}, "give one or more dead-letter ids"},
		{[]string{"deadletters", "replay", "--source", "cdc", "--all", "x"}, "give ids or --all, not both"},
	}
	for _, tc := range cases {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitConfig || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, exitConfig, tc.want)
		}
	}
}

// TestDeadLettersListShowReplayDrop drives the CLI over a control table
// holding two relay dead letters (events the bus refused): list shows
// them with their reasons, show prints the whole detail, replay puts the
// event on the bus again with its own id and removes it, drop removes the
// other with an audit line, and an unknown id is a clear error.
func TestDeadLettersListShowReplayDrop(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	ctx := context.Background()
	ddb := stacktest.DynamoDB(t)
	table := stacktest.TableName(t, ddb, "cli_control")
	if _, err := ddbtable.Ensure(ctx, ddb, control.Spec(table)); err != nil {
		t.Fatal(err)
	}
	bus := bustest.Start(t, nil)
	t.Setenv("STRANGLER_CDC_CONTROL_TABLE", table)
	t.Setenv("STRANGLER_CDC_DYNAMODB_URL", stacktest.DynamoDBEndpoint().URL)
	t.Setenv("STRANGLER_CDC_EVENTBRIDGE_URL", bus.URL)
	sink := deadletter.NewSink(ddb, table, deadletter.Relay, nil)
	// ev-1 the bus now takes; ev-2 (over PutEvents' 256 KiB) it never will.
	details := map[string]string{
		"ev-1": `{"event_id":"ev-1","order":{"id":"ord_1","notes":"` + strings.Repeat("n", 200<<10) + `"}}`,
		"ev-2": `{"event_id":"ev-2","order":{"id":"ord_1","notes":"` + strings.Repeat("m", 350<<10) + `"}}`,
	}
	for id, detail := range details {
		ev := deadletter.NewEvent("com.anycompany.orders.service", "", "OrderCreated", id, "ord_1", []byte(detail))
		if err := sink.Add(ctx, deadletter.Record{ID: id, Kind: deadletter.Event, Key: "ord_1", Reason: "ValidationException: injected", Payload: deadletter.Payload{Event: ev}}); err != nil {
			t.Fatal(err)
		}
	}

	code, out, stderr := runCLI(t, "deadletters", "list", "--source", "relay")
	if code != exitOK || !strings.Contains(out, "ev-1") || !strings.Contains(out, "ValidationException: injected") || !strings.Contains(out, "2 dead letters") {
		t.Fatalf("list: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "deadletters", "show", "--source", "relay", "ev-2")
	if code != exitOK || !strings.Contains(out, strings.Repeat("m", 350<<10)) || !strings.Contains(out, "reason:   ValidationException: injected") {
		t.Fatalf("show: exit %d, %d bytes\n%s", code, len(out), stderr)
	}
	code, out, stderr = runCLI(t, "deadletters", "replay", "--source", "relay", "ev-1", "--by", "tester")
	if code != exitOK || !strings.Contains(out, "replay relay/ev-1 key=ord_1 by=tester") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, stderr)
	}
	got := bus.Accepted(t)
	if len(got) != 1 || string(got[0].Detail) != details["ev-1"] || got[0].Source != "com.anycompany.orders.service" {
		t.Fatalf("the bus accepted %d events after the replay, want ev-1 whole", len(got))
	}
	code, _, stderr = runCLI(t, "deadletters", "replay", "--source", "relay", "ev-2")
	if code != exitFailed || !strings.Contains(stderr, "the bus still refuses event ev-2") || !strings.Contains(stderr, "256 KiB") {
		t.Fatalf("replay of an event the bus refuses: exit %d\n%s", code, stderr)
	}
	code, out, stderr = runCLI(t, "deadletters", "drop", "--source", "relay", "ev-2", "--by", "tester")
	if code != exitOK || !strings.Contains(out, "drop relay/ev-2 key=ord_1 by=tester") {
		t.Fatalf("drop: exit %d\n%s%s", code, out, stderr)
	}
	code, _, stderr = runCLI(t, "deadletters", "show", "--source", "relay", "ev-2")
	if code != exitFailed || !strings.Contains(stderr, `no such dead letter "ev-2" of source relay: list them with strangler deadletters list --source relay`) {
		t.Errorf("show of a dropped id: exit %d, %s", code, stderr)
	}
	code, out, _ = runCLI(t, "deadletters", "list")
	if code != exitOK || !strings.Contains(out, "0 dead letters") {
		t.Errorf("list after: exit %d\n%s", code, out)
	}
}
