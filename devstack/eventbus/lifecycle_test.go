package eventbus_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/config"
)

// TestShutdownDeadLettersWhatIsNotDelivered proves nothing is dropped at
// shutdown: the event in a retry wait and the events still queued all land
// in the dead-letter file once the drain time is up.
func TestShutdownDeadLettersWhatIsNotDelivered(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	dir := t.TempDir()
	cfg := eventbus.DefaultConfig()
	cfg.ArchivePath = filepath.Join(dir, "archive.jsonl")
	cfg.DeadLetterPath = filepath.Join(dir, "dead.jsonl")
	cfg.ShutdownTimeout = 20 * time.Millisecond
	cfg.Rules = []eventbus.RuleConfig{rule("r", ordersPattern, eventbus.TargetConfig{Name: "down", URL: down.URL, MaxAttempts: 100, Concurrency: 1})}
	waiting := make(chan struct{}, 1)
	blockUntilStopped := func(ctx context.Context, _ time.Duration) error {
		select {
		case waiting <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler), eventbus.WithSleep(blockUntilStopped), eventbus.WithEventIDs(seqIDs()))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	body := `{"Entries":[` + strings.Repeat(`{"Source":"com.anycompany.orders","DetailType":"OrderCreated","Detail":"{}"},`, 2) +
		`{"Source":"com.anycompany.orders","DetailType":"OrderCreated","Detail":"{}"}]}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+ln.Addr().String()+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
	if code, out := do(t, req); code != 200 || strings.Contains(out, "ErrorCode") {
		t.Fatalf("PutEvents: %d %s", code, out)
	}
	<-waiting // the first event failed once and waits to retry; two are queued
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}

	dls := readJSONL[eventbus.DeadLetter](t, cfg.DeadLetterPath)
	if len(dls) != 3 {
		t.Fatalf("%d dead letters, want 3: %+v", len(dls), dls)
	}
	if dls[0].Attempts != 1 || !strings.Contains(dls[0].Reason, "503") || !strings.Contains(dls[0].Reason, "stopped") {
		t.Errorf("in-flight event: %+v", dls[0])
	}
	for _, dl := range dls[1:] {
		if dl.Attempts != 0 || !strings.Contains(dl.Reason, "stopped before delivery") {
			t.Errorf("queued event: %+v", dl)
		}
	}
	if st := srv.Stats().Rules["r"].Targets["down"]; st.DeadLettered != 3 || st.Delivered != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestConfigFileWithRules loads rules from YAML the way the command does:
// durations parse, defaults fill in, and an unsupported pattern is refused
// naming the rule.
func TestConfigFileWithRules(t *testing.T) {
	write := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "eventbus.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write(`
rules:
  - name: orders
    pattern: '{"source": ["com.anycompany.orders"], "detail": {"order": {"channel": [{"equals-ignore-case": "Retail"}]}}}'
    targets:
      - url: http://127.0.0.1:8091/events
        timeout: 250ms
        max_attempts: 3
`)
	cfg := eventbus.DefaultConfig()
	cfg.AdminToken = testToken
	if err := config.Load(config.Source{Part: "eventbus", File: good}, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules) != 1 || cfg.Rules[0].Targets[0].Timeout != 250*time.Millisecond || cfg.Rules[0].Targets[0].MaxAttempts != 3 {
		t.Errorf("rules: %+v", cfg.Rules)
	}
	if !strings.Contains(cfg.Rules[0].Pattern, `"Retail"`) {
		t.Errorf("the pattern lost its case: %s", cfg.Rules[0].Pattern)
	}

	bad := write(`
rules:
  - name: big-orders
    pattern: '{"detail": {"total": [{"numeric": [">", 100]}]}}'
    targets: [{url: "http://127.0.0.1:8091/events"}]
  - name: no-targets
    pattern: '{"source": ["x"]}'
`)
	cfg = eventbus.DefaultConfig()
	cfg.AdminToken = testToken
	err := config.Load(config.Source{Part: "eventbus", File: bad}, &cfg)
	if !config.IsConfigError(err) || !errors.Is(err, eventbus.ErrUnsupportedPattern) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`rule "big-orders"`, `"rules[1].targets"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}
