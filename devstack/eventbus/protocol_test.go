package eventbus_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/problem"
)

func orderEntry(detailType, eventID string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{
		Source:     aws.String("com.anycompany.orders"),
		DetailType: aws.String(detailType),
		Detail:     aws.String(`{"event_id":"` + eventID + `","order":{"id":"42","status":"accepted"}}`),
	}
}

func TestPutEventsThroughTheSDK(t *testing.T) {
	b := newBus(t, nil)
	e := orderEntry("OrderCreated", "e1")
	e.Time = aws.Time(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	e.Resources = []string{"arn:aws:dynamodb:us-east-1:000000000000:table/orders"}
	out, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{e, orderEntry("OrderCancelled", "e2")}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != 2 || aws.ToString(out.Entries[0].EventId) != "ev-1" || aws.ToString(out.Entries[1].EventId) != "ev-2" {
		t.Fatalf("answer: failed %d, entries %+v", out.FailedEntryCount, out.Entries)
	}

	// Both are archived, as the envelope targets get.
	recs := readJSONL[eventbus.ArchiveRecord](t, b.cfg.ArchivePath)
	if len(recs) != 2 {
		t.Fatalf("archive holds %d records, want 2", len(recs))
	}
	var env eventbus.Envelope
	if err := json.Unmarshal(recs[0].Event, &env); err != nil {
		t.Fatal(err)
	}
	want := eventbus.Envelope{
		Version: "0", ID: "ev-1", DetailType: "OrderCreated", Source: "com.anycompany.orders", Account: "000000000000",
		Time: "2026-02-03T04:05:06Z", Region: "us-east-1", Resources: []string{"arn:aws:dynamodb:us-east-1:000000000000:table/orders"},
		Detail: json.RawMessage(`{"event_id":"e1","order":{"id":"42","status":"accepted"}}`),
	}
	if d := cmp.Diff(want, env); d != "" {
		t.Errorf("archived envelope (-want +got):\n%s", d)
	}
	if recs[0].Bus != "default" || !recs[0].ArchivedAt.Equal(t0) {
		t.Errorf("archive record: bus %q at %s", recs[0].Bus, recs[0].ArchivedAt)
	}
	if st := b.srv.Stats(); st.Calls != 1 || st.Accepted != 2 || st.Failed != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestPutEventsRefusesWholeCallsAsTheServiceDoes(t *testing.T) {
	b := newBus(t, nil)
	eleven := make([]types.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = orderEntry("OrderCreated", "e")
	}
	// 256 KiB counted as AWS counts: Source + DetailType + Detail (+ Time, Resources).
	fill := func(total int) []types.PutEventsRequestEntry {
		e := orderEntry("OrderCreated", "e")
		base := eventbus.EntrySize(eventbus.RequestEntry{Source: e.Source, DetailType: e.DetailType, Detail: aws.String(`{"p":""}`)})
		e.Detail = aws.String(`{"p":"` + strings.Repeat("x", total-base) + `"}`)
		return []types.PutEventsRequestEntry{e}
	}
	cases := []struct {
		name    string
		entries []types.PutEventsRequestEntry
		want    string // error code; "" = accepted
	}{
		{"11 entries", eleven, "ValidationException"},
		{"no entries", []types.PutEventsRequestEntry{}, "ValidationException"},
		{"257 KiB", fill(257 * 1024), "ValidationException"},
		{"1 byte over 256 KiB", fill(eventbus.MaxRequestSize + 1), "ValidationException"},
		{"exactly 256 KiB", fill(eventbus.MaxRequestSize), ""},
		{"10 entries", eleven[:10], ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: tc.entries}, noRetry)
			if tc.want == "" {
				if err != nil || out.FailedEntryCount != 0 {
					t.Fatalf("refused: %v %+v", err, out)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.want {
				t.Fatalf("err = %v, want API error %s", err, tc.want)
			}
		})
	}
	if st := b.srv.Stats(); st.Rejected != 4 {
		t.Errorf("rejected = %d, want 4", st.Rejected)
	}
}

func TestPutEventsFailsBadEntriesAlone(t *testing.T) {
	b := newBus(t, func(c *eventbus.Config) { c.Buses = []string{"default", "audit"} })
	noSource := orderEntry("OrderCreated", "e")
	noSource.Source = nil
	noType := orderEntry("OrderCreated", "e")
	noType.DetailType = nil
	noDetail := orderEntry("OrderCreated", "e")
	noDetail.Detail = nil
	badJSON := orderEntry("OrderCreated", "e")
	badJSON.Detail = aws.String(`{"event_id":`)
	notObject := orderEntry("OrderCreated", "e")
	notObject.Detail = aws.String(`["a"]`)
	unknownBus := orderEntry("OrderCreated", "e")
	unknownBus.EventBusName = aws.String("nope")
	auditByARN := orderEntry("OrderCreated", "e")
	auditByARN.EventBusName = aws.String("arn:aws:events:us-east-1:000000000000:event-bus/audit")
	awsSource := orderEntry("OrderCreated", "e")
	awsSource.Source = aws.String("aws.ec2")

	entries := []types.PutEventsRequestEntry{orderEntry("OrderCreated", "ok1"), noSource, noType, noDetail, badJSON, notObject, unknownBus, auditByARN, awsSource, orderEntry("OrderCreated", "ok2")}
	out, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out.Entries {
		if e.EventId != nil {
			got = append(got, "id")
		} else {
			got = append(got, aws.ToString(e.ErrorCode))
		}
	}
	want := []string{"id", "InvalidArgument", "InvalidArgument", "InvalidArgument", "MalformedDetail", "MalformedDetail",
		"ResourceNotFoundException", "id", "NotAuthorizedForSourceException", "id"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("per-entry results (-want +got):\n%s", d)
	}
	if out.FailedEntryCount != 7 {
		t.Errorf("FailedEntryCount = %d, want 7", out.FailedEntryCount)
	}
	if msg := aws.ToString(out.Entries[3].ErrorMessage); msg != "Parameter Detail is not valid. Reason: Detail is a required argument." {
		t.Errorf("message of the entry without Detail: %q", msg)
	}
	if n := len(readJSONL[eventbus.ArchiveRecord](t, b.cfg.ArchivePath)); n != 3 {
		t.Errorf("archived %d, want the 3 accepted", n)
	}
}

func TestFaultInjection(t *testing.T) {
	// A scripted random source: draws below the ratio fail.
	draws := []float64{0.9, 0.1, 0.9, 0.1, 0.9}
	var i int
	random := func() float64 { d := draws[i%len(draws)]; i++; return d }
	b := newBus(t, func(c *eventbus.Config) { c.Faults.FailRatio = 0.5 }, eventbus.WithRandom(random))

	entries := []types.PutEventsRequestEntry{orderEntry("OrderCreated", "a"), orderEntry("OrderCreated", "b"), orderEntry("OrderCreated", "c"), orderEntry("OrderCreated", "d")}
	out, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range out.Entries {
		codes = append(codes, aws.ToString(e.ErrorCode))
	}
	if d := cmp.Diff([]string{"", "InternalFailure", "", "InternalFailure"}, codes); d != "" || out.FailedEntryCount != 2 {
		t.Errorf("failed %d; codes (-want +got):\n%s", out.FailedEntryCount, d)
	}

	// Throttle every call: the SDK returns the modelled ThrottlingException.
	if code, body := b.admin(t, http.MethodPut, "/admin/faults", `{"throttle_ratio":1,"fail_ratio":0}`); code != 200 || body != `{"fail_ratio":0,"throttle_ratio":1}`+"\n" {
		t.Fatalf("PUT /admin/faults: %d %s", code, body)
	}
	_, err = b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries[:1]}, noRetry)
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want *types.ThrottlingException", err)
	}
	// The SDK's standard retryer treats it as retryable and gives up after its attempts.
	_, err = b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries[:1]}, func(o *eventbridge.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 2
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	if !errors.As(err, &te) {
		t.Fatalf("with retries: err = %v", err)
	}

	if code, _ := b.admin(t, http.MethodDelete, "/admin/faults", ""); code != 200 {
		t.Fatalf("DELETE /admin/faults: %d", code)
	}
	if _, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries[:1]}, noRetry); err != nil {
		t.Fatalf("healed: %v", err)
	}
	st := b.srv.Stats()
	if st.Throttled != 3 || st.InjectedFailures != 2 || st.Accepted != 3 || st.Failed != 2 {
		t.Errorf("stats: %+v", st)
	}
}

