package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/google/go-cmp/cmp"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/devstack/eventbus/bustest"
	"github.com/anycompany/strangler/internal/awsconf"
	"github.com/anycompany/strangler/internal/events"
	"github.com/anycompany/strangler/internal/retry"
)

type memDead struct {
	mu  sync.Mutex
	got []events.DeadLetter
}

func (m *memDead) Add(_ context.Context, dl events.DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, dl)
	return nil
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func entries(t *testing.T, keys, perKey int) []events.Entry {
	t.Helper()
	var out []events.Entry
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprint(k)
			pos := fmt.Sprint(1_000_000*(i+1) + k)
			d := events.Detail{
				EventID: events.ID(pos, "orders", key), OccurredAt: events.FormatTime(time.Unix(1700000000, 0)),
				SourcePosition: pos, Order: map[string]any{"id": k, "seq": i},
			}
			e, err := events.NewEntry(key, events.OrderUpdated, d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}

type accepted struct {
	EventID string `json:"event_id"`
	Order   struct {
		ID  int `json:"id"`
		Seq int `json:"seq"`
	} `json:"order"`
}

// TestPublisherFaults publishes through a bus failing 30% of entries and
// throttling 30% of calls: every event is accepted exactly once, in order per
// key, calls stay within PutEvents' limits.
func TestPublisherFaults(t *testing.T) {
	bus := bustest.Start(t, func(c *eventbus.Config) {
		c.Faults = eventbus.FaultConfig{FailRatio: 0.3, ThrottleRatio: 0.3}
	})
	in := entries(t, 25, 12)
	dead := &memDead{}
	p := events.NewPublisher(bus.SDK, events.PublisherOptions{Concurrency: 4, Retry: retry.Policy{Sleep: noSleep, MaxAttempts: 50}, DeadLetters: dead})
	res, err := p.Publish(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != len(in) || res.Dead != 0 || res.Retried == 0 {
		t.Errorf("result %+v: want %d accepted, none dead, some retried", res, len(in))
	}
	got := bus.Accepted(t)
	if len(got) != len(in) {
		t.Fatalf("bus accepted %d events, want %d", len(got), len(in))
	}
	seen := map[string]bool{}
	next := map[int]int{}
	for _, e := range got {
		if err := events.ValidateDetail(e.Detail); err != nil {
			t.Errorf("schema: %v", err)
		}
		var a accepted
		if err := json.Unmarshal(e.Detail, &a); err != nil {
			t.Fatal(err)
		}
		if seen[a.EventID] {
			t.Errorf("event %s accepted twice", a.EventID)
		}
		seen[a.EventID] = true
		if a.Order.Seq != next[a.Order.ID] {
			t.Errorf("order %d: event %d accepted when %d was due", a.Order.ID, a.Order.Seq, next[a.Order.ID])
		}
		next[a.Order.ID] = a.Order.Seq + 1
	}
	st := bus.Server.Stats()
	t.Logf("publisher %+v; bus stats %+v", res, st)
}

// TestPublisherGivesUp: with the production settings (retry.Events() and
// the SDK's retryer as awsconf sets it) an event the bus keeps throttling,
// or keeps failing as an entry, is sent exactly Events().MaxAttempts times
// and given up, after waiting at most Events().WorstWait(), with an error
// wrapping retry.ErrExhausted; a call the bus refuses is sent once.
func TestPublisherGivesUp(t *testing.T) {
	prod := retry.Events()
	for _, tc := range []struct {
		name   string
		faults eventbus.FaultConfig
		calls  func(eventbus.Stats) int64
		check  func(error) bool
	}{
		{"throttled", eventbus.FaultConfig{ThrottleRatio: 1}, func(s eventbus.Stats) int64 { return s.Throttled }, func(err error) bool {
			var te *ebtypes.ThrottlingException
			return errors.As(err, &te)
		}},
		{"entry failing", eventbus.FaultConfig{FailRatio: 1}, func(s eventbus.Stats) int64 { return s.Calls }, func(err error) bool {
			return strings.Contains(err.Error(), "InternalFailure")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := bustest.Start(t, func(c *eventbus.Config) { c.Faults = tc.faults })
			var waited time.Duration
			p := events.NewPublisher(bus.SDK, events.PublisherOptions{DeadLetters: &memDead{}, Retry: retry.Policy{
				Rand:  func(n int64) int64 { return n - 1 }, // the longest wait each time
				Sleep: func(_ context.Context, d time.Duration) error { waited += d; return nil },
			}})
			_, err := p.Publish(context.Background(), entries(t, 1, 1))
			if !errors.Is(err, retry.ErrExhausted) || !tc.check(err) {
				t.Fatalf("err = %v, want the bus's error after the last attempt", err)
			}
			if got := tc.calls(bus.Server.Stats()); got != int64(prod.MaxAttempts) {
				t.Errorf("%d calls, want %d", got, prod.MaxAttempts)
			}
			if waited != prod.WorstWait() {
				t.Errorf("waited %v before giving up, want %v", waited, prod.WorstWait())
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"no"}`))
		}))
		defer srv.Close()
		eb, err := awsconf.Local(srv.URL).EventBridge(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p := events.NewPublisher(eb, events.PublisherOptions{DeadLetters: &memDead{}, Retry: retry.Policy{Sleep: noSleep}})
		_, err = p.Publish(context.Background(), entries(t, 1, 1))
		if err == nil || retry.Retryable(err) || calls.Load() != 1 {
			t.Errorf("err = %v after %d calls, want a refusal after 1", err, calls.Load())
		}
	})
}

// TestPublisherDeadLetters sends an event over 256 KiB and one the bus
// refuses: both go to the dead letters with a reason, the rest is accepted.
func TestPublisherDeadLetters(t *testing.T) {
	bus := bustest.Start(t, nil)
	in := entries(t, 3, 1)
	big := in[0]
	big.EventID = "big"
	big.Detail = []byte(`{"pad":"` + strings.Repeat("x", 300<<10) + `"}`)
	bad := in[1]
	bad.EventID = "bad"
	bad.Detail = []byte(`not json`)
	in = append(in, big, bad)
	dead := &memDead{}
	p := events.NewPublisher(bus.SDK, events.PublisherOptions{Retry: retry.Policy{Sleep: noSleep}, DeadLetters: dead})
	res, err := p.Publish(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || res.Dead != 2 {
		t.Errorf("result %+v: want 3 accepted, 2 dead", res)
	}
	var ids []string
	for _, d := range dead.got {
		if d.Reason == "" {
			t.Errorf("dead letter %s without a reason", d.Entry.EventID)
		}
		ids = append(ids, d.Entry.EventID)
	}
	if diff := cmp.Diff([]string{"bad", "big"}, slices.Sorted(slices.Values(ids))); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
}

func TestValidateDetail(t *testing.T) {
	good := `{"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"2024-01-02T03:04:05.000000Z","source_position":"42000003","order":{"id":1,"total":"5.50"},"changed":["status"],"previous":{"status":"accepted"}}`
	if err := events.ValidateDetail([]byte(good)); err != nil {
		t.Errorf("valid detail refused: %v", err)
	}
	for name, bad := range map[string]string{
		"missing order":      `{"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"2024-01-02T03:04:05.000000Z","source_position":"1"}`,
		"numeric position":   `{"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"2024-01-02T03:04:05.000000Z","source_position":1,"order":{"id":1}}`,
		"bad id":             `{"event_id":"x","occurred_at":"2024-01-02T03:04:05.000000Z","source_position":"1","order":{"id":1}}`,
		"unknown field":      `{"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"2024-01-02T03:04:05.000000Z","source_position":"1","order":{"id":1},"x":1}`,
		"changed not a list": `{"event_id":"0123456789abcdef0123456789abcdef","occurred_at":"2024-01-02T03:04:05.000000Z","source_position":"1","order":{"id":1},"changed":"status"}`,
	} {
		if err := events.ValidateDetail([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
