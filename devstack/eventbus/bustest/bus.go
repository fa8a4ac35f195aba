// Package bustest runs the devstack's EventBridge-compatible bus in the
// test process, on a loopback port of its own, so a test can inject faults
// into it without disturbing others and read back what it accepted. Code
// under test reaches it over the wire, through the AWS SDK, as it would the
// real service.
package bustest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
)

// Bus is a running bus.
type Bus struct {
	URL     string
	Server  *eventbus.Server
	SDK     *eventbridge.Client
	archive string
}

// Event is one accepted event as archived.
type Event struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// Start runs a bus until the test ends. mutate may change its config
// (faults, rules) before it starts.
func Start(t testing.TB, mutate func(*eventbus.Config)) *Bus {
	t.Helper()
	dir := t.TempDir()
	cfg := eventbus.DefaultConfig()
	cfg.ArchivePath = filepath.Join(dir, "archive.jsonl")
	cfg.DeadLetterPath = filepath.Join(dir, "dead-letters.jsonl")
	cfg.ShutdownTimeout = time.Second
	cfg.Seed = 7
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("starting the bus: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	b := &Bus{URL: "http://" + ln.Addr().String(), Server: srv, archive: cfg.ArchivePath}
	b.SDK, err = awsconf.Local(b.URL).EventBridge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Accepted returns every event the bus accepted, in acceptance order.
func (b *Bus) Accepted(t testing.TB) []Event {
	t.Helper()
	var out []Event
	err := eventbus.ReadArchive(b.archive, func(r eventbus.ArchiveRecord) error {
		var e Event
		if err := json.Unmarshal(r.Event, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatalf("reading the bus archive: %v", err)
	}
	return out
}
