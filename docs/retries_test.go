package docs_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anycompany/strangler/cdc"
	"github.com/anycompany/strangler/internal/retry"
	"github.com/anycompany/strangler/orders"
	"github.com/anycompany/strangler/orders/relay"
)

var update = flag.Bool("update", false, "rewrite the table of retries.md from the code's settings")

// layer is one loop that retries, with the attempts it makes and the
// longest it waits between them.
type layer struct {
	name string
	p    retry.Policy
}

// path is one way a call takes, its layers innermost (the SDK) first.
type path struct {
	name, calls string
	layers      []layer
	then        string
}

// worst is a path's attempts and waits when every attempt fails
// retryably: each layer repeats everything under it.
func (p path) worst() (attempts int, wait time.Duration) {
	attempts = 1
	for _, l := range p.layers {
		attempts *= l.p.MaxAttempts
		wait = time.Duration(l.p.MaxAttempts)*wait + l.p.WorstWait()
	}
	return attempts, wait
}

func paths(t *testing.T) []path {
	t.Helper()
	cdcCfg, relayCfg, ordersCfg := cdc.DefaultConfig(), relay.DefaultConfig(), orders.DefaultConfig()
	// The code's policies carry the parts' defaults; the table holds only
	// while they agree.
	batch, cdcEvents, relayEvents, races := retry.Batches(), retry.Events(), retry.Events(), retry.Races()
	batch.MaxAttempts = cdcCfg.Apply.Retries + 1
	cdcEvents.MaxAttempts, relayEvents.MaxAttempts = cdcCfg.Events.MaxAttempts, relayCfg.Events.MaxAttempts
	races.MaxAttempts = ordersCfg.TransactAttempts
	for _, c := range []struct {
		name       string
		part, code int
	}{
		{"cdc apply.retries+1", batch.MaxAttempts, retry.Batches().MaxAttempts},
		{"cdc events.max_attempts", cdcEvents.MaxAttempts, retry.Events().MaxAttempts},
		{"relay events.max_attempts", relayEvents.MaxAttempts, retry.Events().MaxAttempts},
		{"orders transact_attempts", races.MaxAttempts, retry.Races().MaxAttempts},
	} {
		if c.part != c.code {
			t.Errorf("%s defaults to %d attempts, its retry policy to %d", c.name, c.part, c.code)
		}
	}
	sdk, once, ddb := layer{"SDK", retry.SDK()}, layer{"SDK", retry.Policy{MaxAttempts: 1}}, layer{"guard", retry.DynamoDB()}
	cdcBatch := layer{"cdc batch", batch}
	return []path{
		{"backfill write", "BatchWriteItem / TransactWriteItems / PutItem", []layer{once, ddb}, "the chunk fails and the backfill stops; a rerun resumes at the chunks not done"},
		{"cdc item write", "TransactWriteItems / PutItem / BatchWriteItem", []layer{once, ddb, cdcBatch}, "the cdc stops; a restart replays from the checkpoint"},
		{"cdc event publish", "PutEvents", []layer{once, {"publisher", cdcEvents}, cdcBatch}, "the cdc stops; a restart replays from the checkpoint"},
		{"cdc dead letters (prepare)", "control table PutItem", []layer{sdk, cdcBatch}, "the cdc stops"},
		{"cdc lease acquire / renew", "control table PutItem", []layer{sdk}, "renewal tries again every lease.ttl/3 until the lease runs out; then the leader stops writing"},
		{"cdc checkpoint save", "control table TransactWriteItems", []layer{sdk}, "the leader's term ends with the error (the cdc stops)"},
		{"relay publish", "PutEvents", []layer{once, {"publisher", relayEvents}}, "the pass fails; the shard is read again after a pause (poll.min_interval doubling to poll.error_backoff), without end"},
		{"relay delete", "BatchWriteItem", []layer{once, {"relay", retry.DynamoDB()}}, "as relay publish (the page is published again: at least once)"},
		{"relay outbox read, shard lease", "Query / PutItem", []layer{sdk}, "as relay publish"},
		{"orders service write", "TransactWriteItems", []layer{sdk, {"lost races", races}}, "503 Busy (a lost race) or 500; the client retries with its Idempotency-Key"},
		{"orders service read", "GetItem / Query", []layer{sdk}, "500"},
		{"proxy control table (routes, pins, plans)", "GetItem / PutItem / Query / TransactWriteItems", []layer{sdk}, "past idempotency.pin_budget the request goes by its sticky bucket unpinned (fail open); an admin call fails; plans retry on the next tick"},
		{"backfill jobs, chunk leases", "control table UpdateItem / PutItem / Query", []layer{sdk}, "the backfill stops; a rerun resumes"},
		{"verify reads", "BatchGetItem", []layer{once, {"verify", retry.DynamoDB()}}, "verify fails"},
	}
}

func table(ps []path) string {
	var b strings.Builder
	b.WriteString("| Path | Calls | Layers (attempts each) | Worst-case attempts | Waits before giving up | Then |\n")
	b.WriteString("|---|---|---|---:|---:|---|\n")
	for _, p := range ps {
		var ls []string
		for _, l := range p.layers {
			ls = append(ls, fmt.Sprintf("%s %d", l.name, l.p.MaxAttempts))
		}
		n, w := p.worst()
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %v | %s |\n", p.name, p.calls, strings.Join(ls, " × "), n, w, p.then)
	}
	return b.String()
}

const (
	begin = "<!-- begin table: generated from the code by TestRetriesTable (go test ./docs -update) -->\n"
	end   = "<!-- end table -->\n"
)

// TestRetriesTable checks the table of retries.md against the policies
// and the parts' defaults; -update rewrites it.
func TestRetriesTable(t *testing.T) {
	doc, err := os.ReadFile("retries.md")
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("retries.md has no %q ... %q section", begin, end)
	}
	want := table(paths(t))
	if got := string(doc[i+len(begin) : j]); got != want {
		if *update {
			out := string(doc[:i+len(begin)]) + want + string(doc[j:])
			if err := os.WriteFile("retries.md", []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("retries.md's table is not the code's (go test ./docs -update rewrites it); want:\n%s", want)
	}
}

// TestWorstCase pins the arithmetic the table rests on.
func TestWorstCase(t *testing.T) {
	p := path{layers: []layer{
		{"SDK", retry.Policy{MaxAttempts: 3, Base: time.Second, Cap: time.Minute}},      // waits 1+2 s
		{"outer", retry.Policy{MaxAttempts: 2, Base: 10 * time.Second, Cap: time.Hour}}, // waits 10 s
	}}
	if n, w := p.worst(); n != 6 || w != 16*time.Second {
		t.Errorf("worst = %d attempts, %v; want 6 and 16s (3 s twice, and 10 s between)", n, w)
	}
}
