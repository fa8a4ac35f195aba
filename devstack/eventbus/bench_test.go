package eventbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
)

// BenchmarkPutEventsSDK measures PutEvents through the real SDK on
// loopback: 10 order events (~600 bytes of Detail each) a call, archived;
// with no rule, with a rule delivering each event to an HTTP target (timed
// until the target has every event), and with that target down (every
// event dead-lettered).
//
//	go test -run '^$' -bench PutEventsSDK -benchtime 5s ./devstack/eventbus/
func BenchmarkPutEventsSDK(b *testing.B) {
	for _, mode := range []string{"none", "up", "down"} {
		b.Run("target="+mode, func(b *testing.B) {
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			defer sink.Close()
			cfg := eventbus.DefaultConfig()
			cfg.ArchivePath = filepath.Join(b.TempDir(), "archive.jsonl")
			cfg.DeadLetterPath = filepath.Join(b.TempDir(), "dead.jsonl")
			switch mode {
			case "up":
				cfg.Rules = []eventbus.RuleConfig{{Name: "all", Pattern: `{"source":["com.anycompany.orders"]}`,
					Targets: []eventbus.TargetConfig{{Name: "sink", URL: sink.URL, QueueSize: 1_000_000, Concurrency: 8}}}}
			case "down": // every event is dead-lettered: connection refused, no retry
				cfg.Rules = []eventbus.RuleConfig{{Name: "all", Pattern: `{"source":["com.anycompany.orders"]}`,
					Targets: []eventbus.TargetConfig{{Name: "down", URL: "http://127.0.0.1:1/", MaxAttempts: 1, QueueSize: 1_000_000, Concurrency: 8}}}}
			}
			srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()
			b.Setenv("AWS_ACCESS_KEY_ID", "bench")
			b.Setenv("AWS_SECRET_ACCESS_KEY", "bench")
			client, err := awsconf.Local("http://" + ln.Addr().String()).EventBridge(ctx)
			if err != nil {
				b.Fatal(err)
			}
			detail := `{"event_id":"%d","occurred_at":"2026-03-01T12:00:00.000001Z","source_position":%d,"order":{"id":"42","customer_id":"c-1","channel":"retail","status":"accepted","currency":"USD","items":[{"sku":"CLN-1001","name":"Glass cleaner","quantity":2,"unit_price":"4.50"}],"total":"9.00","shipping_address":{"line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"},"notes":null,"created_at":"2026-03-01T12:00:00.000001Z","updated_at":"2026-03-01T12:00:00.000001Z","version":1}}`
			entries := make([]types.PutEventsRequestEntry, 10)
			for i := range entries {
				entries[i] = types.PutEventsRequestEntry{Source: aws.String("com.anycompany.orders"), DetailType: aws.String("OrderCreated"),
					Detail: aws.String(fmt.Sprintf(detail, i, i))}
			}
			b.SetParallelism(4)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					out, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
					if err != nil || out.FailedEntryCount != 0 {
						b.Errorf("PutEvents: %v", err)
						return
					}
				}
			})
			for srv.Pending() > 0 { // count delivery too: the rule's queue must drain
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/el, "calls/s")
			b.ReportMetric(float64(b.N*len(entries))/el, "events/s")
		})
	}
}

// BenchmarkDeliveryLatency measures the time from a PutEvents call (one
// event, through the SDK) to the event's arrival at an HTTP target, one
// call at a time: the bus's share of the end-to-end lag.
//
//	go test -run '^$' -bench DeliveryLatency -benchtime 3000x ./devstack/eventbus/
func BenchmarkDeliveryLatency(b *testing.B) {
	arrived := make(chan time.Time, 1)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- time.Now()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	cfg := eventbus.DefaultConfig()
	cfg.ArchivePath = filepath.Join(b.TempDir(), "archive.jsonl")
	cfg.DeadLetterPath = filepath.Join(b.TempDir(), "dead.jsonl")
	cfg.Rules = []eventbus.RuleConfig{{Name: "all", Pattern: `{"source":["com.anycompany.orders"]}`,
		Targets: []eventbus.TargetConfig{{Name: "sink", URL: sink.URL}}}}
	srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	b.Setenv("AWS_ACCESS_KEY_ID", "bench")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "bench")
	client, err := awsconf.Local("http://" + ln.Addr().String()).EventBridge(ctx)
	if err != nil {
		b.Fatal(err)
	}
	in := &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		Source: aws.String("com.anycompany.orders"), DetailType: aws.String("OrderCreated"), Detail: aws.String(`{"event_id":"1"}`)}}}
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		sent := time.Now()
		if _, err := client.PutEvents(ctx, in); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-arrived).Sub(sent))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}