func TestSeededFaultsAreDeterministic(t *testing.T) {
	run := func() []string {
		b := newBus(t, func(c *eventbus.Config) { c.Faults.FailRatio = 0.3; c.Seed = 42 })
		var codes []string
		for range 5 {
			entries := make([]types.PutEventsRequestEntry, 10)
			for i := range entries {
				entries[i] = orderEntry("OrderCreated", "x")
			}
			out, err := b.sdk.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Entries {
				codes = append(codes, aws.ToString(e.ErrorCode))
			}
		}
		return codes
	}
	first, second := run(), run()
	if d := cmp.Diff(first, second); d != "" {
		t.Errorf("same seed, other failures (-first +second):\n%s", d)
	}
	failed := 0
	for _, c := range first {
		if c != "" {
			failed++
		}
	}
	if failed < 5 || failed > 25 {
		t.Errorf("%d of 50 entries failed at fail_ratio 0.3", failed)
	}
}

func TestProtocolErrors(t *testing.T) {
	b := newBus(t, nil)
	cases := []struct {
		name, target, body string
		status             int
		typ                string
	}{
		{"unknown operation", "AWSEvents.PutRule", `{}`, 400, "UnknownOperationException"},
		{"other service", "DynamoDB_20120810.PutItem", `{}`, 400, "UnknownOperationException"},
		{"no target", "", `{}`, 400, "UnknownOperationException"},
		{"not JSON", "AWSEvents.PutEvents", `{"Entries":`, 400, "SerializationException"},
		{"no Entries", "AWSEvents.PutEvents", `{}`, 400, "ValidationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := b.raw(t, tc.target, tc.body)
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || code != tc.status || e.Type != tc.typ || e.Message == "" {
				t.Errorf("%d %s, want %d %s with a message", code, body, tc.status, tc.typ)
			}
		})
	}

	// TestEventPattern uses the rules' matcher.
	code, body := b.raw(t, "AWSEvents.TestEventPattern",
		`{"EventPattern":"{\"detail-type\":[{\"prefix\":\"Order\"}]}","Event":"{\"detail-type\":\"OrderCreated\",\"source\":\"x\"}"}`)
	if code != 200 || body != `{"Result":true}` {
		t.Errorf("TestEventPattern: %d %s", code, body)
	}
	code, body = b.raw(t, "AWSEvents.TestEventPattern", `{"EventPattern":"{\"n\":[{\"numeric\":[\">\",1]}]}","Event":"{}"}`)
	if code != 400 || !strings.Contains(body, "InvalidEventPatternException") {
		t.Errorf("unsupported pattern: %d %s", code, body)
	}
}

