package eventbus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/anycompany/strangler/devstack/eventbus"
	"github.com/anycompany/strangler/internal/awsconf"
)

const testToken = "test-admin-token"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }

// sleeps records the backoffs the bus waited out, without waiting.
type sleeps struct {
	mu  sync.Mutex
	got []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.got = append(s.got, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.got...)
}

// bus is one Server serving on a loopback port, with its files in a
// temporary folder and an SDK client.
type bus struct {
	srv    *eventbus.Server
	cfg    eventbus.Config
	url    string
	sdk    *eventbridge.Client
	clock  *clock
	sleeps *sleeps
}

// seqIDs returns ids "ev-1", "ev-2", … for deterministic assertions.
func seqIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("ev-%d", n.Add(1)) }
}

func newBus(t *testing.T, mutate func(*eventbus.Config), opts ...eventbus.Option) *bus {
	t.Helper()
	dir := t.TempDir()
	cfg := eventbus.DefaultConfig()
	cfg.AdminToken = testToken
	cfg.ArchivePath = filepath.Join(dir, "archive.jsonl")
	cfg.DeadLetterPath = filepath.Join(dir, "dead-letters.jsonl")
	cfg.Seed = 1
	cfg.ShutdownTimeout = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	b := &bus{cfg: cfg, clock: newClock(t0), sleeps: &sleeps{}}
	opts = append([]eventbus.Option{
		eventbus.WithClock(b.clock.now), eventbus.WithSleep(b.sleeps.sleep), eventbus.WithEventIDs(seqIDs()),
	}, opts...)
	srv, err := eventbus.New(cfg, slog.New(slog.DiscardHandler), opts...)
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	b.srv = srv
	b.url = "http://" + ln.Addr().String()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	b.sdk, err = awsconf.Local(b.url).EventBridge(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noRetry makes one SDK call a single attempt, so injected errors surface.
func noRetry(o *eventbridge.Options) { o.RetryMaxAttempts = 1 }

// raw posts body to the bus's AWS endpoint with the given target and
// returns the status and body.
func (b *bus) raw(t *testing.T, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	return do(t, req)
}

// admin calls the admin API with the token.
func (b *bus) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// waitIdle waits until every queued event was delivered or dead-lettered.
func (b *bus) waitIdle(t *testing.T) {
	t.Helper()
	waitFor(t, "queues to drain", func() bool { return b.srv.Pending() == 0 })
}

// waitFor polls cond every millisecond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readJSONL decodes every line of path into a T.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// target is an httptest server recording what it receives, answering
// with the statuses of script in turn (then 200).
type target struct {
	*httptest.Server
	mu       sync.Mutex
	got      []eventbus.Envelope
	attempts atomic.Int64
	script   []int
}

func newTarget(t *testing.T, script ...int) *target { return newGatedTarget(t, nil, script...) }

// newGatedTarget is newTarget whose answers wait for gate to close (nil: no wait).
func newGatedTarget(t *testing.T, gate <-chan struct{}, script ...int) *target {
	tg := &target{script: script}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(tg.attempts.Add(1))
		if gate != nil {
			<-gate
		}
		if n <= len(tg.script) && tg.script[n-1] != http.StatusOK {
			http.Error(w, "scripted failure", tg.script[n-1])
			return
		}
		var env eventbus.Envelope
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tg.mu.Lock()
		tg.got = append(tg.got, env)
		tg.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) received() []eventbus.Envelope {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]eventbus.Envelope(nil), tg.got...)
}