func TestAdminAPI(t *testing.T) {
	b := newBus(t, nil)
	c := eventbus.NewClient(b.url, testToken, nil)
	got, err := c.SetFaults(t.Context(), eventbus.FaultsUpdate{ThrottleRatio: aws.Float64(0.5)})
	if err != nil || got != (eventbus.FaultConfig{ThrottleRatio: 0.5}) {
		t.Fatalf("SetFaults: %+v %v", got, err)
	}
	if got, err = c.SetFaults(t.Context(), eventbus.FaultsUpdate{FailRatio: aws.Float64(0.25)}); err != nil || got != (eventbus.FaultConfig{FailRatio: 0.25, ThrottleRatio: 0.5}) {
		t.Fatalf("a field left out keeps its value: %+v %v", got, err)
	}
	if err := c.ClearFaults(t.Context()); err != nil || b.srv.Faults() != (eventbus.FaultConfig{}) {
		t.Fatalf("ClearFaults: %v, faults %+v", err, b.srv.Faults())
	}
	if st, err := c.Stats(t.Context()); err != nil || st.Calls != 0 {
		t.Fatalf("Stats: %+v %v", st, err)
	}
	var p *problem.Problem
	if _, err := eventbus.NewClient(b.url, "wrong", nil).Stats(t.Context()); !errors.As(err, &p) || p.Status != http.StatusUnauthorized {
		t.Errorf("wrong token: %v", err)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.url+"/admin/stats", nil)
	if code, _ := do(t, req); code != http.StatusUnauthorized {
		t.Errorf("stats without token: %d", code)
	}
	if code, body := b.admin(t, http.MethodPut, "/admin/faults", `{"fail_ratio":2}`); code != 400 || !strings.Contains(body, "fail_ratio") {
		t.Errorf("bad ratio: %d %s", code, body)
	}
	if code, body := b.admin(t, http.MethodGet, "/admin/stats", ""); code != 200 || !strings.Contains(body, `"accepted":0`) {
		t.Errorf("stats: %d %s", code, body)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.url+path, nil)
		code, body := do(t, req)
		if code != 200 {
			t.Errorf("%s: %d", path, code)
		}
		if path == "/metrics" && !strings.Contains(body, `eventbus_entries_total{outcome="accepted"} 0`) {
			t.Errorf("metrics lack eventbus_entries_total:\n%.2000s", body)
		}
	}
}
